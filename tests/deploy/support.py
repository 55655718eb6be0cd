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
from requests.adapters import HTTPAdapter

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
ACTIVATION_LINK = re.compile(r"https://\S+?/idp/[a-z]+/activation/link/[A-Za-z0-9_.\-]+")
ACTIVATED = "Tahniah. Akaun anda telah berjaya diaktifkan."
# The sidecar's page when Keycloak fails under it: both languages, Malay first.
UNAVAILABLE = ("Perkhidmatan tidak tersedia buat sementara waktu", "Service temporarily unavailable")
ANSWERS = {"mother_name": "Siti Aishah", "first_car": "Kancil merah", "favourite_colour": "Hijau"}
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

    def counts(self, apart_from: tuple[str, ...] = ()) -> dict[str, int]:
        """Users, attributes and credentials in Keycloak's database, counted by SQL.

        ``apart_from``: user UUIDs whose attributes and credentials are not counted
        (people changing their own account meanwhile); they still count as users.
        """
        assert all(re.fullmatch(r"[0-9a-f-]{36}", uuid) for uuid in apart_from)
        where = (" WHERE user_id NOT IN (" + ",".join(f"'{uuid}'" for uuid in apart_from) + ")"
                 if apart_from else "")
        sql = ("SELECT (SELECT count(*) FROM user_entity) || ',' || "
               f"(SELECT count(*) FROM user_attribute{where}) || ',' || "
               f"(SELECT count(*) FROM credential{where})")
        users, attributes, credentials = self.topology.postgres.psql(DB_NAME, sql).split(",")
        return {"users": int(users), "attributes": int(attributes), "credentials": int(credentials)}

    def credential_types(self, uuids: tuple[str, ...]) -> dict[str, int]:
        """How many credentials of each type these users hold (password, history, ...)."""
        assert uuids and all(re.fullmatch(r"[0-9a-f-]{36}", uuid) for uuid in uuids)
        listed = ",".join(f"'{uuid}'" for uuid in uuids)
        rows = self.topology.postgres.psql(
            DB_NAME, f"SELECT type || ',' || count(*) FROM credential "
                     f"WHERE user_id IN ({listed}) GROUP BY type")
        return {kind: int(n) for kind, n in (row.split(",") for row in rows.splitlines())}

    # -- a user's browser -----------------------------------------------------------

    def session(self, source_address: str | None = None) -> requests.Session:
        """A browser; ``source_address`` (127.x.y.z) makes it a person of its own address."""
        session = requests.Session()
        # The machine's REQUESTS_CA_BUNDLE would override session.verify: ignore the
        # environment (loopback needs no proxy settings either).
        session.trust_env = False
        session.verify = self.verify
        if source_address:
            session.mount("https://", SourceAddressAdapter(source_address))
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


class SourceAddressAdapter(HTTPAdapter):
    """Connect from one loopback address: the proxy and the sidecars' per-address limits
    then see a person of their own, as in an office of many desktops."""

    def __init__(self, address: str) -> None:
        self._address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self._address, 0)
        return super().init_poolmanager(*args, **kwargs)


@dataclass
class Activation:
    """One person's activation by emailed link, every answer recorded as (step, status)."""

    record: object
    steps: list[tuple[float, str, int]] = field(default_factory=list)
    asked_again: int = 0
    done: bool = False
    error: str = ""

    @property
    def unavailable(self) -> list[str]:
        return [step for _, step, status in self.steps if status == 503]


class ActivationStream:
    """People activating by emailed link through the proxy, in background threads.

    Each step that meets an outage must answer the clear 503 page and then work when
    the person tries again (a second later); any other answer ends the activation as
    failed. A link request answers the same confirmation whatever happens behind it:
    when Keycloak failed to store the link there, no email comes, and the person asks
    again, as the page and deploy/README.md tell them.
    """

    def __init__(self, production: Production, realm: str, records: list,
                 threads: int = 2, first_address: int = 10) -> None:
        self.production = production
        self.realm = realm
        self.activations = [Activation(record) for record in records]
        self._queue = list(enumerate(self.activations, start=first_address))
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> "ActivationStream":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        for thread in self._threads:
            thread.join(240)

    def completed(self, after: float = 0.0) -> int:
        return sum(1 for a in self.activations if a.done and a.steps and a.steps[-1][0] > after)

    def wait_for_completions(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.completed() < count:
            time.sleep(0.2)
        if self.completed() < count:
            raise AssertionError(f"fewer than {count} activations completed: {self.activations}")

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    return
                number, activation = self._queue.pop(0)
            try:
                self._activate(activation, f"127.0.{number}.1")
            except Exception as exc:  # noqa: BLE001 - recorded, asserted by the test
                activation.error = f"{type(exc).__name__}: {exc}"[:300]

    def _step(self, activation: Activation, name: str, call, ok) -> requests.Response:
        """``call()`` until it answers ``ok``; only the clear 503 page may come between."""
        for _ in range(30):
            try:
                answer = call()
            except requests.RequestException as exc:
                raise AssertionError(f"{name}: {type(exc).__name__}") from None
            activation.steps.append((time.monotonic(), name, answer.status_code))
            if ok(answer):
                return answer
            if answer.status_code != 503 or not all(text in answer.text for text in UNAVAILABLE):
                raise AssertionError(f"{name}: {answer.status_code} {answer.text[:300]!r}")
            assert answer.text.index(UNAVAILABLE[0]) < answer.text.index(UNAVAILABLE[1])
            time.sleep(1)
        raise AssertionError(f"{name}: still unavailable after 30 tries")

    def _activate(self, activation: Activation, address: str) -> None:
        production, record = self.production, activation.record
        base = f"{production.url}/idp/{self.realm}/activation"
        session = production.session(source_address=address)
        link = None
        while link is None:
            mark = production.inbox.last_id
            self._step(activation, "request", lambda: production.sidecar_form(
                session, f"/idp/{self.realm}/activation", {"user_id": record.user_id}),
                lambda answer: answer.status_code == 200)
            try:
                email = production.inbox.wait_for(to=record.email, after=mark, timeout=20)
            except TimeoutError:
                if activation.asked_again >= 3:
                    raise
                activation.asked_again += 1
                continue
            link = ACTIVATION_LINK.search(email.text).group(0)
        self._step(activation, "link", lambda: session.get(link, timeout=20),
                   lambda answer: answer.status_code == 200 and answer.url == f"{base}/account")

        def post(path: str, data: dict, ok) -> requests.Response:
            # As a person does: the account page first (after a 503, it shows whether
            # the step was saved after all), then its form.
            page = session.get(f"{base}/account", timeout=20)
            if page.status_code != 200 or ok(page):
                return page
            token = CSRF.search(page.text).group(1)
            return session.post(f"{base}/account/{path}", data={**data, "csrf_token": token},
                                timeout=20)

        questions = {}
        for n, (question, answer) in enumerate(ANSWERS.items(), start=1):
            questions[f"question_{n}"], questions[f"answer_{n}"] = question, answer

        def at_password(answer):
            return answer.status_code == 200 and 'name="confirm"' in answer.text

        def activated(answer):
            return answer.status_code == 200 and ACTIVATED in answer.text

        self._step(activation, "questions", lambda: post("questions", questions, at_password),
                   at_password)
        self._step(activation, "password", lambda: post(
            "password", {"password": PASSWORD, "confirm": PASSWORD}, activated), activated)
        activation.done = True


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
