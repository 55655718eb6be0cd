"""First login with an emailed temporary password, by HTTP, against the real Keycloak and SMTP.

The sidecar runs in-process (Flask's test client, CSRF on) with the production
collaborators: each realm's sidecar service account, SMTP to the session's inbox, a
JSON-lines audit file. The browser is one cookie jar per site: the sidecar's requests go
to the in-process app (its public URL is the session's, which Keycloak's redirect URIs
allow), Keycloak's over real HTTP. The temporary password is read from the received
email and typed into Keycloak's own login form, as a person would. The clock is the
real one, which a test may move forward; the two outages are switches that point
Keycloak or SMTP at a closed port.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from click.testing import CliRunner

from idp_extension.commands.users import users as users_command
from idp_extension.demo_users import synthetic_people
from idp_extension.flows import first_login as fl
from idp_extension.flows.answers import ANSWERS_ATTRIBUTE, verify_answer
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.users import ACTIVE
from tests.support import inprocess
from tests.support.constants import NEW_PASSWORD, PHRASE, QUESTIONS_FORM
from tests.support.oidc_login import decode_jwt_claims, login
from tests.support.lockout import wait_until_locked

FORM = {**QUESTIONS_FORM, "image": "hornbill", "phrase": PHRASE}
TEMPORARY = re.compile(r"Kata Laluan Sementara *: (\S+)")
REFUSAL = "Pengguna Tidak Dapat Didaftarkan, Sila Hubungi Pentadbir Sistem"
SENT = "kata laluan sementara telah dihantar ke emel tersebut."
NOT_ACTIVATED = "Akaun anda belum diaktifkan"


class Stack(inprocess.Stack):
    """The shared in-process sidecar (tests/support/inprocess.py), with first login's helpers."""

    def pending(self, realm: str, seed: str):
        """Register a new pending user (a synthetic person); return the record and user."""
        record = synthetic_people(self.tenants[realm], 1, seed=seed)[0]
        user, created = self.admin(realm).register_pending(record)
        assert created, "seeds must make new people"
        return record, user

    def browser(self, realm: str) -> "Browser":  # type: ignore[override]
        return Browser(self, realm)

    def emailed(self, realm: str, seed: str):
        """A new pending user who asked for a temporary password and read the email: the
        record, the user, their browser and the password."""
        record, user = self.pending(realm, seed)
        browser = self.browser(realm)
        return record, user, browser, browser.request_and_read(record)


class Browser(inprocess.Browser):
    """One person's browser on the first-login pages of one realm."""

    def __init__(self, stack: Stack, realm: str) -> None:
        super().__init__(stack)
        self.keycloak = requests.Session()
        self.realm = realm
        self.base = f"/{realm}/first-login"

    # -- the steps ------------------------------------------------------------------

    def request(self, user_id: str, email: str, *, csrf: bool = True) -> inprocess.Page:
        data = {"user_id": user_id, "email": email}
        if csrf:
            data["csrf_token"] = self.csrf(self.base)
        return self.post(self.base, data)

    def request_and_read(self, record) -> str:
        """Ask for a temporary password; return it from the email that arrives."""
        mark = self.stack.inbox.last_id
        answer = self.request(record.user_id, record.email)
        assert answer.status == 303, answer.text[:800]
        message = self.stack.inbox.wait_for(to=record.email, after=mark, timeout=15)
        return TEMPORARY.search(message.text).group(1)

    def keycloak_login(self, username: str, password: str) -> inprocess.Page:
        """From the sent page's "Log Masuk", post Keycloak's form; return its answer."""
        auth = self.get(f"{self.base}/continue")
        assert auth.status == 302 and auth.location.startswith(self.stack.settings.keycloak_url)
        return self.login_at(auth.location, username, password)

    def login_at(self, auth_url: str, username: str, password: str) -> inprocess.Page:
        """Open Keycloak's login page at ``auth_url`` and post its form."""
        return self.login_form(self.get(auth_url), username, password)

    def sign_in(self, username: str, password: str) -> inprocess.Page:
        """Log in with the temporary password and land on the callback; return its answer."""
        answer = self.keycloak_login(username, password)
        assert answer.status == 302, f"Keycloak refused: {answer.text[:300]}"
        return self.get(answer.location)

    def register(self, csrf: str | None = None, **changes) -> inprocess.Page:
        data = {**FORM, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
                "csrf_token": csrf or self.csrf(f"{self.base}/register"), **changes}
        return self.post(f"{self.base}/register", data)

    def at_registration(self, record) -> str:
        """Request, read the email, sign in: the browser is on "Maklumat Pendaftaran Baru"."""
        temporary = self.request_and_read(record)
        callback = self.sign_in(record.user_id, temporary)
        assert callback.status == 303, callback.text[:800]
        assert callback.location.endswith(f"{self.base}/register")
        return temporary

    def portal_login(self, username: str, password: str) -> inprocess.Page:
        """Start the demo portal's login; post Keycloak's form; return Keycloak's answer."""
        start = self.get(f"/{self.realm}/portal/")
        assert start.status == 302 and "client_id=portal-ispeks" in start.location
        return self.login_at(start.location, username, password)


@pytest.fixture
def stack(provisioned_realms, mail_inbox, tmp_path) -> Stack:
    return Stack(provisioned_realms, mail_inbox, tmp_path / "audit.jsonl")


def keycloak_refuses(settings, realm: str, username: str, password: str) -> bool:
    """True if Keycloak's portal login does not accept this password (no token)."""
    outcome = login(settings.keycloak_url, realm, username, password)
    return outcome.tokens is None


# -- the whole flow ----------------------------------------------------------------------


@pytest.mark.parametrize("realm, name", [("melaka", "Pendaftaran"),
                                         ("selangor", "Login Kali Pertama")])
def test_whole_flow_by_http_then_the_portal_with_the_new_password(stack, seed, realm, name):
    record, user = stack.pending(realm, seed)
    browser = stack.browser(realm)
    settings = stack.settings

    form = browser.get(browser.base)
    assert form.status == 200 and f"<h1>{name}</h1>" in form.body
    mark = stack.inbox.last_id
    answer = browser.request(record.user_id, record.email.upper())
    assert answer.status == 303
    sent = browser.get(answer.location)
    assert SENT in sent.text and f'href="{browser.base}/continue"' in sent.body

    message = stack.inbox.wait_for(to=record.email, after=mark, timeout=15)
    temporary = TEMPORARY.search(message.text).group(1)
    # A shared departmental mailbox: the email names the person and their ID.
    assert record.name in message.text and record.user_id in message.text
    assert record.user_id in message.subject and name in message.text
    assert f"{settings.sidecar_public_url}/{realm}/first-login/continue" in message.text

    auth = browser.get(f"{browser.base}/continue")
    query = {k: v[0] for k, v in parse_qs(urlsplit(auth.location).query).items()}
    assert query["client_id"] == "ispeks-sidecar" and query["prompt"] == "login"
    assert query["code_challenge_method"] == "S256"
    assert query["redirect_uri"] == f"{settings.sidecar_public_url}/{realm}/first-login/callback"
    at_keycloak = browser.login_at(auth.location, record.user_id, temporary)
    assert at_keycloak.status == 302 and at_keycloak.location.startswith(
        f"{settings.sidecar_public_url}/{realm}/first-login/callback?")
    callback = browser.get(at_keycloak.location)
    assert callback.status == 303 and callback.location.endswith("/first-login/register")

    page = browser.get(callback.location)
    assert page.status == 200 and "Maklumat Pendaftaran Baru" in page.text
    for shown in (record.user_id, record.name, record.email):
        assert shown in page.text
    done = browser.register()
    assert done.status == 303 and done.location.endswith("/first-login/done")
    done_page = browser.get(done.location)
    assert "Pendaftaran telah berjaya, pengguna boleh menggunakan sistem Portal iSPEKS." in (
        done_page.text)
    assert f'href="/{realm}/portal/"' in done_page.body

    stored = stack.admin(realm).get(user.id)
    assert stored.activation_state == ACTIVE
    assert stored.attributes[fl.PHRASE_ATTRIBUTE] == ["Pelangi di Bukit Hijau"]
    assert stored.attributes[fl.IMAGE_ATTRIBUTE] == ["hornbill"]
    assert verify_answer(stored.attributes[ANSWERS_ATTRIBUTE][0], "first_car", "KANCIL MERAH")
    assert fl.EXPIRES_ATTRIBUTE not in stored.attributes
    assert fl.ISSUE_ATTRIBUTE not in stored.attributes

    # Log in again: Keycloak asks for the password (its session ended at the callback),
    # takes the new one, and the portal shows the dashboard with name and department.
    at_portal = browser.portal_login(record.user_id, NEW_PASSWORD)
    assert at_portal.status == 302, at_portal.text[:300]
    assert browser.get(at_portal.location).location.endswith(f"/{realm}/portal/dashboard")
    dashboard = browser.get(f"/{realm}/portal/dashboard")
    assert dashboard.status == 200
    assert record.name in dashboard.text and record.department in dashboard.text

    # The temporary password is single use, and never written down anywhere.
    assert keycloak_refuses(settings, realm, record.user_id, temporary)
    events = [e["event"] for e in stack.audit()]
    for event in ("account:temporary_password:sent", "account:first_login:signed_in",
                  "account:first_login:completed"):
        assert event in events
    audit_text = stack.audit_path.read_text()
    assert temporary not in audit_text and NEW_PASSWORD not in audit_text
    admin_events = json.dumps(bootstrap_admin(settings, realm).get_admin_events({"max": 500}))
    assert temporary not in admin_events and NEW_PASSWORD not in admin_events


def test_tokens_after_first_login_carry_the_department(stack, seed):
    record, _ = stack.pending("melaka", seed)
    browser = stack.browser("melaka")
    browser.at_registration(record)
    assert browser.register().status == 303

    outcome = login(stack.settings.keycloak_url, "melaka", record.user_id, NEW_PASSWORD)

    claims = decode_jwt_claims(outcome.tokens["id_token"])
    assert claims["department"] == record.department
    assert decode_jwt_claims(outcome.tokens["access_token"])["department"] == record.department
    assert not any(key.startswith("ispeks_") for key in claims)


# -- asking: ID and email ----------------------------------------------------------------


def test_every_mismatch_gets_the_same_confirmation_and_no_email(stack, seed):
    record, user = stack.pending("melaka", seed)
    other, _ = stack.pending("melaka", seed + ":other")
    browser = stack.browser("melaka")
    mark = stack.inbox.last_id
    cases = {
        "unknown ID": ("850101035555", "aminah.hassan@melaka.gov.my"),
        "unknown company ID": ("201901999999", record.email),
        "email not matching": (record.user_id, other.email),
        "email outside the domain": (record.user_id,
                                     record.email.replace("@melaka.gov.my", "@gmail.com")),
        "another state's ID": (synthetic_people(stack.tenants["selangor"], 1, seed=seed)[0].user_id,
                               record.email),
    }

    for case, (user_id, email) in cases.items():
        answer = browser.request(user_id, email)
        if case == "email outside the domain":
            # Told at once: it depends on the typed address alone, not on the ID.
            assert answer.status == 400 and REFUSAL in answer.text, case
            assert "06-555 0404" in answer.text, case  # Melaka's helpdesk, next to it
            continue
        # Whatever the ID: the confirmation of a match, with whom to call if no email comes.
        assert answer.status == 303 and answer.location.endswith("/melaka/first-login/sent"), case
        sent = browser.get(answer.location)
        assert SENT in sent.text and "06-555 0404" in sent.text, case

    assert stack.nothing_sent_since(mark)
    stored = stack.admin("melaka").get(user.id)
    assert fl.EXPIRES_ATTRIBUTE not in stored.attributes and stored.activation_state == "pending"
    reasons = [e["details"]["reason"] for e in stack.audit()
               if e["event"] == "account:first_login:rejected"]
    assert reasons == ["unknown", "unknown", "email_mismatch", "email_domain", "unknown"]


@pytest.mark.parametrize("raw", ["12345", "ABC123", "12345678-X", "201909000001"])
def test_a_malformed_id_or_company_id_is_a_field_error(stack, raw):
    browser = stack.browser("selangor")
    mark = stack.inbox.last_id

    answer = browser.request(raw, "ali.bakar@selangor.gov.my")

    assert answer.status == 400 and 'aria-invalid="true"' in answer.body
    assert "No Pendaftaran Syarikat" in answer.text
    assert stack.nothing_sent_since(mark)


def test_posts_without_the_csrf_token_are_refused(stack, seed):
    record, user = stack.pending("melaka", seed)
    browser = stack.browser("melaka")
    mark = stack.inbox.last_id

    assert browser.request(record.user_id, record.email, csrf=False).status == 400
    assert stack.nothing_sent_since(mark)

    browser.at_registration(record)
    answer = browser.post(f"{browser.base}/register",
                          {**FORM, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert answer.status == 400
    assert stack.admin("melaka").get(user.id).activation_state == "pending"


def test_smtp_down_answers_the_same_is_audited_and_leaves_nothing_usable(stack, seed):
    record, user = stack.pending("melaka", seed)
    browser = stack.browser("melaka")
    mark = stack.inbox.last_id
    stack.smtp.down = True

    answer = browser.request(record.user_id, record.email)

    assert answer.status == 303 and answer.location.endswith("/melaka/first-login/sent")
    failed = stack.wait_for_event("mail:send:failed", record.user_id)
    assert failed["details"] == {"purpose": "first_login", "reason": "mail_unavailable"}
    assert stack.nothing_sent_since(mark)
    stored = stack.admin("melaka").get(user.id)
    assert stored.activation_state == "pending"
    assert fl.EXPIRES_ATTRIBUTE not in stored.attributes and fl.ISSUE_ATTRIBUTE not in stored.attributes
    stack.smtp.down = False
    assert browser.request_and_read(record)  # asking again works at once


def test_keycloak_down_is_503_and_changes_nothing(stack, seed):
    record, user = stack.pending("melaka", seed)
    browser = stack.browser("melaka")
    mark = stack.inbox.last_id
    stack.keycloak.down = True

    assert browser.request(record.user_id, record.email).status == 503

    assert stack.nothing_sent_since(mark)
    stack.keycloak.down = False
    assert fl.EXPIRES_ATTRIBUTE not in stack.admin("melaka").get(user.id).attributes

    # Down again when "Aktif" is pressed: nothing changes, and pressing it again works.
    temporary = browser.at_registration(record)
    token = browser.csrf(f"{browser.base}/register")
    stack.keycloak.down = True
    assert browser.register(csrf=token).status == 503
    stack.keycloak.down = False
    stored = stack.admin("melaka").get(user.id)
    assert stored.activation_state == "pending" and fl.PHRASE_ATTRIBUTE not in stored.attributes
    assert browser.register().status == 303
    assert keycloak_refuses(stack.settings, "melaka", record.user_id, temporary)


# -- the temporary password at Keycloak --------------------------------------------------


def test_an_expired_temporary_password_is_refused_and_void(stack, seed):
    record, user, browser, temporary = stack.emailed("selangor", seed)
    stack.clock.offset = timedelta(minutes=stack.tenants["selangor"].temporary_password_minutes)

    callback = browser.sign_in(record.user_id, temporary)

    assert callback.status == 403
    assert "tamat tempoh" in callback.text and f'href="{browser.base}"' in callback.body
    assert fl.EXPIRES_ATTRIBUTE not in stack.admin("selangor").get(user.id).attributes
    # Scrambled: the emailed password no longer opens even Keycloak's login.
    assert browser.keycloak_login(record.user_id, temporary).status == 200


def test_a_newer_request_voids_the_older_password_and_its_sign_in(stack, seed):
    record, user = stack.pending("melaka", seed)
    browser = stack.browser("melaka")
    first = browser.at_registration(record)
    token = browser.csrf(f"{browser.base}/register")
    stack.clock.offset = timedelta(seconds=fl.REPEAT_WINDOW_SECONDS + 1)

    second = stack.browser("melaka").request_and_read(record)

    assert first != second
    # The older sign-in cannot complete, and the older password fails at Keycloak.
    page = browser.get(f"{browser.base}/register")
    assert page.status == 409 and "lebih baharu" in page.text
    assert browser.register(csrf=token).status == 409
    other = stack.browser("melaka")
    assert other.keycloak_login(record.user_id, first).status == 200
    assert other.sign_in(record.user_id, second).status == 303
    assert other.register().status == 303


def test_three_wrong_passwords_lock_until_the_administrator_unlocks(stack, seed):
    record, user, browser, temporary = stack.emailed("melaka", seed)

    for _ in range(3):
        assert browser.keycloak_login(record.user_id, "Salah-Kata-Laluan1").status == 200
    wait_until_locked(stack.admin("melaka"), user.id)
    assert browser.keycloak_login(record.user_id, temporary).status == 200, "locked"
    assert stack.admin("melaka").get(user.id).permanently_locked
    # A locked account gets no new temporary password either: "Pentadbir Sistem".
    mark = stack.inbox.last_id
    refused = browser.request(record.user_id, record.email)
    assert refused.status == 303  # the same answer as for anyone
    assert stack.events("account:first_login:rejected")[-1]["details"]["reason"] == "locked"
    assert stack.nothing_sent_since(mark)

    result = CliRunner().invoke(users_command, ["unlock", "--state", "melaka", record.user_id],
                                obj=stack.settings)

    assert result.exit_code == 0, result.output
    assert browser.sign_in(record.user_id, temporary).status == 303
    assert browser.register().status == 303


def test_a_pending_user_cannot_use_the_temporary_password_at_a_portal(stack, seed):
    record, user, browser, temporary = stack.emailed("selangor", seed)

    at_portal = browser.portal_login(record.user_id, temporary)

    assert at_portal.status != 302, "a portal must not get a code for a pending account"
    assert NOT_ACTIVATED in at_portal.text and "Login Kali Pertama" in at_portal.text
    outcome = login(stack.settings.keycloak_url, "selangor", record.user_id, temporary,
                    client_id="ispeks-main")
    assert outcome.tokens is None
    # Measured on Keycloak 26.7.3: a refusal counts as a failed login (brute force).
    status = bootstrap_admin(stack.settings, "selangor").get_bruteforce_detection_status(user.id)
    assert status["numFailures"] == 2
    # The completion page still works, and afterwards the portal lets the user in.
    browser.sign_in(record.user_id, temporary)
    assert browser.register().status == 303
    assert browser.portal_login(record.user_id, NEW_PASSWORD).status == 302


# -- "Aktif" -----------------------------------------------------------------------------


def test_bad_registrations_are_refused_clearly_and_change_nothing(stack, seed):
    record, user = stack.pending("melaka", seed)
    browser = stack.browser("melaka")
    temporary = browser.at_registration(record)
    cases = [
        ({"password": "lemah123", "confirm": "lemah123"},
         "Panjang aksara mesti tidak kurang daripada 12."),
        ({"password": temporary, "confirm": temporary},
         fl.MESSAGES["ms"][fl.PASSWORD_REUSED]),  # Keycloak's password history
        ({"question_2": "mother_name"}, "Setiap soalan keselamatan mesti berbeza."),
        ({"phrase": "x" * 61}, fl.MESSAGES["ms"][fl.PHRASE_TOO_LONG]),
        ({"phrase": "<img src=x onerror=alert(1)>"}, fl.MESSAGES["ms"][fl.PHRASE_MARKUP]),
        ({"image": ""}, fl.MESSAGES["ms"][fl.IMAGE_REQUIRED]),
    ]

    for changes, message in cases:
        answer = browser.register(**changes)
        assert answer.status == 400, changes
        assert message in answer.text, changes
        assert "<img src=x" not in answer.body  # what was typed comes back escaped

    stored = stack.admin("melaka").get(user.id)
    assert stored.activation_state == "pending" and fl.PHRASE_ATTRIBUTE not in stored.attributes
    assert browser.keycloak_login(record.user_id, temporary).status == 302  # still the same
    browser2 = stack.browser("melaka")
    browser2.sign_in(record.user_id, temporary)
    assert browser2.register().status == 303


def test_the_sign_in_is_a_new_session_without_tokens_and_dies_with_aktif(stack, seed):
    record, _ = stack.pending("selangor", seed)
    browser = stack.browser("selangor")
    # Something planted in the browser's session before the login (fixation attempt).
    with browser.sidecar.session_transaction() as planted:
        planted["settings.user"] = {"iss": "planted", "sid": "chosen-by-an-attacker"}
        planted["csrf_token"] = "planted"
    browser.at_registration(record)
    cookie = browser.sidecar.get_cookie("ispeks_session").value
    stored = stack.app.session_interface.get_signing_serializer(stack.app).loads(cookie)

    assert set(stored) <= {"first_login.user", "csrf_token"}
    assert stored.get("csrf_token") != "planted"
    assert set(stored["first_login.user"]) == {"realm", "sub", "user_id", "auth_time", "issue",
                                               "at", "sid"}

    assert browser.register().status == 303
    thief = stack.browser("selangor")
    thief.sidecar.set_cookie("ispeks_session", cookie)
    assert thief.get("/selangor/first-login/register").status == 401
