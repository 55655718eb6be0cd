"""Audit events: one enum, written as JSON lines (DESIGN.md convention 11).

Every line is one JSON object::

    {"ts": "2025-01-31T08:15:02.123456Z", "event": "account:activation:completed",
     "realm": "pahang", "subject": "<user id>", "outcome": "success", "details": {...}}

Details whose key looks like a secret (password, token, answer, phrase, ...) are
replaced by ``"[REDACTED]"`` at any depth: an audit trail must never become a place
where credentials leak.
"""

from __future__ import annotations

import enum
import json
import logging
import re
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Mapping, Protocol, runtime_checkable

from idp_extension.metrics import FLOW_EVENTS

REDACTED = "[REDACTED]"
AUDIT_LOGGER_NAME = "ispeks.audit"

# Substrings of detail keys whose values must never be written. Deliberately broad: a
# redacted harmless value costs nothing, a leaked answer costs an account.
_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?|pwd|token|secret|answer|phrase|otp|pin\b|pin_|credential"
    r"|nonce|cookie|authorization|api_?key|private",
    re.IGNORECASE,
)


class AuditEvent(enum.StrEnum):
    """Every event the sidecar and the CLI record."""

    ACTIVATION_REQUESTED = "account:activation:requested"
    ACTIVATION_LINK_SENT = "account:activation:link_sent"
    ACTIVATION_LINK_OPENED = "account:activation:link_opened"
    ACTIVATION_COMPLETED = "account:activation:completed"
    ACTIVATION_FAILED = "account:activation:failed"
    FIRST_LOGIN_REQUESTED = "account:first_login:requested"
    FIRST_LOGIN_REJECTED = "account:first_login:rejected"
    TEMPORARY_PASSWORD_SENT = "account:temporary_password:sent"
    FIRST_LOGIN_SIGNED_IN = "account:first_login:signed_in"
    FIRST_LOGIN_COMPLETED = "account:first_login:completed"
    RECOVERY_REQUESTED = "account:recovery:requested"
    RECOVERY_LINK_OPENED = "account:recovery:link_opened"
    RECOVERY_ANSWERS_ACCEPTED = "account:recovery:answers_accepted"
    RECOVERY_COMPLETED = "account:recovery:completed"
    RECOVERY_FAILED = "account:recovery:failed"
    PASSWORD_CHANGED = "account:password:changed"
    SECURITY_QUESTIONS_CHANGED = "account:security_questions:changed"
    SECRET_PHRASE_CHANGED = "account:secret_phrase:changed"
    SETTINGS_SIGNED_IN = "account:settings:signed_in"
    SETTINGS_SIGNED_OUT = "account:settings:signed_out"
    ACCOUNT_LOCKED = "account:locked"
    ACCOUNT_UNLOCKED = "account:unlocked"
    ACCOUNT_DISABLED = "account:disabled"
    ACCOUNT_ENABLED = "account:enabled"
    # TOTP (issue 12): state IT's reset-otp; turned on or off in the settings.
    TOTP_RESET = "account:totp:reset"
    TOTP_ENABLED = "account:totp:enabled"
    TOTP_DISABLED = "account:totp:disabled"
    # A flow's mail to an address outside the state's email_domains (or not one plain
    # address): not sent. The subject is the user ID; the address itself is not written.
    MAIL_REFUSED_OUTSIDE_DOMAIN = "mail:refused:outside_domain"
    MAIL_SEND_FAILED = "mail:send:failed"
    USERS_IMPORTED = "users:imported"
    # Pengurusan Tugas (CLI): a task granted, taken away, or refused (segregation of
    # duties); the subject is the user ID, details name the task and the officer.
    TASK_ASSIGNED = "account:task:assigned"
    TASK_REVOKED = "account:task:revoked"
    TASK_REFUSED = "account:task:refused"
    TASKS_IMPORTED = "users:tasks:imported"
    REALM_APPLIED = "realm:applied"
    CONSOLE_SIGNED_IN = "console:signed_in"
    CONSOLE_SIGN_IN_REFUSED = "console:sign_in:refused"
    CONSOLE_SIGNED_OUT = "console:signed_out"
    CONSOLE_ACTION = "console:action"
    CONSOLE_ACTION_REFUSED = "console:action:refused"
    # The activation campaign's reminders (reporting/remind.py), with the officer.
    REMINDER_SENT = "report:reminder:sent"
    REMINDER_NOT_SENT = "report:reminder:not_sent"
    REMINDERS_RUN = "report:reminders:run"


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


@runtime_checkable
class AuditLog(Protocol):
    """Where audit events go."""

    def record(
        self,
        event: AuditEvent | str,
        *,
        realm: str,
        subject: str | None = None,
        outcome: Outcome | str = Outcome.SUCCESS,
        **details: Any,
    ) -> None: ...


def looks_secret(key: str) -> bool:
    """True if a detail named ``key`` may hold a credential."""
    return bool(_SECRET_KEY.search(key))


def redact(value: Any) -> Any:
    """Return ``value`` with every secret-looking mapping key's value replaced."""
    if isinstance(value, Mapping):
        return {
            str(k): (REDACTED if looks_secret(str(k)) else redact(v)) for k, v in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return [redact(v) for v in value]
    return value


def build_entry(
    event: AuditEvent | str,
    *,
    realm: str,
    subject: str | None,
    outcome: Outcome | str,
    details: Mapping[str, Any],
    now: datetime | None = None,
) -> dict[str, Any]:
    """Return the JSON-ready record of one event (unknown event names are refused)."""
    ts = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return {
        "ts": ts.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "event": AuditEvent(event).value,
        "realm": realm,
        "subject": subject,
        "outcome": Outcome(outcome).value,
        "details": redact(details),
    }


def to_json_line(entry: Mapping[str, Any]) -> str:
    # default=str: a stray datetime or Path in details must not lose the whole event.
    return json.dumps(entry, ensure_ascii=False, sort_keys=False, default=str)


class _EntryLog:
    """A log that writes each event as one redacted entry (``_write``)."""

    def record(
        self,
        event: AuditEvent | str,
        *,
        realm: str,
        subject: str | None = None,
        outcome: Outcome | str = Outcome.SUCCESS,
        **details: Any,
    ) -> None:
        """Write one event."""
        self._write(build_entry(event, realm=realm, subject=subject, outcome=outcome,
                                details=details))

    def _write(self, entry: dict[str, Any]) -> None:
        raise NotImplementedError


class JsonLinesAuditLog(_EntryLog):
    """Append one JSON object per line to a file path or an open text stream."""

    def __init__(self, target: str | Path | IO[str]) -> None:
        self._path = Path(target) if isinstance(target, (str, Path)) else None
        self._stream = None if self._path else target
        self._lock = threading.Lock()
        if self._path:
            self._path.parent.mkdir(parents=True, exist_ok=True)

    @property
    def path(self) -> Path | None:
        """The file written to (None for a stream): the console reads a user's trail."""
        return self._path

    def _write(self, entry: dict[str, Any]) -> None:
        """Write one event as one line."""
        line = to_json_line(entry)
        with self._lock:
            if self._path:
                # Reopened per event: logrotate-friendly, and O_APPEND keeps lines from
                # several gunicorn workers whole.
                with self._path.open("a", encoding="utf-8") as handle:
                    handle.write(line + "\n")
            else:
                self._stream.write(line + "\n")
                self._stream.flush()


class LoggingAuditLog(_EntryLog):
    """Send each event's JSON line to a logger (stderr unless logging says otherwise)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or _default_audit_logger()

    def _write(self, entry: dict[str, Any]) -> None:
        """Log one event as one line."""
        self._logger.info(to_json_line(entry))


def _default_audit_logger() -> logging.Logger:
    logger = logging.getLogger(AUDIT_LOGGER_NAME)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        # The line is already complete JSON; a root handler would wrap it a second time.
        logger.propagate = False
    return logger


class MemoryAuditLog(_EntryLog):
    """Keep events in a list, for unit tests."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def _write(self, entry: dict[str, Any]) -> None:
        """Keep one event, redacted exactly as the real logs would write it."""
        with self._lock:
            self.entries.append(entry)

    def events(self) -> list[str]:
        """Event names in the order they were recorded."""
        return [entry["event"] for entry in self.entries]

    def last(self, event: AuditEvent | str | None = None) -> dict[str, Any] | None:
        """Return the newest entry (of ``event`` if given), or None."""
        wanted = AuditEvent(event).value if event else None
        for entry in reversed(self.entries):
            if wanted is None or entry["event"] == wanted:
                return entry
        return None


class CountedAuditLog(_EntryLog):
    """Write each event with the inner log, then count it in ``ispeks_flow_events_total``
    (metrics.py).

    Audit events are the flows' outcomes (activation completed or failed, recovery,
    first login, ...): counting them here keeps the metric and the trail in step.
    """

    def __init__(self, inner: _EntryLog) -> None:
        self.inner = inner

    def _write(self, entry: dict[str, Any]) -> None:
        self.inner._write(entry)
        FLOW_EVENTS.labels(
            realm=entry["realm"], event=entry["event"], outcome=entry["outcome"]).inc()


class RealmAudit:
    """An audit log bound to one realm: what a tenant's flows and pages record with.

    ``record`` takes no ``realm``: the context that holds it was built for one tenant,
    so no call can name another realm by mistake.
    """

    def __init__(self, log: AuditLog, realm: str) -> None:
        self.log = log
        self.realm = realm

    def __repr__(self) -> str:
        return f"RealmAudit({self.log!r}, realm={self.realm!r})"

    def record(
        self,
        event: AuditEvent | str,
        *,
        subject: str | None = None,
        outcome: Outcome | str = Outcome.SUCCESS,
        **details: Any,
    ) -> None:
        """Write one event of this realm."""
        self.log.record(event, realm=self.realm, subject=subject, outcome=outcome, **details)


def for_realm(log: AuditLog | RealmAudit, realm: str) -> RealmAudit:
    """Return ``log`` bound to ``realm`` (as it is if it already is; a log bound to
    another realm is bound anew, as when a context is copied for another tenant)."""
    if isinstance(log, RealmAudit):
        if log.realm == realm:
            return log
        log = log.log
    return RealmAudit(log, realm)


def audit_log_from_settings(settings) -> AuditLog:
    """Return the audit log ``settings`` ask for (a JSON-lines file, else stderr), counted."""
    if settings.audit_log_path:
        return CountedAuditLog(JsonLinesAuditLog(settings.audit_log_path))
    return CountedAuditLog(LoggingAuditLog())


def trail(log: Any, realm: str, subject: str, count: int = 50) -> list[dict[str, Any]]:
    """The newest ``count`` events of ``realm`` about ``subject`` in a JSON-lines log, newest
    first; [] for a log that is not a file (journald, memory)."""
    inner = log
    for _ in range(5):  # CountedAuditLog and RealmAudit wrap the file
        wrapped = (inner.inner if isinstance(inner, CountedAuditLog)
                   else inner.log if isinstance(inner, RealmAudit) else None)
        if wrapped is None:
            break
        inner = wrapped
    path = getattr(inner, "path", None)
    if not isinstance(path, Path) or not path.exists():
        events = getattr(inner, "entries", None)
        found = [e for e in (events if isinstance(events, list) else [])
                 if e.get("realm") == realm and e.get("subject") == subject]
        return list(reversed(found[-count:]))
    found: list[dict[str, Any]] = []
    with path.open("rb") as handle:
        for line in handle:
            try:
                entry = json.loads(line.decode("utf-8", "replace"))
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("realm") == realm and \
                    entry.get("subject") == subject:
                found.append(entry)
                if len(found) > count:
                    found.pop(0)
    return list(reversed(found))
