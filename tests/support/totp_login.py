"""Sign in through Keycloak step by step over HTTP: password, then a TOTP code or enrolment.

Test-only, like ``oidc_login`` (whose PKCE and cookie helpers it reuses): one
``StepLogin`` is one browser tab. After each post it follows Keycloak's redirects to
the next page (the OTP form, the CONFIGURE_TOTP enrolment page) or, at the client's
redirect URI, exchanges the code for tokens (public clients only; for the sidecar's
confidential client the test stops at the callback). Codes come from pyotp
(``authenticator``), with ``steady_window`` keeping a code away from a period boundary.
"""

from __future__ import annotations

import base64
import html
import re
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pyotp
import requests

from tests.support.addresses import loopback_session
from tests.support.oidc_login import CALLBACK, _feedback, _pkce_pair, _unsecure

PERIOD = 30
# Forms each page carries (the iSPEKS theme keeps Keycloak's ids).
PASSWORD_FORM = "kc-form-login"
OTP_FORM = "kc-otp-login-form"
ENROL_FORM = "kc-totp-settings-form"


@dataclass
class Step:
    """Where one submission led: a page of the login, or the client's callback."""

    status: int
    url: str
    body: str = field(default="", repr=False)
    tokens: dict | None = None
    callback: dict | None = None

    @property
    def form(self) -> str | None:
        """The id of the login form on the page (password, OTP or enrolment), if any."""
        for form_id in (PASSWORD_FORM, OTP_FORM, ENROL_FORM):
            if f'id="{form_id}"' in self.body:
                return form_id
        return None

    @property
    def asks_password(self) -> bool:
        return self.form == PASSWORD_FORM

    @property
    def asks_code(self) -> bool:
        return self.form == OTP_FORM

    @property
    def asks_enrolment(self) -> bool:
        return self.form == ENROL_FORM

    @property
    def done(self) -> bool:
        return self.callback is not None

    @property
    def error(self) -> str | None:
        return _feedback(self.body)

    def totp_key(self) -> str:
        """The base32 key the enrolment page shows in text (spaces removed)."""
        match = re.search(r'id="kc-totp-secret-key"[^>]*>([^<]+)<', self.body)
        if match is None:
            raise AssertionError(f"no TOTP key on the page at {self.url}")
        return re.sub(r"\s+", "", html.unescape(match.group(1)))


def authenticator(key: str) -> pyotp.TOTP:
    """An authenticator app for ``key``, with the realm's policy (SHA-1, 6 digits, 30 s)."""
    return pyotp.TOTP(key, digits=6, interval=PERIOD)


def steady_window(min_left: float = 6.0) -> None:
    """Wait, if need be, until at least ``min_left`` seconds remain in the current period,
    so that a code computed now is judged by Keycloak in the same period."""
    left = PERIOD - time.time() % PERIOD
    if left < min_left:
        time.sleep(left + 0.2)


def next_unused_code(app: pyotp.TOTP, used: set[str]) -> str:
    """A code Keycloak accepts now that was not used yet (Keycloak refuses a code twice).

    The realm looks one period around (``lookAroundWindow`` 1), so the current, the next
    and the previous period's codes all open a login: no need to wait for a fresh
    period. The next period's code stays valid the longest (until the end of the period
    after this one), the previous one's only until this period ends, which
    ``steady_window`` leaves at least 6 s of. Only when all three were used does it wait
    for the next period (at most one period)."""
    while True:
        steady_window()
        now = time.time()
        for shift in (0, PERIOD, -PERIOD):
            code = app.at(now + shift)
            if code not in used:
                used.add(code)
                return code
        time.sleep(PERIOD - time.time() % PERIOD + 0.2)


class StepLogin:
    """One code-flow login with PKCE, driven a page at a time."""

    def __init__(self, keycloak_url: str, realm: str, *, client_id: str = "portal-ispeks",
                 redirect_uri: str = CALLBACK, source_address: str | None = None,
                 locale: str | None = None, extra: dict | None = None,
                 exchange: bool = True, session: requests.Session | None = None) -> None:
        self.session = session or loopback_session(source_address)
        self.base = f"{keycloak_url}/realms/{realm}/protocol/openid-connect"
        self.client_id, self.redirect_uri, self.exchange = client_id, redirect_uri, exchange
        self.verifier, challenge = _pkce_pair()
        self.state = secrets.token_urlsafe(16)
        self.params = {
            "client_id": client_id, "response_type": "code", "redirect_uri": redirect_uri,
            "scope": "openid profile email", "state": self.state,
            "code_challenge": challenge, "code_challenge_method": "S256", **(extra or {}),
        }
        if locale:
            self.params["ui_locales"] = locale
        self.page: Step | None = None

    def start(self) -> Step:
        """Open the authorization endpoint (a login page, or at once the callback)."""
        answer = self.session.get(f"{self.base}/auth", params=self.params,
                                  allow_redirects=False, timeout=30)
        return self._follow(answer)

    def password(self, username: str, password: str) -> Step:
        return self._post(PASSWORD_FORM, {"username": username, "password": password})

    def code(self, otp: str) -> Step:
        """Answer the OTP form."""
        return self._post(OTP_FORM, {"otp": otp})

    def enrol(self, otp: str, label: str = "") -> Step:
        """Answer the enrolment page with a code of the key it shows."""
        hidden = re.search(r'id="totpSecret" name="totpSecret" value="([^"]*)"', self.page.body)
        data = {"totp": otp, "totpSecret": html.unescape(hidden.group(1)), "userLabel": label}
        mode = re.search(r'id="mode" name="mode" value="([^"]*)"', self.page.body)
        if mode:
            data["mode"] = mode.group(1)
        return self._post(ENROL_FORM, data)

    def first_login_enrolling(self, username: str, password: str, label: str = "Telefon ujian"):
        """The first login of a user whose task requires TOTP: the password, then an
        authenticator app (pyotp) made from the key the enrolment page shows. Returns the
        app, the codes used so far, and the last step (the callback)."""
        assert self.start().asks_password
        page = self.password(username, password)
        assert page.asks_enrolment, page.error or page.body[:400]
        app, used = authenticator(page.totp_key()), set()
        done = self.enrol(next_unused_code(app, used), label=label)
        assert done.done, done.error or done.body[:400]
        return app, used, done

    def _post(self, form_id: str, data: dict) -> Step:
        assert self.page is not None and self.page.form == form_id, (
            f"expected form {form_id}, page is {self.page.form if self.page else None}: "
            f"{(self.page.body if self.page else '')[:300]}")
        action = re.search(rf'<form[^>]*id="{form_id}"[^>]*action="([^"]+)"', self.page.body) or \
            re.search(rf'<form[^>]*action="([^"]+)"[^>]*id="{form_id}"', self.page.body)
        _unsecure(self.session)
        answer = self.session.post(html.unescape(action.group(1)), data=data,
                                   allow_redirects=False, timeout=30)
        return self._follow(answer)

    def _follow(self, answer: requests.Response) -> Step:
        for _ in range(10):
            _unsecure(self.session)
            location = answer.headers.get("Location", "")
            if answer.status_code in (302, 303) and location.startswith(self.redirect_uri):
                self.page = self._callback(location)
                return self.page
            if answer.status_code not in (302, 303):
                break
            answer = self.session.get(location, allow_redirects=False, timeout=30)
        self.page = Step(answer.status_code, answer.url, body=answer.text)
        return self.page

    def _callback(self, location: str) -> Step:
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        assert query.get("state") == self.state, "state must round-trip"
        tokens = None
        if self.exchange and "code" in query:
            answer = self.session.post(f"{self.base}/token", data={
                "grant_type": "authorization_code", "code": query["code"],
                "redirect_uri": self.redirect_uri, "client_id": self.client_id,
                "code_verifier": self.verifier}, timeout=30)
            answer.raise_for_status()
            tokens = answer.json()
        return Step(302, location, tokens=tokens, callback=query)


def login_with_totp(keycloak_url: str, realm: str, username: str, password: str,
                    app: pyotp.TOTP, used: set[str], **kwargs) -> Step:
    """Password, then a fresh code: the whole login of a user with an authenticator app."""
    login = StepLogin(keycloak_url, realm, **kwargs)
    assert login.start().asks_password
    step = login.password(username, password)
    assert step.asks_code, step.error or step.body[:300]
    return login.code(next_unused_code(app, used))


LOGIN_FORM_ACTION = re.compile(rf'<form[^>]*id="{PASSWORD_FORM}"[^>]*action="([^"]+)"')
OTP_FORM_ACTION = re.compile(rf'<form[^>]*id="{OTP_FORM}"[^>]*action="([^"]+)"')


def sign_in_via(session: requests.Session, start_url: str, username: str, password: str,
                app: pyotp.TOTP, used: set[str], timeout: float = 30) -> requests.Response:
    """A browser (``session``) opens ``start_url``, a sidecar page that sends it to
    Keycloak to sign in: it answers the login form and, if asked, the OTP form with an
    unused code, and follows the redirects back to the sidecar. Returns the last answer
    (the page). A browser that Keycloak already knows (its SSO cookie) comes straight
    back. Keycloak's cookies are marked Secure even on http://127.0.0.1: browsers send
    them on loopback, requests needs to be told."""
    _unsecure(session)
    page = session.get(start_url, timeout=timeout)
    form = LOGIN_FORM_ACTION.search(page.text)
    if form is None:
        return page
    _unsecure(session)
    page = session.post(html.unescape(form.group(1)), timeout=timeout,
                        data={"username": username, "password": password})
    form = OTP_FORM_ACTION.search(page.text)
    if form is None:
        return page
    _unsecure(session)
    return session.post(html.unescape(form.group(1)), timeout=timeout,
                        data={"otp": next_unused_code(app, used)})


def jwt_claims(token: str) -> dict:
    import json

    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
