"""The helpdesk console (issue 13) through its HTTP interface against the real Keycloak.

Officers are real users holding ``meja-bantuan`` or ``pentadbir-sistem`` (composites of
``totp-wajib``): they enrol an authenticator app (pyotp) and sign in through Keycloak's
forms with password and code. Codes: Keycloak accepts the previous, current and next
period (look-around window 1) and never the same code twice, so each login uses an
unused one of the three instead of waiting for a new period.
"""

from __future__ import annotations

import pytest

from idp_extension.gateway.tasks import TaskRoles
from idp_extension.gateway.connection import bootstrap_admin
from tests.integration.test_totp import PASSWORD, grant, person
from tests.support.inprocess import Stack
from tests.support.lockout import wait_until_locked
from tests.support.officer import Officer, keycloak_page
from tests.support.oidc_login import login


@pytest.fixture
def stack(provisioned_realms, mail_inbox, tmp_path) -> Stack:
    return Stack(provisioned_realms, mail_inbox, tmp_path / "audit.jsonl")


def events(stack: Stack, action: str | None = None) -> list[dict]:
    return [e for e in stack.events("console:action", "console:action:refused")
            if action is None or e["details"].get("action") == action]


def test_a_helpdesk_officer_finds_users_and_acts_with_reasons(stack):
    realm = "pahang"
    officer = Officer(stack, realm, "console-helpdesk", "meja-bantuan")
    back = officer.sign_in()
    assert back.status == 303 and back.location.endswith(f"{officer.base}/")
    home = officer.browser.get(f"{officer.base}/")
    assert home.status == 200 and "Pentadbiran Pengguna" in home.text
    assert officer.record.user_id in home.text and "Meja Bantuan" in home.text
    assert "console:signed_in" in [e["event"] for e in stack.audit()]

    # Find: by ID with dashes, by part of the name; the JSON API says the same.
    target, target_user = stack.active(realm, "console-target", PASSWORD)
    dashed = f"{target.user_id[:6]}-{target.user_id[6:8]}-{target.user_id[8:]}"
    found = officer.browser.get(f"{officer.base}/?q={dashed}")
    assert found.status == 200 and target.name in found.text
    part = target.name.split()[0]
    by_name = officer.browser.get(f"{officer.base}/api/users?q={part}")
    assert by_name.status == 200 and target.user_id in by_name.text

    # The card: status, details, tasks, TOTP; never an answer or a password.
    card = officer.browser.get(f"{officer.base}/pengguna/{target.user_id}")
    assert card.status == 200
    for words in (target.name, target.email, target.department, "Aktif", "Tarikh Pendaftaran",
                  "Log Masuk Terakhir", "Tidak aktif"):
        assert words in card.text, words
    assert PASSWORD not in card.text and "ispeks_security_answers" not in card.text

    # Locked by three wrong passwords (as Keycloak marks it): unlock with a reason.
    admin = stack.admin(realm)
    for _ in range(3):  # Keycloak alone writes disabledReason: lock as strangers would
        login(stack.settings.keycloak_url, realm, target.user_id, "Salah-Kata-Laluan1")
    wait_until_locked(admin, target_user.id)
    locked = officer.browser.get(f"{officer.base}/pengguna/{target.user_id}")
    assert "Dikunci" in locked.text and "kata laluan salah 3 kali" in locked.text
    no_reason = officer.act(target.user_id, "buka-kunci", reason=" ")
    assert no_reason.status == 400 and "Sila nyatakan sebab" in no_reason.text
    unconfirmed = officer.act(target.user_id, "buka-kunci", confirm=False)
    assert unconfirmed.status == 400
    assert admin.get(target_user.id).permanently_locked
    done = officer.act(target.user_id, "buka-kunci", reason="Pengguna lupa kata laluan")
    assert done.status == 303
    assert not admin.get(target_user.id).permanently_locked
    refusals, (unlocked,) = (
        [e["details"]["refusal"] for e in events(stack, "unlock") if e["outcome"] == "denied"],
        [e for e in events(stack, "unlock") if e["outcome"] == "success"])
    assert refusals == ["console.reason_required", "console.not_confirmed"]
    assert unlocked["subject"] == target.user_id and unlocked["outcome"] == "success"
    assert unlocked["details"]["actor"] == officer.record.user_id
    assert unlocked["details"]["reason"] == "Pengguna lupa kata laluan"
    trail = officer.browser.get(f"{officer.base}/pengguna/{target.user_id}")
    assert "Pengguna lupa kata laluan" in trail.text and "console:action" in trail.text

    # Disable and enable.
    assert officer.act(target.user_id, "nyahaktif").status == 303
    assert not admin.get(target_user.id).enabled
    assert officer.act(target.user_id, "aktifkan").status == 303
    assert admin.get(target_user.id).enabled

    # Corrections: an address outside the state's domains is refused; inside it is kept.
    bad = officer.act(target.user_id, "betulkan", email="orang@gmail.com")
    assert bad.status == 400 and "domain rasmi negeri" in bad.text
    assert admin.get(target_user.id).email == target.email
    new_email = f"betul.{target.user_id}@pahang.gov.my"
    assert officer.act(target.user_id, "betulkan", email=new_email,
                       department="JABATAN KEWANGAN NEGERI").status == 303
    corrected = admin.get(target_user.id)
    assert corrected.email == new_email and corrected.department == "JABATAN KEWANGAN NEGERI"

    # Tasks: Penyedia yes; Pelulus and the system tasks only by a Pentadbir Sistem.
    assert officer.act(target.user_id, "tugas-tambah", task="ac:penyedia").status == 303
    refused = officer.act(target.user_id, "tugas-tambah", task="ac:pelulus")
    assert refused.status == 403 and "Meja Bantuan tidak boleh" in refused.text
    assert officer.act(target.user_id, "tugas-tambah", task="pentadbir-sistem").status == 403
    roles = TaskRoles(bootstrap_admin(stack.settings, realm), realm)
    assert roles.direct(target_user.id) == {"ac:penyedia"}
    assert officer.act(target.user_id, "tugas-tarik", task="ac:penyedia").status == 303
    assert roles.direct(target_user.id) == set()
    assert [e["outcome"] for e in events(stack, "assign_task")] == ["success", "denied",
                                                                    "denied"]

    # Reset TOTP: Keycloak will ask for a new app at the next login.
    assert officer.act(target.user_id, "tetapkan-semula-totp").status == 303
    assert "CONFIGURE_TOTP" in bootstrap_admin(stack.settings, realm).get_user(
        target_user.id)["requiredActions"]

    # Register one new user (payroll rules), then resend their activation link.
    fresh = stack.person(realm, "console-registered")
    fields = {"id": fresh.user_id, "name": fresh.name, "email": "x@gmail.com",
              "department": fresh.department, "registration_date": "2026-01-31",
              "reason": "Pengguna Tidak Dapat Didaftarkan", "confirm": "yes",
              "next": f"{officer.base}/daftar"}
    outside = officer.browser.submit(f"{officer.base}/daftar", fields)
    assert outside.status == 400 and "domain rasmi negeri" in outside.text
    assert admin.find(fresh.user_id) is None
    registered = officer.browser.submit(f"{officer.base}/daftar", {**fields, "email": fresh.email})
    assert registered.status == 303, registered.text[:500]
    assert admin.find(fresh.user_id).activation_state == "pending"
    mark = stack.inbox.last_id
    assert officer.act(fresh.user_id, "hantar-semula").status == 303
    mail = stack.inbox.wait_for(to=fresh.email, after=mark, timeout=15)
    assert fresh.user_id in mail.text or fresh.name in mail.text

    # A stale login (older than 5 minutes) changes nothing: log in again first.
    stack.clock.offset = stack.clock.offset.__class__(minutes=6)
    stale = officer.act(target.user_id, "nyahaktif")
    assert stale.status == 303 and "/pentadbiran/reauth" in stale.location
    assert admin.get(target_user.id).enabled


def test_another_states_console_shows_nothing(stack):
    officer = Officer(stack, "pahang", "console-isolated", "meja-bantuan")
    officer.sign_in()
    selangor_user, _ = stack.active("selangor", "console-selangor-user", PASSWORD)
    assert officer.browser.get("/pahang/pentadbiran/").status == 200

    page = officer.browser.get(f"/selangor/pentadbiran/pengguna/{selangor_user.user_id}")
    assert page.status == 303 and "/selangor/pentadbiran/login" in page.location
    api = officer.browser.get(f"/selangor/pentadbiran/api/users?q={selangor_user.user_id}")
    assert api.status == 401 and selangor_user.user_id not in api.text
    # The Pahang sign-in cannot reach a Selangor user through Pahang's console either.
    mine = officer.browser.get(f"/pahang/pentadbiran/pengguna/{selangor_user.user_id}")
    assert mine.status == 404 and selangor_user.name not in mine.text


def test_without_a_task_or_without_the_otp_step_the_console_refuses(stack):
    realm = "melaka"
    # No task: Keycloak signs them in (no TOTP asked), the console refuses.
    nobody, _ = person(stack, realm, "console-no-task")
    browser = stack.browser()
    start = browser.get(f"/{realm}/pentadbiran/")
    page = keycloak_page(stack, browser, f"/{realm}/pentadbiran/")
    answer = browser.login_form(page, nobody.user_id, PASSWORD)
    assert start.status == 303 and answer.status == 302
    refused = browser.get(answer.location)
    assert refused.status == 403 and "Meja Bantuan atau Pentadbir Sistem" in refused.text
    assert browser.get(f"/{realm}/pentadbiran/").status == 303  # not signed in

    # A session that never passed the OTP step (signed in before the task was granted):
    # the token carries the task but amr has no "otp".
    late, late_user = person(stack, realm, "console-late-task")
    browser = stack.browser()
    page = keycloak_page(stack, browser, f"/{realm}/settings/")
    assert browser.login_form(page, late.user_id, PASSWORD).status == 302
    grant(stack.settings, realm, late_user.id, "meja-bantuan")
    sso = browser.get(f"/{realm}/pentadbiran/login")
    back = browser.get(sso.location)  # Keycloak's SSO cookie answers at once
    assert back.status == 302, back.text[:300]
    no_otp = browser.get(back.location)
    # Not signed in; sent to log in again (prompt=login: password and TOTP) once.
    assert no_otp.status == 303 and "/pentadbiran/reauth" in no_otp.location
    assert browser.get(f"/{realm}/pentadbiran/").status == 303
    again = browser.get(no_otp.location)
    assert again.status == 302 and "prompt=login" in again.location
    (event,) = [e for e in stack.events("console:sign_in:refused") if e["subject"] == late.user_id]
    assert event["details"]["reason"] == "console.totp_required"


def test_a_system_administrator_may_grant_approver_tasks(stack):
    realm = "selangor"
    officer = Officer(stack, realm, "console-admin", "pentadbir-sistem")
    officer.sign_in()
    target, target_user = stack.active(realm, "console-approver", PASSWORD)
    assert officer.act(target.user_id, "tugas-tambah", task="ac:pelulus").status == 303
    roles = TaskRoles(bootstrap_admin(stack.settings, realm), realm)
    assert roles.direct(target_user.id) == {"ac:pelulus"}
    # Segregation of duties holds for the administrator too.
    clash = officer.act(target.user_id, "tugas-tambah", task="ac:penyedia")
    assert clash.status == 409 and "pengasingan tugas" in clash.text
