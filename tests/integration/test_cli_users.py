"""State IT's user commands against the real Keycloak (list, unlock, resend-activation,
disable, enable) and ``audit tail``."""

from __future__ import annotations

import getpass
import json
import os
import re
import select
import subprocess
import sys

from click.testing import CliRunner

from idp_extension.audit import JsonLinesAuditLog
from idp_extension.cli import main
from idp_extension.demo_users import synthetic_people
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.users import (
    ACTIVATION_STATE, ACTIVE, RECOVERY_FAILURE_LIMIT, RECOVERY_FAILURES, UserDirectory,
)
from idp_extension.passwords import random_password
from idp_extension.settings import load_settings
from idp_extension.tenants import load_tenant
from tests.support.lockout import wait_until_locked
from tests.support.oidc_login import login


def _run(settings, *args):
    result = CliRunner().invoke(main, list(args), obj=settings, catch_exceptions=False)
    return result


def test_unlock_command_restores_login_and_writes_an_audit_event(
    provisioned_realms, settings, tmp_path
):
    settings = settings.with_overrides(audit_log_path=tmp_path / "audit.jsonl")
    directory, record, user, password = _active(settings, "selangor", "cli-unlock")
    for _ in range(3):
        login(settings.keycloak_url, "selangor", record.user_id, "Salah-Kata-Laluan1")
    wait_until_locked(directory, user.id)
    assert login(settings.keycloak_url, "selangor", record.user_id, password).status == 200

    listed = _run(settings, "users", "list", "--state", "selangor", "--locked")
    assert record.user_id in listed.output

    result = _run(settings, "users", "unlock", "--state", "selangor", record.user_id)

    assert result.exit_code == 0, result.output
    assert login(settings.keycloak_url, "selangor", record.user_id, password).status == 302
    assert record.user_id not in _run(settings, "users", "list", "--state", "selangor",
                                      "--locked").output
    events = _events(tmp_path / "audit.jsonl")
    assert events[-1]["event"] == "account:unlocked"
    assert events[-1]["subject"] == record.user_id


def test_an_account_locked_by_recovery_answers_is_listed_and_unlocked(
    provisioned_realms, settings, tmp_path
):
    settings = settings.with_overrides(audit_log_path=tmp_path / "audit.jsonl")
    directory, record, user, password = _active(settings, "pahang", "cli-recovery-lock")
    # What flows/recovery.py writes at the third wrong answer.
    directory.set_enabled(user.id, False, {ACTIVATION_STATE: [ACTIVE],
                                           RECOVERY_FAILURES: [str(RECOVERY_FAILURE_LIMIT)]})

    listed = _run(settings, "users", "list", "--state", "pahang", "--locked")
    assert record.user_id in listed.output
    assert _run(settings, "users", "enable", "--state", "pahang", record.user_id).exit_code != 0

    assert _run(settings, "users", "unlock", "--state", "pahang", record.user_id).exit_code == 0

    unlocked = directory.get(user.id)
    assert unlocked.enabled and unlocked.recovery_failures == 0
    assert login(settings.keycloak_url, "pahang", record.user_id, password).status == 302
    assert record.user_id not in _run(settings, "users", "list", "--state", "pahang",
                                      "--locked").output


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


def _active(settings, state: str, seed: str):
    """A fresh active user of this test's own, with a known password."""
    tenant = load_tenant(settings.realm_templates_dir, state)
    directory = UserDirectory(bootstrap_admin(settings), state)
    record = synthetic_people(tenant, 1, seed=seed)[0]
    user, _ = directory.register_pending(record)
    password = random_password()
    directory.set_password(user.id, password)
    directory.update_attributes(user.id, {ACTIVATION_STATE: [ACTIVE]})
    return directory, record, user, password


def _events(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_resend_activation_emails_a_new_link_and_audits_it(
    provisioned_realms, settings, mail_inbox, tmp_path
):
    settings = settings.with_overrides(audit_log_path=tmp_path / "audit.jsonl")
    tenant = load_tenant(settings.realm_templates_dir, "pahang")
    record = synthetic_people(tenant, 1, seed="cli-resend")[0]
    UserDirectory(bootstrap_admin(settings), "pahang").register_pending(record)
    mark = mail_inbox.last_id
    dashed = f"{record.user_id[:6]}-{record.user_id[6:8]}-{record.user_id[8:]}"

    result = _run(settings, "users", "resend-activation", "--state", "pahang", dashed)

    assert result.exit_code == 0, result.output
    assert f"Activation link sent to {record.email}" in result.output
    message = mail_inbox.wait_for(to=record.email, after=mark, timeout=15)
    assert any("/pahang/activation/link/" in link for link in message.links())
    event = [e for e in _events(tmp_path / "audit.jsonl")
             if e["event"] == "account:activation:requested"][-1]
    assert (event["subject"], event["outcome"]) == (record.user_id, "success")
    # The officer (the login name without --actor) and the credential, never just "cli".
    assert (event["details"]["result"], event["details"]["actor"],
            event["details"]["client"]) == ("sent", getpass.getuser(), "ispeks-state-it")


def test_resend_activation_says_why_it_sends_nothing(provisioned_realms, settings, mail_inbox):
    _, active, _, _ = _active(settings, "kelantan", "cli-resend-active")
    selangor = synthetic_people(load_tenant(settings.realm_templates_dir, "selangor"), 1,
                                seed="cli-resend-selangor")[0]
    UserDirectory(bootstrap_admin(settings), "selangor").register_pending(selangor)
    mark = mail_inbox.last_id

    already = _run(settings, "users", "resend-activation", "--state", "kelantan", active.user_id)
    unknown = _run(settings, "users", "resend-activation", "--state", "kelantan", "850101035555")
    wrong_kind = _run(settings, "users", "resend-activation", "--state", "selangor",
                      selangor.user_id)
    malformed = _run(settings, "users", "resend-activation", "--state", "kelantan", "12345")

    assert already.exit_code == 1 and "already activated" in already.output
    assert unknown.exit_code == 1 and "no user 850101035555 in kelantan" in unknown.output
    assert wrong_kind.exit_code == 1 and "temporary passwords" in wrong_kind.output
    assert malformed.exit_code == 2
    assert [m for m in mail_inbox.messages() if m.id > mark
            and {active.email, selangor.email} & set(m.recipients)] == []


def test_disable_stops_login_and_enable_restores_it(provisioned_realms, settings, tmp_path):
    settings = settings.with_overrides(audit_log_path=tmp_path / "audit.jsonl")
    directory, record, user, password = _active(settings, "melaka", "cli-disable")
    assert login(settings.keycloak_url, "melaka", record.user_id, password).status == 302

    disabled = _run(settings, "users", "disable", "--state", "melaka", "--reason", "bersara",
                    record.user_id)

    assert disabled.exit_code == 0, disabled.output
    assert directory.get(user.id).enabled is False
    refused = login(settings.keycloak_url, "melaka", record.user_id, password)
    assert refused.status != 302
    event = _events(tmp_path / "audit.jsonl")[-1]
    assert event["subject"] == record.user_id
    assert (event["event"], event["details"]["reason"]) == ("account:disabled", "bersara")
    # "unlock" is for lockouts: it does not undo an administrator's disabling.
    _run(settings, "users", "unlock", "--state", "melaka", record.user_id)
    assert directory.get(user.id).enabled is False

    enabled = _run(settings, "users", "enable", "--state", "melaka", record.user_id)

    assert enabled.exit_code == 0, enabled.output
    assert login(settings.keycloak_url, "melaka", record.user_id, password).status == 302
    assert _events(tmp_path / "audit.jsonl")[-1]["event"] == "account:enabled"


def _log_events(path, *entries) -> None:
    log = JsonLinesAuditLog(path)
    for realm, event, subject, details in entries:
        log.record(event, realm=realm, subject=subject, **details)


def test_audit_tail_prints_the_newest_events_of_one_state(tmp_path):
    path = tmp_path / "audit.jsonl"
    _log_events(path,
                ("pahang", "account:unlocked", "850101065551", {"actor": "cli"}),
                ("kelantan", "account:locked", "900215035012", {}),
                ("pahang", "users:imported", None, {"created": 3, "rejected": 1}),
                ("pahang", "account:activation:requested", "781130065338",
                 {"result": "sent", "answer": "rahsia"}))
    with path.open("a") as handle:
        handle.write("{not json\n")
    settings = load_settings().with_overrides(audit_log_path=path)

    result = _run(settings, "audit", "tail", "--state", "pahang", "-n", "2")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert "users:imported  success  -  created=3 rejected=1" in lines[0]
    assert "account:activation:requested  success  781130065338  result=sent" in lines[1]
    assert "answer=[REDACTED]" in lines[1]
    assert "900215035012" not in result.output
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ  ", lines[0])


def test_audit_tail_without_a_log_file_says_so():
    result = _run(load_settings().with_overrides(audit_log_path=None),
                  "audit", "tail", "--state", "pahang")

    assert result.exit_code == 1
    assert "ISPEKS_AUDIT_LOG" in result.output


def _read_line(process: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, "no line within the time limit"
    return process.stdout.readline()


def test_audit_tail_follow_prints_events_as_they_are_written(tmp_path):
    path = tmp_path / "audit.jsonl"
    _log_events(path, ("melaka", "account:unlocked", "850101045551", {}))
    env = {**os.environ, "ISPEKS_AUDIT_LOG": str(path), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "idp_extension.cli", "audit", "tail", "--state", "melaka",
         "--follow"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert "account:unlocked" in _read_line(process, 30)
        _log_events(path, ("pahang", "account:locked", "900215065012", {}),
                    ("melaka", "account:locked", "781130045338", {"actor": "cli"}))

        line = _read_line(process, 10)

        assert "account:locked  success  781130045338  actor=cli" in line
    finally:
        process.terminate()
        process.wait(10)
