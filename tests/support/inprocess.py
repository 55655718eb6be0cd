"""An in-process sidecar wired to the session's real Keycloak and SMTP inbox, and a browser.

The app runs in Flask's test client (CSRF on) with the production collaborators: each
realm's sidecar service account, SMTP to the session's inbox, a JSON-lines audit file.
Only the clock is the test's: the real one, which a test may move forward (links
expire, logins grow stale). ``stack.keycloak.down`` / ``stack.smtp.down`` point the app
at a closed port, for the "Keycloak down" and "SMTP down" paths. Sending runs in the
background as in production, but a test can wait until every send has finished
(``stack.settle()``), so "nothing was sent" is checked after the fact, not after a sleep.
A ``Browser`` is one person: a cookie jar for the sidecar
(requests to the sidecar's public URL go to the in-process app, whose public URL is the
session's, so Keycloak's redirect URIs accept it) and one for Keycloak (real HTTP).
"""

from __future__ import annotations

import html
import json
import re
import threading
from datetime import timedelta
from typing import Iterable, Mapping

from idp_extension.audit import JsonLinesAuditLog
from idp_extension.demo_users import synthetic_people
from idp_extension.flows.answers import ANSWERS_ATTRIBUTE, hash_answers
from idp_extension.flows.ports import MemoryClaims, SystemClock, ThreadedWork
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.directories import KeycloakDirectories
from idp_extension.gateway.users import ACTIVATION_STATE, ACTIVE, DirectoryUser, UserDirectory
from idp_extension.keycloak_server import free_port
from idp_extension.mail.sender import mail_sender_from_settings
from idp_extension.payroll import PayrollRecord
from idp_extension.tenants import Tenant, load_tenants
from idp_extension.web import Services, create_app
from idp_extension.web.ratelimit import LIMITER_KEY
from tests.support.addresses import loopback_session
from tests.support.constants import ANSWERS, CSRF, FAST_HASHER, LOGIN_FORM


class MovableClock(SystemClock):
    """The real clock (padding really sleeps), which a test can move forward."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self):
        return super().now() + self.offset

    def monotonic(self) -> float:
        return super().monotonic() + self.offset.total_seconds()


class SettledWork:
    """The production ``ThreadedWork``, with a way to wait until every task has finished.

    ``settle()`` returns once each task handed over so far (by any stack in this
    process) is done: a mail it sent is then in the inbox (the inbox stores a message
    before it answers the DATA command), and a failure is in the audit log.
    """

    def __init__(self) -> None:
        self._threads = ThreadedWork()
        self._unfinished = 0
        self._changed = threading.Condition()

    def run(self, task, within: float) -> None:
        with self._changed:
            self._unfinished += 1

        def tracked() -> None:
            try:
                task()
            finally:
                with self._changed:
                    self._unfinished -= 1
                    self._changed.notify_all()

        self._threads.run(tracked, within)

    def settle(self, timeout: float = 60.0) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self._unfinished == 0, timeout):
                raise AssertionError(f"background sending still busy after {timeout} s")


# One for every stack: a test settles what earlier tests left running too.
WORK = SettledWork()


class SettledInbox:
    """The session's inbox, whose ``wait_for`` first lets background sending finish.

    A mail found this way was sent by a task that has also written its audit event, so
    a test that then follows the link sees the events in the order they happened; and a
    slow machine only makes the wait longer, never a false "nothing arrived".
    """

    def __init__(self, inbox) -> None:
        self._inbox = inbox

    def __getattr__(self, name):
        return getattr(self._inbox, name)

    def wait_for(self, *args, **kwargs):
        WORK.settle()
        return self._inbox.wait_for(*args, **kwargs)


class Switch:
    """Hand out the real collaborator, or one pointed at a closed port while ``down``."""

    def __init__(self, up, down) -> None:
        self.up, self.down_one, self.down = up, down, False

    def current(self):
        return self.down_one if self.down else self.up


class _SwitchedMail:
    def __init__(self, smtp: Switch) -> None:
        self._smtp = smtp

    def send(self, message) -> None:
        self._smtp.current().send(message)


class Stack:
    """One in-process sidecar wired to the session's Keycloak and SMTP inbox."""

    def __init__(self, settings, inbox, audit_path, *,
                 tenants: Mapping[str, Tenant] | None = None, rate_limits: bool = True) -> None:
        closed = f"http://127.0.0.1:{free_port()}"
        self.settings = settings
        self.inbox = SettledInbox(inbox)
        self.audit_path = audit_path
        self.clock = MovableClock()
        self._admins: dict[str, UserDirectory] = {}
        self.tenants = dict(tenants or load_tenants(settings.realm_templates_dir))
        self.keycloak = Switch(KeycloakDirectories(settings),
                               KeycloakDirectories(settings.with_overrides(keycloak_url=closed)))
        self.smtp = Switch(mail_sender_from_settings(settings),
                           mail_sender_from_settings(settings.with_overrides(smtp_port=free_port())))
        self.app = create_app(settings, tenants=self.tenants, services=Services(
            audit=JsonLinesAuditLog(audit_path), mail=_SwitchedMail(self.smtp),
            directories=lambda realm: self.keycloak.current()(realm),
            claims=MemoryClaims(self.clock.monotonic), clock=self.clock, work=WORK))
        if not rate_limits:  # where one ID is asked many times and limits are not tested
            self.app.extensions[LIMITER_KEY].enabled = False

    def admin(self, realm: str) -> UserDirectory:
        """The realm's users through the bootstrap admin: one connection (and token) a realm."""
        if realm not in self._admins:
            self._admins[realm] = UserDirectory(bootstrap_admin(self.settings), realm)
        return self._admins[realm]

    def person(self, realm: str, seed: str) -> PayrollRecord:
        return synthetic_people(self.tenants[realm], 1, seed=seed)[0]

    def active(self, realm: str, seed: str, password: str,
               extra: Mapping[str, list[str]] | None = None) -> tuple[PayrollRecord, DirectoryUser]:
        """A new activated user (a synthetic person) with a password and three answers.

        The answers are hashed at the unit tests' low argon2 cost: checking one reads the
        cost from the hash, so the flows check them quickly too. Answers the app itself
        stores (activation, first login, settings) are hashed by the app's own hasher."""
        record = self.person(realm, seed)
        admin = self.admin(realm)
        user, created = admin.register_pending(record)
        assert created, f"seed {seed!r} must make a new person"
        admin.set_password(user.id, password)
        admin.update_attributes(user.id, {
            ACTIVATION_STATE: [ACTIVE],
            ANSWERS_ATTRIBUTE: [hash_answers(ANSWERS, FAST_HASHER)], **(extra or {})})
        return record, admin.get(user.id)

    def browser(self) -> "Browser":
        return Browser(self)

    def audit(self) -> list[dict]:
        """Every audit event so far, once sending has settled (its events come last)."""
        self.settle()
        if not self.audit_path.exists():
            return []
        return [json.loads(line) for line in self.audit_path.read_text().splitlines()]

    def events(self, *names: str) -> list[dict]:
        return [e for e in self.audit() if not names or e["event"] in names]

    def settle(self) -> None:
        """Wait until every send handed to the background so far has finished."""
        WORK.settle()

    def wait_for_event(self, name: str, subject: str | None = None) -> dict:
        """The first audit event ``name`` (about ``subject``) once sending has settled.

        Sending runs behind the answer's floor (``flows.ports.ThreadedWork``): on a busy
        machine its audit event may come a moment after the answer.
        """
        found = [e for e in self.events(name) if subject is None or e["subject"] == subject]
        assert found, f"no {name} event for {subject}"
        return found[0]

    def messages_since(self, mark: int) -> list:
        """Every message the inbox received after ``mark``, once sending has settled."""
        self.settle()
        return [m for m in self.inbox.messages() if m.id > mark]

    def nothing_sent_since(self, mark: int) -> bool:
        return not self.messages_since(mark)

    def sessions(self, realm: str, uuid: str) -> list[dict]:
        """The user's Keycloak sessions, as the admin console lists them."""
        return bootstrap_admin(self.settings, realm).get_sessions(uuid)


class Page:
    """One answer, from the sidecar or from Keycloak, in one shape."""

    def __init__(self, status: int, location: str | None, body: str, headers=None) -> None:
        self.status = status
        self.location = location
        self.body = body
        self.text = html.unescape(body)
        self.headers = headers or {}


class Browser:
    """One person's browser: a cookie jar for the sidecar and one for Keycloak."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.sidecar = stack.app.test_client()
        # One person, one address: Keycloak limits failed logins per address.
        self.keycloak = loopback_session()

    def get(self, url: str) -> Page:
        return self._send("GET", url)

    def post(self, url: str, data: dict) -> Page:
        return self._send("POST", url, data)

    def _send(self, method: str, url: str, data: dict | None = None) -> Page:
        public = self.stack.settings.sidecar_public_url
        if url.startswith("/") or url.startswith(public):
            path = url[len(public):] if url.startswith(public) else url
            answer = self.sidecar.open(path, method=method, data=data)
            return Page(answer.status_code, answer.headers.get("Location"),
                        answer.get_data(as_text=True), answer.headers)
        # Keycloak marks its cookies Secure even on http://127.0.0.1 (browsers accept that
        # on loopback; requests does not).
        for cookie in self.keycloak.cookies:
            cookie.secure = False
        answer = self.keycloak.request(method, url, data=data, allow_redirects=False, timeout=30)
        return Page(answer.status_code, answer.headers.get("Location"), answer.text, answer.headers)

    def follow(self, page: Page, limit: int = 10) -> Page:
        """Follow redirects (across the sidecar and Keycloak) until a page answers."""
        for _ in range(limit):
            if page.status not in (301, 302, 303, 307, 308) or not page.location:
                return page
            page = self.get(page.location)
        raise AssertionError("too many redirects")

    def csrf(self, path: str) -> str:
        return CSRF.search(self.get(path).body).group(1)

    def submit(self, path: str, data: dict) -> Page:
        """Post a sidecar form with the CSRF token of its page."""
        return self.submit_to(path, path, data)

    def submit_to(self, page_path: str, target: str, data: dict) -> Page:
        """Post ``data`` to ``target`` with the CSRF token of ``page_path`` (a form whose
        action is another address, as the console's actions on a user's card)."""
        return self.post(target, {**data, "csrf_token": self.csrf(page_path)})

    def login_form(self, page: Page, username: str, password: str) -> Page:
        """Post Keycloak's login form shown on ``page``; return Keycloak's answer."""
        assert page.status == 200, page.text[:500]
        action = LOGIN_FORM.search(page.body)
        assert action, f"no login form: {page.text[:500]}"
        return self.post(html.unescape(action.group(1)),
                         {"username": username, "password": password})


def same_shape(pages: Iterable[str], *patterns: re.Pattern) -> bool:
    """True if the pages are the same once every match of ``patterns`` is blanked."""
    shapes = set()
    for body in pages:
        for pattern in patterns:
            body = pattern.sub("*", body)
        shapes.add(body)
    return len(shapes) == 1
