"""TOTP for privileged tasks (issue 12) through the real Keycloak, with real codes (pyotp).

Privileged tasks are client roles of ``ispeks-tugas`` that contain ``totp-wajib``
(TASKS-CONTRACT.md): ``ac:pelulus`` asks for TOTP, ``ac:penyedia`` does not. Every test
has users of its own, and never more than two wrong codes in a row per user: a wrong
code counts towards Keycloak's 3-strike lock like a wrong password.
"""

from __future__ import annotations

import html
import json
import re
import time

import pytest
from click.testing import CliRunner

from idp_extension.cli import main as cli
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.users import UserDirectory
from tests.integration.test_recovery_http import NEW_PASSWORD, OLD_PASSWORD, Recovery
from tests.integration.test_settings_http import sign_in, to_keycloak
from tests.support.inprocess import Stack
from tests.support.lockout import wait_for_failures
from tests.support.totp_login import (
    PERIOD, StepLogin, authenticator, jwt_claims, login_with_totp, next_unused_code,
    steady_window,
)

PASSWORD = "Kuih#Lapis-Manis7"
TASKS_CLIENT = "ispeks-tugas"


@pytest.fixture
def stack(provisioned_realms, mail_inbox, tmp_path) -> Stack:
    return Stack(provisioned_realms, mail_inbox, tmp_path / "audit.jsonl")


def grant(settings, realm: str, uuid: str, *tasks: str) -> None:
    """Assign task roles as state IT will (the tasks branch's CLI does it with checks)."""
    kc = bootstrap_admin(settings, realm)
    client = kc.get_client_id(TASKS_CLIENT)
    kc.assign_client_role(uuid, client, [kc.get_client_role(client, task) for task in tasks])


def person(stack: Stack, realm: str, seed: str, *tasks: str, password: str = PASSWORD):
    record, user = stack.active(realm, f"totp:{seed}", password)
    if tasks:
        grant(stack.settings, realm, user.id, *tasks)
    return record, user


def enrol(settings, realm: str, user_id: str, password: str = PASSWORD, **kwargs):
    """Log in once, enrolling an authenticator app from the key the page shows."""
    login = StepLogin(settings.keycloak_url, realm, **kwargs)
    assert login.start().asks_password
    page = login.password(user_id, password)
    assert page.asks_enrolment, page.error or page.body[:400]
    app = authenticator(page.totp_key())
    used: set[str] = set()
    done = login.enrol(next_unused_code(app, used), label="Telefon ujian")
    assert done.done and done.tokens, done.error or done.body[:400]
    return app, used, done


def otp_count(settings, realm: str, uuid: str) -> int:
    return UserDirectory(bootstrap_admin(settings), realm).otp_credential_count(uuid)


# -- who is asked -------------------------------------------------------------------------


def test_approver_enrols_at_first_login_then_gives_a_code_at_every_login(stack):
    settings, realm = stack.settings, "melaka"
    record, user = person(stack, realm, "approver", "ac:pelulus")
    assert otp_count(settings, realm, user.id) == 0

    login = StepLogin(settings.keycloak_url, realm)
    login.start()
    page = login.password(record.user_id, PASSWORD)
    # The themed enrolment page, Malay first: QR code and the key in text.
    assert page.asks_enrolment
    assert "Tetapan Pengesahan Dua Faktor (TOTP)" in page.body
    assert 'id="kc-totp-secret-qr-code"' in page.body and "data:image/png;base64" in page.body
    assert "algoritma SHA1; 6 digit; setiap 30 saat" in page.body
    key = page.totp_key()
    assert len(key) == 32 and key.isalnum()
    app, used = authenticator(key), set()
    # A wrong code enrols nothing.
    wrong = login.enrol(str((int(app.now()) + 1) % 10**6).zfill(6))
    assert wrong.asks_enrolment and wrong.error == "Kod pengesahan tidak sah."
    done = login.enrol(next_unused_code(app, used), label="Telefon pejabat")
    assert done.done and jwt_claims(done.tokens["id_token"])["preferred_username"] == record.user_id
    assert otp_count(settings, realm, user.id) == 1

    # Every later login asks for a code after the password; English on request.
    again = StepLogin(settings.keycloak_url, realm, locale="en")
    again.start()
    asked = again.password(record.user_id, PASSWORD)
    assert asked.asks_code and "Enter the 6-digit code" in asked.body
    assert again.code(next_unused_code(app, used)).tokens


def test_totp_is_asked_exactly_for_privileged_tasks(stack):
    settings, realm = stack.settings, "pahang"
    preparer, _ = person(stack, realm, "preparer", "ac:penyedia")
    nobody, _ = person(stack, realm, "no-task")
    approver, _ = person(stack, realm, "both-levels", "ac:pelulus")

    for record in (preparer, nobody):
        login = StepLogin(settings.keycloak_url, realm)
        login.start()
        step = login.password(record.user_id, PASSWORD)
        assert step.done and step.tokens, f"{record.user_id}: {step.error or step.body[:300]}"

    login = StepLogin(settings.keycloak_url, realm)
    login.start()
    assert login.password(approver.user_id, PASSWORD).asks_enrolment


def test_a_user_who_turned_totp_on_is_asked_without_a_task(stack):
    settings, realm = stack.settings, "kelantan"
    record, user = person(stack, realm, "opted-in")
    # What the settings page's "turn on" ends in: Keycloak's CONFIGURE_TOTP action.
    UserDirectory(bootstrap_admin(settings), realm).delete_otp_credentials(
        user.id, enrol_again=True)
    app, used, _ = enrol(settings, realm, record.user_id)

    assert login_with_totp(settings.keycloak_url, realm, record.user_id, PASSWORD,
                           app, used).tokens


def test_the_sidecars_own_sign_in_asks_for_the_code_too(stack):
    """Settings sign-ins (and so turning TOTP off) need the second factor as well."""
    settings, realm = stack.settings, "selangor"
    record, _ = person(stack, realm, "sidecar-client", "ac:pelulus")
    enrol(settings, realm, record.user_id)

    callback = f"{settings.sidecar_public_url}/{realm}/settings/callback"
    login = StepLogin(settings.keycloak_url, realm, client_id="ispeks-sidecar",
                      redirect_uri=callback, exchange=False, extra={"prompt": "login"})
    login.start()
    assert login.password(record.user_id, PASSWORD).asks_code


# -- codes: windows, wrong and replayed -----------------------------------------------------


def test_codes_of_the_previous_and_next_period_work_others_and_replays_do_not(stack):
    settings, realm = stack.settings, "melaka"
    record, user = person(stack, realm, "windows", "ac:pelulus")
    app, used, _ = enrol(settings, realm, record.user_id)
    directory = UserDirectory(bootstrap_admin(settings), realm)

    def asked_for_code() -> StepLogin:
        login = StepLogin(settings.keycloak_url, realm)
        login.start()
        assert login.password(record.user_id, PASSWORD).asks_code
        return login

    # A wrong code: refused, the form again; then last period's code is accepted
    # (look-around window 1: the phone may be up to one period behind).
    login = asked_for_code()
    steady_window()
    now = time.time()
    wrong = str((int(app.at(now)) + 500_000) % 10**6).zfill(6)
    refused = login.code(wrong)
    assert refused.asks_code and refused.error == "Kod pengesahan tidak sah."
    steady_window()
    previous = app.at(time.time() - PERIOD)
    assert previous not in used
    assert login.code(previous).tokens
    used.add(previous)

    # Next period's code (a phone one period ahead) is accepted too.
    login = asked_for_code()
    steady_window()
    following = app.at(time.time() + PERIOD)
    assert login.code(following).tokens
    used.add(following)

    # Wrong codes count towards the 3-strike lock like wrong passwords: start from none.
    directory.unlock(user.id)

    # The same code again, still within its time: refused (codeReusable false).
    login = asked_for_code()
    steady_window()
    replayed = login.code(following)
    assert replayed.asks_code and replayed.error == "Kod pengesahan tidak sah."
    # Two periods off is outside the window.
    steady_window()
    stale = app.at(time.time() - 2 * PERIOD)
    if stale in {app.at(time.time() + d * PERIOD) for d in (-1, 0, 1)}:
        pytest.fail("pyotp produced the same code for two periods: rerun")  # 1 in 10^5
    assert login.code(stale).asks_code
    wait_for_failures(directory, user.id, 2)
    # The right code still works after two failures, and clears them.
    assert login.code(next_unused_code(app, used)).tokens
    assert not directory.get(user.id).permanently_locked


# -- lost phone: reset-otp; recovery keeps TOTP -------------------------------------------


def test_reset_otp_removes_the_app_mails_the_user_and_the_next_login_enrols_again(
        stack, tmp_path):
    settings, realm = stack.settings, "melaka"
    record, user = person(stack, realm, "lost-phone", "ac:pelulus")
    enrol(settings, realm, record.user_id)
    assert otp_count(settings, realm, user.id) == 1
    audit_path = tmp_path / "cli-audit.jsonl"
    mark = stack.inbox.last_id

    result = CliRunner().invoke(
        cli, ["users", "reset-otp", "--state", realm, record.user_id, "--actor", "Pegawai IT"],
        obj=settings.with_overrides(audit_log_path=audit_path), catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert "1 authenticator app(s) removed" in result.output
    assert otp_count(settings, realm, user.id) == 0
    (event,) = [json.loads(line) for line in audit_path.read_text().splitlines()]
    assert event["event"] == "account:totp:reset" and event["subject"] == record.user_id
    assert event["details"]["actor"] == "Pegawai IT"
    assert event["details"]["client"] == "ispeks-state-it"
    assert event["details"]["removed"] == 1 and event["details"]["notified"] is True
    mail = stack.inbox.wait_for(to=record.email, after=mark, timeout=15)
    assert mail.subject.strip() == (
        f"Pengesahan Dua Faktor iSPEKS Telah Ditetapkan Semula: ID Pengguna {record.user_id}")
    assert record.name in mail.text and "aplikasi pengesah yang baharu" in mail.text

    # The old app no longer opens anything: the next login enrols a new one.
    login = StepLogin(settings.keycloak_url, realm)
    login.start()
    page = login.password(record.user_id, PASSWORD)
    assert page.asks_enrolment
    assert login.enrol(next_unused_code(authenticator(page.totp_key()), set())).tokens


def test_reset_otp_of_an_opted_in_user_enrols_again_and_english_mail(stack, tmp_path):
    settings, realm = stack.settings, "pahang"
    record, user = person(stack, realm, "opted-in-reset")
    UserDirectory(bootstrap_admin(settings), realm).delete_otp_credentials(
        user.id, enrol_again=True)
    enrol(settings, realm, record.user_id)
    mark = stack.inbox.last_id

    result = CliRunner().invoke(
        cli, ["users", "reset-otp", "--state", realm, record.user_id, "--locale", "en"],
        obj=settings.with_overrides(audit_log_path=tmp_path / "a.jsonl"),
        catch_exceptions=False)

    assert result.exit_code == 0, result.output
    mail = stack.inbox.wait_for(to=record.email, after=mark, timeout=15)
    assert mail.subject.strip().startswith("iSPEKS Two-factor Verification Reset")
    login = StepLogin(settings.keycloak_url, realm)
    login.start()
    assert login.password(record.user_id, PASSWORD).asks_enrolment


def test_password_recovery_does_not_remove_or_skip_totp(stack):
    settings, realm = stack.settings, "pahang"
    record, user = stack.active(realm, "totp:recovery", OLD_PASSWORD)
    grant(settings, realm, user.id, "ac:pelulus")
    app, used, _ = enrol(settings, realm, record.user_id, OLD_PASSWORD)

    recovery = Recovery(stack, realm)
    recovery.at_password_step(record)
    done = recovery.password(NEW_PASSWORD)
    assert done.status == 200, done.text[:500]

    # The new password opens the password step only: the code is still asked.
    assert otp_count(settings, realm, user.id) == 1
    login = StepLogin(settings.keycloak_url, realm)
    login.start()
    step = login.password(record.user_id, NEW_PASSWORD)
    assert step.asks_code and not step.done
    assert login.code(next_unused_code(app, used)).tokens


# -- the settings page: on and off ---------------------------------------------------------


def _form_action(page, form_id: str) -> str:
    match = (re.search(rf'<form[^>]*id="{form_id}"[^>]*action="([^"]+)"', page.body)
             or re.search(rf'<form[^>]*action="([^"]+)"[^>]*id="{form_id}"', page.body))
    assert match, f"no form {form_id}: {page.text[:400]}"
    return html.unescape(match.group(1))


def press(browser, realm: str, button: str):
    """Press "Aktifkan"/"Matikan" on the TOTP page (its form's CSRF token)."""
    token = browser.csrf(f"/{realm}/settings/totp")
    return browser.post(f"/{realm}/settings/totp/{button}", {"csrf_token": token})


def test_any_user_turns_totp_on_and_off_in_the_settings(stack):
    settings, realm = stack.settings, "melaka"
    record, user = person(stack, realm, "settings-on-off")
    browser = stack.browser()
    sign_in(browser, realm, record.user_id, PASSWORD, start=f"/{realm}/settings/totp")
    page = browser.get(f"/{realm}/settings/totp")
    assert page.status == 200 and "Status: Tidak aktif" in page.text
    mark = stack.inbox.last_id

    # "Aktifkan TOTP": Keycloak's own enrolment page (CONFIGURE_TOTP), inside the session.
    to_keycloak = press(browser, realm, "enable")
    assert to_keycloak.status in (302, 303)
    assert "kc_action=CONFIGURE_TOTP" in to_keycloak.location
    enrolment = browser.follow(to_keycloak)
    assert 'id="kc-totp-settings-form"' in enrolment.body and 'id="cancelTOTPBtn"' in enrolment.body
    key = re.sub(r"\s+", "", re.search(r'id="kc-totp-secret-key"[^>]*>([^<]+)<',
                                        enrolment.body).group(1))
    app = authenticator(key)
    secret = re.search(r'name="totpSecret" value="([^"]*)"', enrolment.body).group(1)
    back = browser.post(_form_action(enrolment, "kc-totp-settings-form"), {
        "totp": next_unused_code(app, set()), "totpSecret": html.unescape(secret),
        "userLabel": "Telefon"})
    assert back.status == 302 and "kc_action_status=success" in back.location, back.text[:400]
    shown = browser.follow(browser.get(back.location))
    assert "Status: Aktif" in shown.text
    assert "Pengesahan dua faktor (TOTP) telah diaktifkan" in shown.text
    assert otp_count(settings, realm, user.id) == 1
    enabled = stack.inbox.wait_for(to=record.email, after=mark, timeout=15)
    # (A long Subject header is folded: the inbox keeps the fold's leading space.)
    assert enabled.subject.strip().startswith("Pengesahan Dua Faktor iSPEKS Telah Diaktifkan")

    # "Matikan TOTP": no task requires it, so the credential goes; the next login asks nothing.
    off = press(browser, realm, "disable")
    assert off.status == 303
    assert "Status: Tidak aktif" in browser.get(off.location).text
    assert otp_count(settings, realm, user.id) == 0
    disabled = stack.inbox.wait_for(to=record.email, after=enabled.id, timeout=15)
    assert disabled.subject.strip().startswith("Pengesahan Dua Faktor iSPEKS Telah Dimatikan")
    assert [e["event"] for e in stack.events("account:totp:enabled", "account:totp:disabled")] == [
        "account:totp:enabled", "account:totp:disabled"]
    login = StepLogin(settings.keycloak_url, realm)
    login.start()
    assert login.password(record.user_id, PASSWORD).tokens


def test_an_approver_cannot_turn_totp_off(stack):
    settings, realm = stack.settings, "melaka"
    record, user = person(stack, realm, "settings-approver", "ac:pelulus")
    app, used, _ = enrol(settings, realm, record.user_id)
    browser = stack.browser()

    page = to_keycloak(browser, f"/{realm}/settings/totp")
    asked = browser.login_form(page, record.user_id, PASSWORD)
    assert asked.status == 200 and 'id="kc-otp-login-form"' in asked.body
    back = browser.post(_form_action(asked, "kc-otp-login-form"),
                        {"otp": next_unused_code(app, used)})
    assert back.status == 302, back.text[:300]
    shown = browser.follow(browser.get(back.location))
    assert "Status: Aktif" in shown.text and 'id="totp-required"' in shown.body, (
        shown.status, re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", shown.text))[:1500])
    assert 'id="totp-disable"' not in shown.body

    refused = press(browser, realm, "disable")

    assert refused.status == 409
    assert "tidak boleh dimatikan: tugas anda (Pelulus" in refused.text
    assert otp_count(settings, realm, user.id) == 1
    (event,) = stack.events("account:totp:disabled")
    assert event["outcome"] == "denied" and event["details"]["reason"] == "task_requires_totp"
