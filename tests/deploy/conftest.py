"""One production topology per test session, started from deploy/ on loopback.

PostgreSQL, two clustered Keycloak nodes, Redis, two sidecars under gunicorn and nginx
with TLS (``idp_extension.prodlike``). Tests reach it only as users would: HTTPS through
the proxy (the proxy's self-signed certificate is the trusted CA), plus the internal
admin listener for the counts state IT would take.
"""

from __future__ import annotations

import pytest

from idp_extension.keycloak_server import free_port
from idp_extension.mail.inbox import MailInbox
from idp_extension.prodlike.topology import Topology
from idp_extension.settings import load_settings
from tests.deploy.support import CALLBACK, Production


@pytest.fixture(scope="session")
def production(tmp_path_factory) -> Production:
    inbox = MailInbox(port=free_port()).start()
    topology = Topology(load_settings(), tmp_path_factory.mktemp("prod-like"),
                        smtp_port=inbox.port, extra_redirect_uris=(CALLBACK,), demo_portal=True)
    topology.up()
    try:
        yield Production(topology, inbox)
    finally:
        topology.down()
        inbox.stop()
