"""Forgotten password ("Lupa Kata Laluan") by HTTP against the real Keycloak and SMTP server.

The sidecar runs in-process (tests/support/inprocess.py: Flask's test client with CSRF on,
the production collaborators, a clock the test may move). The emailed link is read from
the session's SMTP inbox and followed, the new password is checked by logging in at
Keycloak's own form, and "sign out everywhere" by a portal session opened beforehand.
"""

from __future__ import annotations

import dataclasses
import re
import time
from datetime import timedelta

import pytest
import requests
from click.testing import CliRunner

from idp_extension.commands.users import users as users_command
from idp_extension.flows.recovery import NONCE_ATTRIBUTE
from idp_extension.gateway.users import RECOVERY_FAILURES
from tests.support.constants import ANSWER_TO, NEW_PASSWORD, OLD_PASSWORD
from tests.support.inprocess import Stack, same_shape
from tests.support.oidc_login import decode_jwt_claims, login
from tests.support.lockout import wait_until_locked

LINK = re.compile(r"https?://\S+?/(?P<realm>[a-z]+)/recovery/link/(?P<token>[A-Za-z0-9_.\-]+)")
ASKED = re.compile(r'name="answer_([a-z_]+)"')
SENT = "emel untuk menetapkan semula kata laluan telah dihantar ke emel rasmi yang didaftarkan"


class Recovery:
    """One person going through the recovery pages of one realm."""

    def __init__(self, stack: Stack, realm: str) -> None:
        self.stack = stack
        self.realm = realm
        self.browser = stack.browser()
        self.base = f"/{realm}/recovery"

    def request(self, user_id: str):
        return self.browser.submit(self.base, {"user_id": user_id})

    def request_and_read_link(self, record) -> str:
        mark = self.stack.inbox.last_id
        answer = self.request(record.user_id)
        assert answer.status == 200 and SENT in answer.text, answer.text[:500]
        message = self.stack.inbox.wait_for(to=record.email, after=mark, timeout=15)
        return LINK.search(message.text).group(0)

    def open(self, link: str):
        return self.browser.get(link)

    def asked(self) -> list[str]:
        page = self.browser.get(f"{self.base}/questions")
        assert page.status == 200, page.text[:500]
        return ASKED.findall(page.body)

    def answer(self, right: bool = True):
        data = {f"answer_{q}": ANSWER_TO[q] if right else "Jawapan Salah" for q in self.asked()}
        return self.browser.submit(f"{self.base}/questions", data)

    def password(self, password: str, confirm: str | None = None, *, end_sessions: bool = True):
        data = {"password": password, "confirm": password if confirm is None else confirm}
        if end_sessions:
            data["end_sessions"] = "on"
        return self.browser.submit(f"{self.base}/password", data)

    def at_password_step(self, record) -> str:
        link = self.request_and_read_link(record)
        assert self.open(link).status == 303
        answered = self.answer()
        assert answered.status == 303, answered.text[:500]
        return link


def portal_session(settings, realm: str, user_id: str, password: str) -> str:
    """Sign in to a portal at Keycloak; return the session's refresh token."""
    outcome = login(settings.keycloak_url, realm, user_id, password)
    assert outcome.status == 302, outcome.error
    return outcome.tokens["refresh_token"]


def session_alive(settings, realm: str, refresh_token: str) -> bool:
    """True if Keycloak still honours the portal session's refresh token."""
    answer = requests.post(
        f"{settings.keycloak_url}/realms/{realm}/protocol/openid-connect/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token,
              "client_id": "portal-ispeks"}, timeout=30)
    return answer.status_code == 200


def logs_in(settings, realm: str, user_id: str, password: str) -> bool:
    return login(settings.keycloak_url, realm, user_id, password).status == 302


# -- the happy path ------------------------------------------------------------------------


@pytest.mark.parametrize("realm", ["pahang", "melaka"], ids=["activation-link", "temporary-password"])
def test_recovery_by_email_and_two_questions_then_log_in_again(stack, seed, realm):
    settings = stack.settings
    record, user = stack.active(realm, seed, OLD_PASSWORD)
    portal = portal_session(settings, realm, record.user_id, OLD_PASSWORD)
    assert session_alive(settings, realm, portal)
    recovery = Recovery(stack, realm)
    mark = stack.inbox.last_id

    # "Lupa Kata Laluan": the ID, then a confirmation naming no address.
    form = recovery.browser.get(recovery.base)
    assert form.status == 200 and "<h1>Lupa Kata Laluan</h1>" in form.body
    sent = recovery.request(record.user_id)
    assert sent.status == 200 and SENT in sent.text and record.email not in sent.text

    # The email: to the registered address, naming the person and the ID, 30 minutes.
    email = stack.inbox.wait_for(to=record.email, after=mark, timeout=15)
    assert email.subject == f"Lupa Kata Laluan iSPEKS: ID Pengguna {record.user_id}"
    assert record.name in email.text and "sah dalam tempoh 30 minit sahaja" in email.text
    link = LINK.search(email.text)
    assert link.group("realm") == realm and link.group(0) in email.html

    # The link: into a cookie; then two of the three questions, the same two on reload.
    opened = recovery.open(link.group(0))
    assert opened.status == 303 and opened.location == f"{recovery.base}/questions"
    asked = recovery.asked()
    assert len(asked) == 2 and set(asked) < set(ANSWER_TO) and recovery.asked() == asked
    answered = recovery.answer()
    assert answered.status == 303 and answered.location == f"{recovery.base}/password"

    # The new password, signing out of every other session.
    page = recovery.browser.get(f"{recovery.base}/password")
    assert 'id="password-form"' in page.body and "js/activation.js" in page.body
    done = recovery.password(NEW_PASSWORD)
    assert done.status == 200, done.text[:800]
    assert "Kata laluan anda telah berjaya ditetapkan semula" in done.text
    assert "Anda telah dilog keluar daripada semua sesi lain." in done.text

    # Keycloak: the portal's session is gone, the old password too; the new one works.
    assert not session_alive(settings, realm, portal)
    assert stack.sessions(realm, user.id) == []
    assert not logs_in(settings, realm, record.user_id, OLD_PASSWORD)
    fresh = login(settings.keycloak_url, realm, record.user_id, NEW_PASSWORD)
    assert fresh.status == 302, fresh.error
    assert decode_jwt_claims(fresh.tokens["id_token"])["preferred_username"] == record.user_id
    stored = stack.admin(realm).get(user.id)
    assert NONCE_ATTRIBUTE not in stored.attributes and stored.enabled

    # A notification, and the audit trail (without secrets).
    notice = stack.inbox.wait_for(to=record.email, after=email.id, timeout=15)
    assert notice.subject.startswith("Kata Laluan iSPEKS Telah Ditetapkan Semula")
    assert [e["event"] for e in stack.audit()] == [
        "account:recovery:requested", "account:recovery:link_opened",
        "account:recovery:answers_accepted", "account:recovery:completed"]
    written = stack.audit_path.read_text()
    for secret in (link.group("token"), NEW_PASSWORD, OLD_PASSWORD, *ANSWER_TO.values()):
        assert secret not in written


def test_the_other_sessions_stay_when_the_box_is_unticked(stack, seed):
    settings = stack.settings
    record, user = stack.active("selangor", seed, OLD_PASSWORD)
    portal = portal_session(settings, "selangor", record.user_id, OLD_PASSWORD)
    recovery = Recovery(stack, "selangor")
    recovery.at_password_step(record)

    done = recovery.password(NEW_PASSWORD, end_sessions=False)

    assert done.status == 200 and "sesi lain" not in done.text
    assert session_alive(settings, "selangor", portal)
    assert logs_in(settings, "selangor", record.user_id, NEW_PASSWORD)


# -- the bad paths -------------------------------------------------------------------------


def test_an_unknown_id_gets_the_same_answer_and_no_email(stack, seed):
    record, _ = stack.active("kelantan", seed, OLD_PASSWORD)
    unknown = stack.person("kelantan", seed + ":nobody").user_id
    recovery = Recovery(stack, "kelantan")
    mark = stack.inbox.last_id

    started = time.monotonic()
    unknown_page = recovery.request(unknown)
    unknown_seconds = time.monotonic() - started
    real_page = recovery.request(record.user_id)
    stack.inbox.wait_for(to=record.email, after=mark, timeout=15)

    assert unknown_page.status == real_page.status == 200
    assert SENT in unknown_page.text
    # The same page but for the form's fresh CSRF token.
    assert same_shape([unknown_page.body, real_page.body],
                      re.compile(r'name="csrf_token" value="[^"]+"'))
    assert unknown_seconds >= 0.3  # padded like a real send
    assert [m.to for m in stack.messages_since(mark)] == [(record.email,)]
    [ignored] = [e for e in stack.audit() if e["subject"] == unknown]
    assert ignored["details"]["reason"] == "unknown"


def test_a_pending_user_gets_no_recovery(stack, seed):
    record = stack.person("pahang", seed)
    stack.admin("pahang").register_pending(record)
    recovery = Recovery(stack, "pahang")
    mark = stack.inbox.last_id
    answer = recovery.request(record.user_id)
    assert answer.status == 200 and SENT in answer.text
    assert stack.messages_since(mark) == []
    [ignored] = stack.events("account:recovery:requested")
    assert ignored["subject"] == record.user_id and ignored["details"]["reason"] == "not_active"


def test_three_wrong_answers_lock_the_account_until_the_administrator_unlocks(stack, seed):
    settings = stack.settings
    record, user = stack.active("melaka", seed, OLD_PASSWORD)
    recovery = Recovery(stack, "melaka")
    link = recovery.request_and_read_link(record)
    recovery.open(link)
    mark = stack.inbox.last_id

    first = recovery.answer(right=False)
    assert first.status == 400 and "Baki percubaan: 2" in first.text
    assert stack.admin("melaka").get(user.id).attributes[RECOVERY_FAILURES] == ["1"]
    second = recovery.answer(right=False)
    assert second.status == 400 and "Baki percubaan: 1" in second.text
    third = recovery.answer(right=False)
    assert third.status == 403
    assert "Akaun anda telah disekat kerana jawapan keselamatan yang salah sebanyak 3 kali" in third.text

    # Locked for an administrator: disabled in Keycloak, no login, no new link.
    locked = stack.admin("melaka").get(user.id)
    assert not locked.enabled and locked.locked_by_recovery
    assert not logs_in(settings, "melaka", record.user_id, OLD_PASSWORD)
    notice = stack.inbox.wait_for(to=record.email, after=mark, timeout=15)
    assert notice.subject.startswith("Akaun iSPEKS Telah Disekat")
    reopened = recovery.open(link)  # the link died with the lock, and says why
    assert reopened.status == 403 and "Sila hubungi Pentadbir Sistem" in reopened.text
    again = stack.inbox.last_id
    recovery.request(record.user_id)
    assert stack.messages_since(again) == []
    assert stack.events("account:recovery:requested")[-1]["details"]["reason"] == "locked_by_recovery"
    wrong = [e for e in stack.audit() if e["details"].get("reason") == "wrong_answers"]
    assert [e["details"]["failures"] for e in wrong] == [1, 2, 3]
    assert "account:locked" in [e["event"] for e in stack.audit()]

    # "ispeks-idp users unlock" lifts it: login works, recovery starts from zero.
    result = CliRunner().invoke(users_command, ["unlock", "--state", "melaka", record.user_id],
                                obj=settings)
    assert result.exit_code == 0, result.output
    unlocked = stack.admin("melaka").get(user.id)
    assert unlocked.enabled and RECOVERY_FAILURES not in unlocked.attributes
    assert logs_in(settings, "melaka", record.user_id, OLD_PASSWORD)
    fresh = Recovery(stack, "melaka")
    fresh.at_password_step(record)
    assert fresh.password(NEW_PASSWORD).status == 200


def test_an_expired_link_is_refused_after_30_minutes_and_a_second(stack, seed):
    record, user = stack.active("pahang", seed, OLD_PASSWORD)
    recovery = Recovery(stack, "pahang")
    link = recovery.request_and_read_link(record)

    stack.clock.offset = timedelta(minutes=30, seconds=1)
    expired = recovery.open(link)

    assert expired.status == 410
    assert "Pautan tetapan semula kata laluan ini telah tamat tempoh" in expired.text
    assert stack.admin("pahang").get(user.id).attributes.get(NONCE_ATTRIBUTE)  # nothing changed
    assert logs_in(stack.settings, "pahang", record.user_id, OLD_PASSWORD)


def test_a_link_is_used_once(stack, seed):
    record, _ = stack.active("selangor", seed, OLD_PASSWORD)
    recovery = Recovery(stack, "selangor")
    link = recovery.at_password_step(record)
    assert recovery.password(NEW_PASSWORD).status == 200

    again = Recovery(stack, "selangor")  # another browser with the same email
    reused = again.open(link)

    assert reused.status == 410 and "Pautan ini telah digunakan" in reused.text
    assert logs_in(stack.settings, "selangor", record.user_id, NEW_PASSWORD)


def test_a_newer_link_supersedes_the_older(stack, seed):
    record, _ = stack.active("kelantan", seed, OLD_PASSWORD)
    recovery = Recovery(stack, "kelantan")
    older = recovery.request_and_read_link(record)
    newer = recovery.request_and_read_link(record)
    assert recovery.open(older).status == 410
    assert recovery.open(newer).status == 303


def test_a_weak_password_is_refused_and_nothing_changes(stack, seed):
    record, _ = stack.active("pahang", seed, OLD_PASSWORD)
    recovery = Recovery(stack, "pahang")
    recovery.at_password_step(record)

    weak = recovery.password("katalaluan")

    assert weak.status == 400
    assert "Kata laluan anda tidak menepati syarat-syarat berikut" in weak.text
    assert "Mesti mengandungi aksara berhuruf besar." in weak.text
    assert logs_in(stack.settings, "pahang", record.user_id, OLD_PASSWORD)


def test_the_current_password_is_refused_by_keycloak_history_then_another_works(stack, seed):
    record, user = stack.active("melaka", seed, OLD_PASSWORD)
    recovery = Recovery(stack, "melaka")
    recovery.at_password_step(record)

    reused = recovery.password(OLD_PASSWORD)

    assert reused.status == 400
    assert "Kata laluan ini telah digunakan baru-baru ini. Sila pilih kata laluan lain." in reused.text
    assert stack.admin("melaka").get(user.id).attributes.get(NONCE_ATTRIBUTE)  # link still good
    refusal = [e for e in stack.audit() if e["event"] == "account:recovery:failed"][-1]
    assert refusal["details"]["policy"] == "password.policy.history"
    assert recovery.password(NEW_PASSWORD).status == 200
    assert logs_in(stack.settings, "melaka", record.user_id, NEW_PASSWORD)


def test_a_brute_force_lock_stays_unless_the_state_lets_recovery_lift_it(
        provisioned_realms, mail_inbox, tmp_path, seed):
    plain = Stack(provisioned_realms, mail_inbox, tmp_path / "plain.jsonl")
    record, user = plain.active("selangor", seed, OLD_PASSWORD)
    for _ in range(3):
        assert not logs_in(plain.settings, "selangor", record.user_id, "Salah-Kata-Laluan1")
    wait_until_locked(plain.admin("selangor"), user.id)

    # Locked at the login form: no email where the state keeps recovery from unlocking.
    mark = mail_inbox.last_id
    Recovery(plain, "selangor").request(record.user_id)
    assert plain.messages_since(mark) == []
    assert plain.events("account:recovery:requested")[-1]["details"]["reason"] == "locked"

    # With recovery_may_unlock the two proofs lift the lock.
    tenants = {name: dataclasses.replace(t, recovery_may_unlock=True)
               for name, t in plain.tenants.items()}
    lenient = Stack(provisioned_realms, mail_inbox, tmp_path / "lenient.jsonl", tenants=tenants)
    recovery = Recovery(lenient, "selangor")
    recovery.at_password_step(record)
    done = recovery.password(NEW_PASSWORD)
    assert done.status == 200 and "Sekatan akaun anda telah dibuka." in done.text
    assert logs_in(plain.settings, "selangor", record.user_id, NEW_PASSWORD)
    assert "account:unlocked" in [e["event"] for e in lenient.audit()]
