"""The backup and restore drill of deploy/README.md: pg_dump the live database, restore
it into a fresh one made by create-database.sh, start a Keycloak on it, and a user signs
in with their password; their phrase, picture and answers are intact."""

from __future__ import annotations

import secrets

import pytest

from idp_extension.flows.answers import ANSWERS_ATTRIBUTE
from idp_extension.flows.site_key import IMAGE_ATTRIBUTE, PHRASE_ATTRIBUTE
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.users import UserDirectory
from idp_extension.prodlike.topology import DB_NAME, DB_USER
from tests.deploy.support import PASSWORD, Production
from tests.support.oidc_login import login

# The session's topology starts within the first test's time: PostgreSQL, a Keycloak
# build and two nodes take minutes on a loaded 2-core machine.
pytestmark = pytest.mark.timeout(900)

KEPT = (PHRASE_ATTRIBUTE, IMAGE_ATTRIBUTE, ANSWERS_ATTRIBUTE)


def test_a_dump_restored_into_a_fresh_database_serves_the_same_users(production: Production,
                                                                     tmp_path):
    topology = production.topology
    [record] = production.active_users("selangor", "deploy:drill", 1)
    directory = production.directory("selangor")
    user = directory.find(record.user_id)
    directory.update_attributes(user.id, {
        PHRASE_ATTRIBUTE: ["Bunga Raya di Taman Larangan"], IMAGE_ATTRIBUTE: ["hibiscus"],
        ANSWERS_ATTRIBUTE: ['[{"q": "first_car", "h": "$argon2id$v=19$synthetic"}]']})
    before = {key: directory.find(record.user_id).attributes[key] for key in KEPT}

    dump = tmp_path / "keycloak.dump"
    topology.postgres.dump_to(DB_NAME, dump)
    restored = "keycloak_restore"
    topology.postgres.create_database(restored, DB_USER, topology.db_password)
    topology.postgres.restore(dump, restored, DB_USER)
    # The copy remembers the live cluster's members: forget them, or the drill's node
    # would join the live cluster (README: "restore next to a running cluster").
    topology.postgres.psql(restored, "DELETE FROM jgroups_ping")

    node = topology.new_node(topology.nodes[0].home, 3, db_url=f"jdbc:postgresql://127.0.0.1:{topology.postgres.port}/{restored}")
    node.hostname = f"http://127.0.0.1:{node.http_port}"
    node.start()
    try:
        assert node.cluster_size() in (0, 1)  # alone
        outcome = login(node.hostname, "selangor", record.user_id, PASSWORD)
        assert outcome.status == 302, outcome.error
        drill = production.settings.with_overrides(keycloak_url=node.hostname, keycloak_admin_url="")
        after = UserDirectory(bootstrap_admin(drill), "selangor").find(record.user_id)
        assert {key: after.attributes[key] for key in KEPT} == before
        # The live cluster still has two members: the drill's node stayed apart.
        assert [n.cluster_size() for n in topology.nodes] == [2, 2]
        assert secrets.compare_digest(after.id, user.id)
    finally:
        node.stop()
