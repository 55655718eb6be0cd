"""What the deploy tests do as users and as state IT: HTTPS logins, counts, outages."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import requests

from idp_extension.demo_users import synthetic_people
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.users import ACTIVATION_STATE, ACTIVE, UserDirectory
from idp_extension.mail.inbox import MailInbox
from idp_extension.prodlike.topology import DB_NAME, Topology
from idp_extension.tenants import load_tenants

# A redirect URI the portal client accepts in tests; nothing listens there: the code is
# read from the Location header.
CALLBACK = "http://127.0.0.1:18765/callback"
PASSWORD = "Tiga#Ekor-Kucing9"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LOGIN_FORM = re.compile(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"')


@dataclass
class Login:
    """One browser's login: its cookie jar stays, so the session can be checked later."""

    ok: bool
    status: int
    session: requests.Session = field(repr=False)
    detail: str = ""


class Production:
    """The running topology, seen through the proxy (users) and the internal side (IT)."""

    def __init__(self, topology: Topology, inbox: MailInbox) -> None:
        self.topology = topology
        self.inbox = inbox
        self.settings = topology.settings
        self.url = topology.public_url
        self.verify = str(topology.certificate)
        self.tenants = load_tenants(self.settings.realm_templates_dir)

    # -- state IT -------------------------------------------------------------------

    def directory(self, realm: str) -> UserDirectory:
        return UserDirectory(bootstrap_admin(self.settings), realm)

    def active_users(self, realm: str, seed: str, count: int) -> list:
        """``count`` synthetic users, activated with PASSWORD (as after the activation flow)."""
        directory = self.directory(realm)
        records = synthetic_people(self.tenants[realm], count, seed=seed)
        for record in records:
            user, _ = directory.register_pending(record)
            directory.set_password(user.id, PASSWORD)
            directory.update_attributes(user.id, {ACTIVATION_STATE: [ACTIVE]})
        return records

    def pending_users(self, realm: str, seed: str, count: int) -> list:
        records = synthetic_people(self.tenants[realm], count, seed=seed)
        directory = self.directory(realm)
        for record in records:
            directory.register_pending(record)
        return records

    def counts(self) -> dict[str, int]:
        """Users, attributes and credentials in Keycloak's database, counted by SQL."""
        sql = ("SELECT (SELECT count(*) FROM user_entity) || ',' || "
               "(SELECT count(*) FROM user_attribute) || ',' || "
               "(SELECT count(*) FROM credential)")
        users, attributes, credentials = self.topology.postgres.psql(DB_NAME, sql).split(",")
        return {"users": int(users), "attributes": int(attributes), "credentials": int(credentials)}

    # -- a user's browser -----------------------------------------------------------

    def session(self) -> requests.Session:
        session = requests.Session()
        # The machine's REQUESTS_CA_BUNDLE would override session.verify: ignore the
        # environment (loopback needs no proxy settings either).
        session.trust_env = False
        session.verify = self.verify
        return session

    def _auth_params(self, state: str, challenge: str, **extra) -> dict:
        return {"client_id": "portal-ispeks", "response_type": "code", "redirect_uri": CALLBACK,
                "scope": "openid", "state": state, "code_challenge": challenge,
                "code_challenge_method": "S256", **extra}

    def login(self, realm: str, username: str, password: str = PASSWORD,
              session: requests.Session | None = None, timeout: float = 20) -> Login:
        """The code flow through the proxy: login form, password post, code for tokens."""
        session = session or self.session()
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state = secrets.token_urlsafe(16)
        base = f"{self.url}/realms/{realm}/protocol/openid-connect"
        try:
            page = session.get(f"{base}/auth", params=self._auth_params(state, challenge),
                               timeout=timeout)
            form = LOGIN_FORM.search(page.text)
            if form is None:
                return Login(False, page.status_code, session, "no login form")
            answer = session.post(html.unescape(form.group(1)), allow_redirects=False,
                                  data={"username": username, "password": password},
                                  timeout=timeout)
            code = self._code(answer, state)
            if code is None:
                return Login(False, answer.status_code, session, "no code")
            tokens = session.post(f"{base}/token", timeout=timeout, data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
                "client_id": "portal-ispeks", "code_verifier": verifier})
            return Login(tokens.status_code == 200, tokens.status_code, session)
        except requests.RequestException as exc:
            return Login(False, 0, session, type(exc).__name__)

    def still_logged_in(self, realm: str, session: requests.Session) -> bool:
        """An authorization request with prompt=none: a code back means the SSO session lives."""
        state = secrets.token_urlsafe(16)
        answer = session.get(f"{self.url}/realms/{realm}/protocol/openid-connect/auth",
                             params=self._auth_params(state, "x" * 43, prompt="none"),
                             allow_redirects=False, timeout=20)
        return self._code(answer, state) is not None

    @staticmethod
    def _code(answer: requests.Response, state: str) -> str | None:
        location = answer.headers.get("Location", "")
        if answer.status_code != 302 or not location.startswith(CALLBACK):
            return None
        query = parse_qs(urlsplit(location).query)
        if query.get("state") != [state]:
            return None
        return query.get("code", [None])[0]

    def sidecar_form(self, session: requests.Session, path: str, data: dict,
                     timeout: float = 20) -> requests.Response:
        """GET a sidecar page through the proxy, then post its form with its CSRF token."""
        page = session.get(f"{self.url}{path}", timeout=timeout)
        page.raise_for_status()
        token = CSRF.search(page.text).group(1)
        return session.post(f"{self.url}{path}", data={**data, "csrf_token": token},
                            timeout=timeout)


class LoginStream:
    """Logins in a background thread, one after another, each recorded with its time."""

    def __init__(self, production: Production, realm: str, records: list) -> None:
        self.production = production
        self.realm = realm
        self.records = records
        self.results: list[tuple[float, bool, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "LoginStream":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            record = self.records[n % len(self.records)]
            n += 1
            outcome = self.production.login(self.realm, record.user_id, timeout=15)
            self.results.append((time.monotonic(), outcome.ok, outcome.detail or str(outcome.status)))

    def wait_for_successes(self, count: int, after: float, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(1 for at, ok, _ in self.results if ok and at > after) >= count:
                return
            time.sleep(0.2)
        raise AssertionError(f"fewer than {count} logins succeeded after the event: "
                             f"{self.results[-10:]}")

    def failure_window(self, after: float) -> float:
        """Seconds from ``after`` to the last failed login (0: none failed)."""
        failed = [at for at, ok, _ in self.results if not ok and at > after]
        return max(failed) - after if failed else 0.0
