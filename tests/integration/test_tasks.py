"""Pengurusan Tugas against the real Keycloak: roles applied, tokens, CLI, import."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from idp_extension.cli import main
from idp_extension.demo_users import synthetic_people
from idp_extension.gateway.connection import bootstrap_admin, state_it_admin
from idp_extension.gateway.oidc import OidcClient, OidcError, tasks_of, totp_required
from idp_extension.gateway.tasks import TaskRoles
from idp_extension.gateway.users import ACTIVATION_STATE, ACTIVE, UserDirectory
from idp_extension.passwords import random_password
from idp_extension.realms.apply import apply_realm
from idp_extension.tenants import load_tenant, load_values
from tests.support.oidc_login import login
from tests.support.stack import OIDC_TEST_CALLBACK
from tests.support.totp_login import StepLogin, authenticator, next_unused_code

STATES = ("pahang", "kelantan", "selangor", "melaka")


def _run(settings, *args):
    return CliRunner().invoke(main, list(args), obj=settings, catch_exceptions=False)


def _events(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _people(settings, state: str, count: int, seed: str, *, active: bool = False):
    """Register ``count`` synthetic users; return (record, uuid, password) each."""
    tenant = load_tenant(settings.realm_templates_dir, state)
    directory = UserDirectory(bootstrap_admin(settings), state)
    made = []
    for record in synthetic_people(tenant, count, seed=seed):
        user, _ = directory.register_pending(record)
        password = None
        if active:
            password = random_password()
            directory.set_password(user.id, password)
            directory.update_attributes(user.id, {ACTIVATION_STATE: [ACTIVE]})
        made.append((record, user.id, password))
    return made


def _direct(settings, state: str, uuid: str) -> set[str]:
    return TaskRoles(bootstrap_admin(settings), state).direct(uuid)


def test_apply_makes_the_contracts_roles_and_a_second_apply_changes_nothing(provisioned_realms):
    settings = provisioned_realms
    kc = bootstrap_admin(settings, "pahang")
    kc.change_current_realm("pahang")
    client = kc.get_client_id("ispeks-tugas")
    roles = {r["name"]: r for r in kc.get_client_roles(client, brief_representation=False)}

    assert {"totp-wajib", "pentadbir-sistem", "meja-bantuan", "ac:penyedia", "ac:penyemak",
            "ac:pelulus", "proc:pelulus", "py:pelulus", "sl:pelulus", "aim:pelulus"} <= set(roles)
    assert roles["ac:pelulus"]["attributes"]["name_ms"] == [
        "Permohonan Tuntutan Pendahuluan - Pelulus"]
    assert roles["ac:pelulus"]["attributes"]["name_en"] == ["Advance Claim Application - Approver"]
    for name, role in roles.items():
        composites = ({r["name"] for r in kc.get_composite_client_roles_of_role(client, name)}
                      if role.get("composite") else set())
        wants_totp = name.endswith(":pelulus") or name in ("pentadbir-sistem", "meja-bantuan")
        assert composites == ({"totp-wajib"} if wants_totp else set()), name

    # Drift is put back, and then nothing is left to do.
    kc.update_client_role(client, "ac:penyedia", {"name": "ac:penyedia", "description": "x",
                                                  "attributes": {}})
    kc.remove_composite_client_roles_from_role(client, "ac:pelulus",
                                               [kc.get_client_role(client, "totp-wajib")])
    fixed = apply_realm(settings, "pahang")
    assert {c.path for c in fixed.changes} == {"roles.ispeks-tugas.ac:penyedia",
                                               "roles.ispeks-tugas.ac:pelulus.composites"}
    assert apply_realm(settings, "pahang").summary() == "no changes"


@pytest.mark.parametrize("state", STATES)
def test_every_portal_client_carries_the_tasks_in_id_and_access_tokens(provisioned_realms, state):
    settings = provisioned_realms
    ((record, uuid, password),) = _people(settings, state, 1, f"tasks-token-{state}", active=True)
    TaskRoles(state_it_admin(settings, state), state).grant(uuid, ["ac:pelulus", "py:penyedia"])
    portals = [p["client_id"] for p in load_values(settings.realm_templates_dir, state)
               ["portal_clients"]]
    assert portals

    # An approver enrols an authenticator app at the first login (issue 12, TOTP); the
    # other portals are reached inside the same Keycloak session.
    first = StepLogin(settings.keycloak_url, state, client_id=portals[0],
                      redirect_uri=OIDC_TEST_CALLBACK)
    assert first.start().asks_password
    page = first.password(record.user_id, password)
    assert page.asks_enrolment, page.error or page.body[:400]
    done = first.enrol(next_unused_code(authenticator(page.totp_key()), set()))
    assert done.done and done.tokens, done.error or done.body[:400]

    for client_id in portals:
        if client_id == portals[0]:
            tokens = done.tokens
        else:
            again = StepLogin(settings.keycloak_url, state, client_id=client_id,
                              redirect_uri=OIDC_TEST_CALLBACK)
            again.session = first.session
            step = again.start()
            assert step.done and step.tokens, step.error or step.body[:400]
            tokens = step.tokens
        kit = OidcClient(settings.keycloak_url, state, client_id)
        id_claims = kit.verify_id_token(tokens["id_token"], nonce=None)
        access_claims = kit.verify_access_token(tokens["access_token"])
        for claims in (id_claims, access_claims):
            assert sorted(claims["tugas"]) == ["ac:pelulus", "py:penyedia", "totp-wajib"]
            assert tasks_of(claims) == ("ac:pelulus", "py:penyedia")
            assert totp_required(claims) is True


def test_a_token_of_one_state_never_validates_for_another_states_portal(provisioned_realms):
    settings = provisioned_realms
    ((record, uuid, password),) = _people(settings, "pahang", 1, "tasks-cross", active=True)
    TaskRoles(state_it_admin(settings, "pahang"), "pahang").grant(uuid, ["sl:penyedia"])
    outcome = login(settings.keycloak_url, "pahang", record.user_id, password)
    assert outcome.status == 302, outcome.error
    own = OidcClient(settings.keycloak_url, "pahang", "portal-ispeks")
    assert tasks_of(own.verify_access_token(outcome.tokens["access_token"])) == ("sl:penyedia",)
    assert totp_required(own.verify_id_token(outcome.tokens["id_token"], nonce=None)) is False

    for other in ("kelantan", "selangor", "melaka"):
        kit = OidcClient(settings.keycloak_url, other, "portal-ispeks")
        with pytest.raises(OidcError):
            kit.verify_access_token(outcome.tokens["access_token"])
        with pytest.raises(OidcError):
            kit.verify_id_token(outcome.tokens["id_token"], nonce=None)


def test_cli_assigns_shows_refuses_a_segregation_conflict_and_revokes(
    provisioned_realms, tmp_path
):
    settings = provisioned_realms.with_overrides(audit_log_path=tmp_path / "audit.jsonl")
    ((record, uuid, _),) = _people(settings, "kelantan", 1, "tasks-cli")
    user_id = record.user_id

    granted = _run(settings, "users", "assign", "--state", "kelantan", user_id, "AC", "Penyedia",
                   "--actor", "Pegawai IT Ujian")
    assert granted.exit_code == 0, granted.output
    assert _run(settings, "users", "assign", "--state", "kelantan", user_id, "pentadbir-sistem",
                "--actor", "Pegawai IT Ujian").exit_code == 0
    assert _direct(settings, "kelantan", uuid) == {"ac:penyedia", "pentadbir-sistem"}

    refused = _run(settings, "users", "assign", "--state", "kelantan", user_id, "ac", "pelulus",
                   "--actor", "Pegawai IT Ujian")

    assert refused.exit_code == 1
    assert "Ditolak" in refused.output and "Refused" in refused.output
    assert "Penyedia dan Pelulus" in refused.output and "Preparer and Approver" in refused.output
    assert "AC (Permohonan Tuntutan Pendahuluan)" in refused.output
    assert _direct(settings, "kelantan", uuid) == {"ac:penyedia", "pentadbir-sistem"}

    shown = _run(settings, "users", "tasks", "--state", "kelantan", user_id)
    assert shown.exit_code == 0, shown.output
    assert "ac:penyedia\tAC Penyedia (Permohonan Tuntutan Pendahuluan)" in shown.output
    assert "pentadbir-sistem\tPentadbir Sistem\tSystem Administrator" in shown.output
    assert "TOTP wajib / TOTP required: ya / yes" in shown.output

    revoked = _run(settings, "users", "revoke", "--state", "kelantan", user_id, "pentadbir-sistem",
                   "--actor", "Pegawai IT Ujian")
    assert revoked.exit_code == 0, revoked.output
    assert _direct(settings, "kelantan", uuid) == {"ac:penyedia"}
    assert "tidak / no" in _run(settings, "users", "tasks", "--state", "kelantan",
                                user_id).output
    assert _run(settings, "users", "assign", "--state", "kelantan", user_id, "ac",
                "menteri").exit_code == 2

    events = [(e["event"], e["outcome"], e["details"].get("tasks") or e["details"].get("task"))
              for e in _events(tmp_path / "audit.jsonl") if e["subject"] == user_id]
    assert events == [
        ("account:task:assigned", "success", ["ac:penyedia"]),
        ("account:task:assigned", "success", ["pentadbir-sistem"]),
        ("account:task:refused", "denied", "ac:pelulus"),
        ("account:task:revoked", "success", ["pentadbir-sistem"]),
    ]
    for event in _events(tmp_path / "audit.jsonl"):
        assert event["details"]["actor"] == "Pegawai IT Ujian"
        assert event["details"]["client"] == "ispeks-state-it"


def test_task_import_dry_run_rejections_segregation_and_a_second_run_changes_nothing(
    provisioned_realms, tmp_path
):
    settings = provisioned_realms.with_overrides(audit_log_path=tmp_path / "audit.jsonl")
    people = _people(settings, "selangor", 4, "tasks-import")
    (a, a_uuid, _), (b, b_uuid, _), (c, c_uuid, _), (d, d_uuid, _) = people
    TaskRoles(bootstrap_admin(settings), "selangor").grant(c_uuid, ["sl:pelulus"])
    dashed = f"{a.user_id[:6]}-{a.user_id[6:8]}-{a.user_id[8:]}"
    rows = [
        "id,module,level",
        f"{dashed},AC,Penyedia",             # 2
        f"{a.user_id},py,penyemak",          # 3
        f"{b.user_id},meja-bantuan,",        # 4
        f"{b.user_id},aim,pelulus",          # 5
        f"{c.user_id},sl,penyedia",          # 6: c holds sl:pelulus already
        f"{c.user_id},proc,penyedia",        # 7
        f"{d.user_id},py,penyedia",          # 8: with line 9, both refused
        f"{d.user_id},py,pelulus",           # 9
        f"{d.user_id},xx,penyedia",          # 10: unknown module
        f"{a.user_id},ac,menteri",           # 11: unknown level
        "991231-14-9999,ac,penyedia",        # 12: nobody
    ]
    csv_file = tmp_path / "tugas.csv"
    csv_file.write_text("\n".join(rows) + "\n", encoding="utf-8")
    before = {u: _direct(settings, "selangor", u) for u in (a_uuid, b_uuid, c_uuid, d_uuid)}

    dry = _run(settings, "users", "tasks", "import", "--state", "selangor", str(csv_file),
               "--dry-run", "--actor", "Pegawai IT Ujian")

    assert dry.exit_code == 3, dry.output
    assert "would be granted 5, unchanged 0, rejected 6 (dry run" in dry.output
    assert {u: _direct(settings, "selangor", u) for u in before} == before
    assert _events(tmp_path / "audit.jsonl") == []

    real = _run(settings, "users", "tasks", "import", "--state", "selangor", str(csv_file),
                "--actor", "Pegawai IT Ujian")

    assert real.exit_code == 3, real.output
    assert "selangor: granted 5, unchanged 0, rejected 6" in real.output
    rejected = [line for line in real.output.splitlines() if line.startswith("line ")]
    assert [line.split(" ")[1] for line in rejected] == ["6", "8", "9", "10", "11", "12"]
    assert "Penyedia dan Pelulus" in rejected[0] and "SL (Permohonan Pinjaman Kakitangan)" in rejected[0]
    assert "PY (Permohonan Pengecualian Cukai)" in rejected[1]
    assert "unknown module 'xx'" in rejected[3] and "level must be one of" in rejected[4]
    assert "no user 991231149999" in rejected[5]
    assert _direct(settings, "selangor", a_uuid) == {"ac:penyedia", "py:penyemak"}
    assert _direct(settings, "selangor", b_uuid) == {"meja-bantuan", "aim:pelulus"}
    assert _direct(settings, "selangor", c_uuid) == {"sl:pelulus", "proc:penyedia"}
    assert _direct(settings, "selangor", d_uuid) == set()
    events = _events(tmp_path / "audit.jsonl")
    assert {(e["subject"], tuple(e["details"]["tasks"])) for e in events
            if e["event"] == "account:task:assigned"} == {
        (a.user_id, ("ac:penyedia", "py:penyemak")), (b.user_id, ("aim:pelulus", "meja-bantuan")),
        (c.user_id, ("proc:penyedia",))}
    summary = [e for e in events if e["event"] == "users:tasks:imported"]
    assert summary[-1]["details"]["granted"] == 5
    assert all(e["details"]["actor"] == "Pegawai IT Ujian" for e in events)

    again = _run(settings, "users", "tasks", "import", "--state", "selangor", str(csv_file))

    assert "selangor: granted 0, unchanged 5, rejected 6" in again.output, again.output
    assert _direct(settings, "selangor", a_uuid) == {"ac:penyedia", "py:penyemak"}
    assert _direct(settings, "selangor", c_uuid) == {"sl:pelulus", "proc:penyedia"}
