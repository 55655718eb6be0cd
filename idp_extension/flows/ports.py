"""The ports flows depend on: the user directory, a clock, one-time claims and page URLs.

Mail (``idp_extension.mail.MailSender``) and audit (``idp_extension.audit.AuditLog``)
protocols live with their implementations and are re-exported here, so a flow imports
every collaborator's shape from one place (DESIGN.md convention 6).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Protocol, runtime_checkable
from urllib.parse import urlsplit

from werkzeug.routing import Map, MapAdapter, Rule

from idp_extension.audit import AuditEvent, AuditLog
from idp_extension.errors import ServiceUnavailable
from idp_extension.gateway.users import DirectoryUser
from idp_extension.mail.message import OutgoingMail
from idp_extension.mail.sender import MailSender
from idp_extension.payroll import PayrollRecord

log = logging.getLogger(__name__)

__all__ = [
    "AuditEvent", "AuditLog", "BackgroundWork", "ClaimsUnavailable", "Clock", "InlineWork",
    "MailSender", "ManualClock", "MemoryClaims", "OneTimeClaims", "OutgoingMail",
    "PageUrls", "RedisClaims", "RouteUrls", "SystemClock", "ThreadedWork",
    "UserDirectoryPort", "claims_from_uri", "public_pages",
]


@runtime_checkable
class UserDirectoryPort(Protocol):
    """The user verbs of ``idp_extension.gateway.users.UserDirectory``."""

    def find(self, user_id: str) -> DirectoryUser | None: ...

    def search(self, attribute: str, value: str) -> list[DirectoryUser]: ...

    def get(self, uuid: str) -> DirectoryUser: ...

    def register_pending(self, record: PayrollRecord) -> tuple[DirectoryUser, bool]: ...

    def set_password(self, uuid: str, password: str) -> None: ...

    def update_attributes(
        self, uuid: str, changes: dict[str, list[str] | None]
    ) -> DirectoryUser: ...

    def set_password_and_attributes(
        self, uuid: str, password: str, changes: dict[str, list[str] | None]
    ) -> DirectoryUser: ...

    def set_enabled(
        self, uuid: str, enabled: bool, changes: dict[str, list[str] | None] | None = None
    ) -> None: ...

    def end_sessions(self, uuid: str) -> None: ...

    def end_session(self, uuid: str, session_id: str) -> None: ...

    def failed_logins(self, uuid: str) -> dict[str, Any]: ...

    def unlock(self, uuid: str) -> DirectoryUser: ...

    def otp_credential_count(self, uuid: str) -> int: ...

    def delete_otp_credentials(self, uuid: str, *, enrol_again: bool = False) -> int: ...

    # -- the helpdesk console (issue 13) --

    def search_text(self, text: str, limit: int = 50) -> list[DirectoryUser]: ...

    def sessions(self, uuid: str) -> list[dict[str, Any]]: ...

    def update_profile(self, uuid: str, *, name: str | None = None,
                       email: str | None = None) -> None: ...


@runtime_checkable
class Clock(Protocol):
    """Wall time for expiry, monotonic time and sleep for padding."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """A clock that moves only when told, for unit tests (sleeping just advances it)."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start.astimezone(timezone.utc)
        self._monotonic = 1000.0
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._monotonic

    def advance(self, seconds: float = 0.0, **delta: float) -> None:
        """Move both wall and monotonic time forward (``advance(minutes=30, seconds=1)``)."""
        step = timedelta(seconds=seconds, **delta)
        with self._lock:
            self._now += step
            self._monotonic += step.total_seconds()

    def sleep(self, seconds: float) -> None:
        """Record the sleep and advance time instead of waiting."""
        with self._lock:
            self.slept.append(seconds)
        if seconds > 0:
            self.advance(seconds)


# Tests of older code may say FrozenClock: same thing.
FrozenClock = ManualClock


@runtime_checkable
class OneTimeClaims(Protocol):
    """First-caller-wins markers with an expiry, shared by every worker that must agree."""

    def claim(self, key: str, ttl_seconds: int) -> bool:
        """Return True for the first caller of ``key`` until it expires or is released."""
        ...

    def release(self, key: str) -> None:
        """Forget ``key`` so that a retry after a transient failure can claim it again."""
        ...

    def is_claimed(self, key: str) -> bool:
        """Return True while ``key`` is claimed (not expired, not released); claims nothing."""
        ...


class MemoryClaims:
    """Claims in this process only (one worker, or unit tests); thread-safe."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def claim(self, key: str, ttl_seconds: int) -> bool:
        now = self._monotonic()
        with self._lock:
            # Drop stale entries as we go so the dict does not grow without bound.
            for stale in [k for k, until in self._expiry.items() if until <= now]:
                del self._expiry[stale]
            if key in self._expiry:
                return False
            self._expiry[key] = now + max(1, ttl_seconds)
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._expiry.pop(key, None)

    def is_claimed(self, key: str) -> bool:
        with self._lock:
            return self._expiry.get(key, float("-inf")) > self._monotonic()


class ClaimsUnavailable(ServiceUnavailable):
    """The shared claims store (Redis) did not answer: nothing was claimed, try again."""


class RedisClaims:
    """Claims in Redis, shared by every worker and instance (``SET key NX EX ttl``).

    Redis sets the key and its expiry in one command: exactly one caller wins. If Redis
    does not answer, ClaimsUnavailable (503): a claim that cannot be recorded must not be
    granted, or a link could be used twice.
    """

    PREFIX = "ispeks:claim:"

    def __init__(self, client: Any) -> None:
        self._client = client

    @classmethod
    def from_uri(cls, uri: str) -> "RedisClaims":
        from idp_extension.shared_state import redis_client

        return cls(redis_client(uri))

    def claim(self, key: str, ttl_seconds: int) -> bool:
        try:
            return bool(self._client.set(self.PREFIX + key, b"1", nx=True,
                                         ex=max(1, int(ttl_seconds))))
        except Exception as exc:  # redis.RedisError and socket errors alike
            raise ClaimsUnavailable(f"claims store: {type(exc).__name__}") from None

    def release(self, key: str) -> None:
        try:
            self._client.delete(self.PREFIX + key)
        except Exception:
            # Best effort, often on an error path already: the claim then simply expires
            # and a retry waits out its ttl.
            pass

    def is_claimed(self, key: str) -> bool:
        try:
            return bool(self._client.exists(self.PREFIX + key))
        except Exception as exc:
            raise ClaimsUnavailable(f"claims store: {type(exc).__name__}") from None


def claims_from_uri(uri: str) -> OneTimeClaims:
    """Return claims for the storage ``uri``: memory:// in-process, Redis otherwise.

    limits' own memory storage reads the counter back outside its lock, so two threads
    racing on one key can both see 2; MemoryClaims has no such window.
    """
    from idp_extension.shared_state import is_memory

    if is_memory(uri):
        return MemoryClaims()
    return RedisClaims.from_uri(uri)



@runtime_checkable
class BackgroundWork(Protocol):
    """Work whose duration must not show in an answer (sending a link, a password).

    ``run`` starts ``task`` and returns once it has finished or ``within`` seconds have
    passed, whichever comes first; a task still running then goes on by itself. The
    task records its own outcome (audit); an exception it lets out is logged by type
    only (a link or password must never reach a log line) and never reaches the caller.
    """

    def run(self, task: Callable[[], object], within: float) -> None: ...


def _guarded(task: Callable[[], object]) -> Callable[[], object]:
    def guarded() -> None:
        try:
            task()
        except Exception as exc:  # noqa: BLE001 - the caller has answered already
            log.error("background task failed: %s", type(exc).__name__)
    return guarded


class InlineWork:
    """Run the task at once in the caller's thread (unit tests, the CLI)."""

    def run(self, task: Callable[[], object], within: float) -> None:
        _guarded(task)()


class ThreadedWork:
    """A small pool of threads per process; tasks beyond it wait their turn.

    The pool is made at the first task in each process (gunicorn forks after loading
    the app, and threads do not survive a fork).
    """

    def __init__(self, threads: int = 8) -> None:
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="ispeks-work")
                self._pid = os.getpid()
            return self._pool

    def run(self, task: Callable[[], object], within: float) -> None:
        future = self._executor().submit(_guarded(task))
        wait([future], timeout=max(0.0, within))


# -- page URLs -------------------------------------------------------------------------


class PageUrls(Protocol):
    """Absolute URLs of the sidecar's pages for one tenant (links in emails).

    ``endpoint`` is the web layer's endpoint name (``tenant.activation.follow_link``);
    the realm is filled in. The web layer builds them from its own routes
    (``web/tenant.TenantContext.urls``), callable from any thread.
    """

    def url(self, endpoint: str, **values: Any) -> str: ...


class RouteUrls:
    """``PageUrls`` from a werkzeug URL map bound to the configured public URL.

    The public URL's path is the prefix the proxy serves the sidecar under ("/idp");
    its scheme and host are used as configured, never a request's Host.
    """

    def __init__(self, routes: Map, public_url: str, realm: str) -> None:
        public = urlsplit(public_url)
        self.realm = realm
        self.adapter: MapAdapter = routes.bind(
            public.netloc, script_name=public.path.rstrip("/") or "/", url_scheme=public.scheme)

    def url(self, endpoint: str, **values: Any) -> str:
        if any("realm" in rule.arguments for rule in self.adapter.map.iter_rules(endpoint)):
            values = {"realm": self.realm, **values}
        return self.adapter.build(endpoint, values, force_external=True)


# The pages emails link to, as the web layer routes them (web/tenant.py nests each flow's
# blueprint under "/<realm>"). For callers without the web app (the CLI, reminders run
# by state IT); tests/unit/test_page_urls.py checks these are the app's own rules.
MAILED_PAGES = Map([
    Rule("/<realm>/activation", endpoint="tenant.activation.request_form"),
    Rule("/<realm>/activation/link/<token>", endpoint="tenant.activation.follow_link"),
    Rule("/<realm>/recovery", endpoint="tenant.recovery.request_form"),
    Rule("/<realm>/recovery/link/<token>", endpoint="tenant.recovery.follow_link"),
    Rule("/<realm>/first-login/continue", endpoint="tenant.first_login.continue_login"),
])


def public_pages(public_url: str, realm: str) -> RouteUrls:
    """The mailed pages of ``realm`` on ``public_url`` (``settings.sidecar_public_url``)."""
    return RouteUrls(MAILED_PAGES, public_url, realm)
