"""``ispeks-idp users import`` against the real Keycloak (realm kelantan, IDs of its own)."""

from __future__ import annotations

import csv
import getpass
import json
from dataclasses import replace

import pytest
from click.testing import CliRunner

from idp_extension.cli import main
from idp_extension.demo_users import synthetic_people
from idp_extension.gateway.bulk_users import pending_representation
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.users import ACTIVATION_STATE, ACTIVE, UserDirectory
from idp_extension.passwords import random_password
from idp_extension.tenants import load_tenant
from tests.support.oidc_login import decode_jwt_claims, login

STATE = "kelantan"
HEADER = ["id", "name", "email", "department", "registration_date"]
WRONG = "Salah-Kata-Laluan1"


@pytest.fixture(scope="module")
def tenant(settings):
    return load_tenant(settings.realm_templates_dir, STATE)


@pytest.fixture()
def directory(provisioned_realms, settings):
    return UserDirectory(bootstrap_admin(settings), STATE)


@pytest.fixture()
def audited(settings, tmp_path):
    return settings.with_overrides(audit_log_path=tmp_path / "audit.jsonl")


def row(record, *, dashes=False, manual_date=False, **changes) -> list[str]:
    record = replace(record, **changes)
    user_id = record.user_id
    if dashes:
        user_id = f"{user_id[:6]}-{user_id[6:8]}-{user_id[8:]}"
    when = (record.registration_date.strftime("%d/%m/%Y %I:%M:%S %p") if manual_date
            else record.registration_date.isoformat(timespec="seconds"))
    return [user_id, record.name, record.email, record.department, when]


def write_csv(path, rows) -> str:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return str(path)


def run_import(settings, path):
    return CliRunner().invoke(main, ["users", "import", "--state", STATE, path], obj=settings,
                              catch_exceptions=False)


def events(settings) -> list[dict]:
    return [json.loads(line) for line in settings.audit_log_path.read_text().splitlines()]


def test_import_creates_updates_rejects_and_a_second_run_changes_nothing(
    audited, tenant, directory, tmp_path
):
    people = synthetic_people(tenant, 7, seed="import-mixed")
    changed, same, new_a, new_b, shared, dup, _ = people
    directory.register_pending(changed)
    directory.register_pending(same)
    rows = [
        row(changed, name="NAMA BAHARU", department="Jabatan Pertanian"),  # 2: updated
        row(same, dashes=True),                                            # 3: unchanged
        row(new_a, manual_date=True),                                      # 4: created
        row(new_b, dashes=True),                                           # 5: created
        row(shared, email=new_b.email),                                    # 6: shared mailbox
        ["12345", "ID PENDEK", "pendek@kelantan.gov.my", "Jabatan", "2026-01-05"],  # 7
        row(people[6], email="peribadi@gmail.com"),                        # 8: outside domain
        row(people[6], name=""),                                           # 9: no name (+dup)
        row(dup),                                                          # 10: duplicate
        row(dup, email="lain@kelantan.gov.my"),                            # 11: duplicate
    ]
    path = write_csv(tmp_path / "payroll.csv", rows)

    first = run_import(audited, path)

    assert first.exit_code == 3, first.output
    assert "kelantan: created 3, updated 1, unchanged 1, rejected 5" in first.output
    for line in (7, 8, 9, 10, 11):
        assert f"line {line} (" in first.output
    assert "line 7 (12345): malformed ID" in first.output
    assert "outside kelantan's domains" in first.output
    assert f"line 10 ({dup.user_id}): duplicate ID {dup.user_id}: also on line 11" in first.output
    assert directory.find(dup.user_id) is None  # neither line of a duplicate is taken
    assert directory.find(people[6].user_id) is None

    created = directory.find(new_a.user_id)
    assert (created.name, created.email, created.enabled) == (new_a.name, new_a.email, True)
    assert created.activation_state == "pending"
    assert created.department == new_a.department
    assert created.registration_date == new_a.registration_date.isoformat(timespec="seconds")
    assert directory.find(shared.user_id).email == new_b.email
    updated = directory.find(changed.user_id)
    assert (updated.name, updated.department) == ("NAMA BAHARU", "Jabatan Pertanian")
    assert updated.activation_state == "pending"

    second = run_import(audited, path)

    assert second.exit_code == 3, second.output
    assert "kelantan: created 0, updated 0, unchanged 5, rejected 5" in second.output
    imports = [e for e in events(audited) if e["event"] == "users:imported"]
    assert [(e["details"]["created"], e["details"]["updated"]) for e in imports] == [(3, 1), (0, 0)]
    assert imports[0]["details"]["changed_fields"] == {"name": 1, "department": 1}
    assert imports[0]["details"]["actor"] == getpass.getuser()
    assert imports[0]["details"]["client"] == "ispeks-state-it"
    assert not any(p.user_id in json.dumps(imports) for p in people)


def test_a_clean_file_exits_zero_and_a_dry_run_writes_nothing(audited, tenant, directory, tmp_path):
    people = synthetic_people(tenant, 2, seed="import-clean")
    path = write_csv(tmp_path / "payroll.csv", [row(p) for p in people])

    dry = CliRunner().invoke(main, ["users", "import", "--state", STATE, "--dry-run", path],
                             obj=audited, catch_exceptions=False)

    assert dry.exit_code == 0, dry.output
    assert "would be created 2" in dry.output
    assert all(directory.find(p.user_id) is None for p in people)

    real = run_import(audited, path)

    assert real.exit_code == 0, real.output
    assert "kelantan: created 2, updated 0, unchanged 0, rejected 0" in real.output
    assert all(directory.find(p.user_id) for p in people)


def test_reimport_keeps_the_password_the_sidecar_attributes_and_everyone_absent(
    audited, settings, tenant, directory, tmp_path
):
    person, absent = synthetic_people(tenant, 2, seed="import-keeps")
    write = lambda name, rows: write_csv(tmp_path / name, rows)  # noqa: E731
    assert run_import(audited, write("first.csv", [row(person), row(absent)])).exit_code == 0
    user = directory.find(person.user_id)
    password = random_password()
    directory.set_password(user.id, password)
    answers = json.dumps([{"q": "mother_name", "h": "$argon2id$v=19$m=65536,t=3,p=4$abc$def"}])
    directory.update_attributes(user.id, {ACTIVATION_STATE: [ACTIVE],
                                          "ispeks_security_answers": [answers]})

    result = run_import(audited, write("second.csv", [
        row(person, name="AMINAH BINTI BAHARU", department="Jabatan Kerja Raya",
            email=f"baharu.{person.email}")]))

    assert result.exit_code == 0, result.output
    assert "created 0, updated 1, unchanged 0" in result.output
    outcome = login(settings.keycloak_url, STATE, person.user_id, password)
    assert outcome.status == 302, outcome.error
    claims = decode_jwt_claims(outcome.tokens["id_token"])
    assert claims["name"] == "AMINAH BINTI BAHARU"
    assert claims["email"] == f"baharu.{person.email}"
    after = directory.find(person.user_id)
    assert after.activation_state == ACTIVE
    assert after.attributes["ispeks_security_answers"] == [answers]
    assert after.department == "Jabatan Kerja Raya"
    assert directory.find(absent.user_id) is not None  # not in the second file, not deleted


def test_names_with_a_slash_are_imported_and_survive_later_updates(
    audited, settings, tenant, directory, tmp_path
):
    person, other = synthetic_people(tenant, 2, seed="import-slash")
    slashed = "RAJU A/L MUTHUSAMY"
    path = write_csv(tmp_path / "payroll.csv", [row(person, name=slashed)])

    assert run_import(audited, path).exit_code == 0
    user = directory.find(person.user_id)
    # A full, validated update (what activation does): the profile's name rule passes.
    directory.update_attributes(user.id, {ACTIVATION_STATE: [ACTIVE]})
    assert (directory.get(user.id).name, directory.get(user.id).activation_state) == (
        slashed, ACTIVE)
    # ... and still refuses what Keycloak's own person-name rule refuses.
    admin = bootstrap_admin(settings, STATE)
    directory.register_pending(other)
    refused = directory.find(other.user_id)
    with pytest.raises(Exception, match="error-person-name-invalid-character"):
        admin.update_user(refused.id, {"firstName": "ALI <script>", "email": other.email})


def _credential_data(settings, uuid: str) -> dict:
    admin = bootstrap_admin(settings, STATE)
    (credential,) = admin.get_credentials(uuid)
    assert credential["type"] == "password"
    return json.loads(credential["credentialData"])


def test_an_imported_user_has_a_password_hashed_like_keycloaks_own(
    audited, settings, tenant, directory, tmp_path
):
    imported, registered = synthetic_people(tenant, 2, seed="import-hash")
    assert run_import(audited, write_csv(tmp_path / "p.csv", [row(imported)])).exit_code == 0
    directory.register_pending(registered)  # Keycloak hashes a real random password

    ours = _credential_data(settings, directory.find(imported.user_id).id)
    keycloaks = _credential_data(settings, directory.find(registered.user_id).id)

    # Same algorithm and cost: a login attempt is checked just as slowly.
    assert ours == keycloaks


def test_a_wrong_password_for_an_imported_user_gets_the_same_answer_as_for_a_registered_one(
    audited, settings, tenant, directory, tmp_path
):
    """Same answer for imported, registered and credential-less users.

    Equal time is shown elsewhere: the imported hash has Keycloak's own algorithm and cost
    (above), and the login form spends one hash for every kind of ID, credential-less
    ones included (tests/integration/test_login.py, Mann-Whitney over interleaved tries).
    """
    imported, registered, bare = synthetic_people(tenant, 3, seed="import-timing")
    assert run_import(audited, write_csv(tmp_path / "p.csv", [row(imported)])).exit_code == 0
    directory.register_pending(registered)
    no_credential = {k: v for k, v in pending_representation(bare).items() if k != "credentials"}
    bootstrap_admin(settings, STATE).create_user(no_credential)
    users = {"imported": directory.find(imported.user_id),
             "registered": directory.find(registered.user_id),
             "no_credential": directory.find(bare.user_id)}
    answers = {kind: login(settings.keycloak_url, STATE, u.user_id, WRONG)
               for kind, u in users.items()}
    assert len({(a.status, a.error) for a in answers.values()}) == 1, answers
