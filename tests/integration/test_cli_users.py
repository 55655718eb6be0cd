"""State IT's user commands against the real Keycloak: list and unlock."""

from __future__ import annotations

import json

from click.testing import CliRunner

from idp_extension.cli import main
from idp_extension.demo_users import synthetic_people
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.users import ACTIVATION_STATE, ACTIVE, UserDirectory
from idp_extension.passwords import random_password
from idp_extension.tenants import load_tenant
from tests.support.oidc_login import login


def _run(settings, *args):
    result = CliRunner().invoke(main, list(args), obj=settings, catch_exceptions=False)
    return result


def test_unlock_command_restores_login_and_writes_an_audit_event(
    provisioned_realms, settings, tmp_path
):
    settings = settings.with_overrides(audit_log_path=tmp_path / "audit.jsonl")
    tenant = load_tenant(settings.realm_templates_dir, "selangor")
    directory = UserDirectory(bootstrap_admin(settings), "selangor")
    record = synthetic_people(tenant, 1, seed="cli-unlock")[0]
    user, _ = directory.register_pending(record)
    password = random_password()
    directory.set_password(user.id, password)
    directory.update_attributes(user.id, {ACTIVATION_STATE: [ACTIVE]})
    for _ in range(3):
        login(settings.keycloak_url, "selangor", record.user_id, "Salah-Kata-Laluan1")
    assert login(settings.keycloak_url, "selangor", record.user_id, password).status == 200

    listed = _run(settings, "users", "list", "--state", "selangor", "--locked")
    assert record.user_id in listed.output

    result = _run(settings, "users", "unlock", "--state", "selangor", record.user_id)

    assert result.exit_code == 0, result.output
    assert login(settings.keycloak_url, "selangor", record.user_id, password).status == 302
    assert record.user_id not in _run(settings, "users", "list", "--state", "selangor",
                                      "--locked").output
    events = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "account:unlocked"
    assert events[-1]["subject"] == record.user_id


def test_unlock_of_an_unknown_id_fails_clearly(provisioned_realms, settings):
    result = _run(settings, "users", "unlock", "--state", "pahang", "850101035555")
    assert result.exit_code != 0
    assert "no user 850101035555 in pahang" in result.output


def test_list_pending_shows_registered_users(provisioned_realms, settings):
    tenant = load_tenant(settings.realm_templates_dir, "pahang")
    record = synthetic_people(tenant, 1, seed="cli-list")[0]
    UserDirectory(bootstrap_admin(settings), "pahang").register_pending(record)

    result = _run(settings, "users", "list", "--state", "pahang", "--pending")

    assert result.exit_code == 0
    assert f"{record.user_id}\t{record.name}\t{record.email}" in result.output
