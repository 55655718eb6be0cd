"""An in-memory user directory with the verbs of ``UserDirectory``, for unit tests.

It mimics the Keycloak behaviour the flows depend on: a password policy whose
rejections read like Keycloak's (``notUsername``, ``passwordHistory(3)`` counting the
current password), a 404 ``GatewayError`` for an unknown id, undeclared attributes
silently dropped when a user profile is given, and switches to simulate an outage
(``unavailable``) or a single failed call (``fail_next``), before or after the change.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
import uuid as uuid_module
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from idp_extension.gateway.errors import GatewayError, KeycloakUnavailable
from idp_extension.gateway.users import (
    ACTIVATION_STATE, DISABLED_REASON, PENDING, PERMANENT_LOCKOUT, RECOVERY_FAILURES,
    DirectoryUser, PasswordRejected,
)
from idp_extension.passwords import random_password
from idp_extension.payroll import PayrollRecord

# Keycloak's answers, as its admin API words them (checked against 26.x).
HISTORY_REJECTION = json.dumps({
    "error": "invalidPasswordHistoryMessage",
    "error_description": "Invalid password: must not be equal to any of last 3 passwords.",
}, separators=(",", ":"))
USERNAME_REJECTION = json.dumps({
    "error": "invalidPasswordNotUsernameMessage",
    "error_description": "Invalid password: must not be equal to the username.",
}, separators=(",", ":"))

# (user, candidate password, digests of the current and earlier passwords, newest
# first) -> a Keycloak error body, or None to accept.
PasswordPolicy = Callable[[DirectoryUser, str, Sequence[str]], "str | None"]


def _digest(password: str) -> str:
    # Even a test double keeps no password in the clear.
    return hashlib.sha256(password.encode()).hexdigest()


def keycloak_like_policy(history: int = 3) -> PasswordPolicy:
    """Return a policy of ``notUsername and passwordHistory(<history>)``."""

    def policy(user: DirectoryUser, password: str, previous: Sequence[str]) -> str | None:
        if password.lower() == user.user_id.lower():
            return USERNAME_REJECTION
        if _digest(password) in previous[:history]:
            return HISTORY_REJECTION
        return None

    return policy


@dataclass
class _Account:
    rep: dict[str, Any]
    # Digests of the current password and the earlier ones, newest first.
    passwords: list[str] = field(default_factory=list)
    failures: int = 0
    # Open Keycloak sessions (what end_sessions ends), counted for tests.
    sessions: int = 0
    # TOTP (issue 12): OTP credentials and required actions.
    otp_credentials: int = 0
    required_actions: list[str] = field(default_factory=list)


@dataclass
class _PlannedFailure:
    error: Exception
    after_applying: bool


class InMemoryUserDirectory:
    """``UserDirectory``'s verbs over a dict."""

    def __init__(
        self,
        realm: str = "pahang",
        *,
        password_policy: PasswordPolicy | None = None,
        declared_attributes: Iterable[str] | None = None,
        latency: float = 0.0,
    ) -> None:
        self.realm = realm
        self.password_policy = password_policy or keycloak_like_policy()
        # Like a declared user profile: writes of other attributes are dropped silently.
        self.declared_attributes = (
            None if declared_attributes is None else set(declared_attributes)
        )
        # Seconds each verb takes, so threads in tests really overlap.
        self.latency = latency
        self.unavailable = False
        self.calls: list[str] = []
        self._accounts: dict[str, _Account] = {}
        self._planned: dict[str, list[_PlannedFailure]] = {}
        self._lock = threading.RLock()

    # -- switches for tests ------------------------------------------------------------

    def fail_next(
        self, verb: str, error: Exception | None = None, *, after_applying: bool = False
    ) -> None:
        """Make the next call of ``verb`` raise (by default KeycloakUnavailable).

        ``after_applying=True`` makes the change first: a reply lost on the way back.
        """
        if not callable(getattr(self, verb, None)):
            raise ValueError(f"no verb {verb!r}")
        failure = _PlannedFailure(error or KeycloakUnavailable(f"simulated: {verb}"), after_applying)
        with self._lock:
            self._planned.setdefault(verb, []).append(failure)

    def add_user(
        self,
        user_id: str,
        *,
        name: str = "PENGGUNA UJIAN",
        email: str = "pengguna.ujian@pahang.gov.my",
        enabled: bool = True,
        attributes: dict[str, list[str]] | None = None,
        password: str | None = None,
    ) -> DirectoryUser:
        """Create a user directly (no payroll record needed); return it."""
        uuid = str(uuid_module.uuid4())
        rep = {
            "id": uuid, "username": user_id.lower(), "firstName": name, "email": email,
            "enabled": enabled, "attributes": self._declared(copy.deepcopy(attributes or {})),
        }
        with self._lock:
            self._accounts[uuid] = _Account(rep, [_digest(password or random_password(32))])
        return self._user(uuid)

    def remove_user(self, uuid: str) -> None:
        """Delete a user, as an administrator in Keycloak's console would."""
        with self._lock:
            self._accounts.pop(uuid, None)

    def password_matches(self, uuid: str, password: str) -> bool:
        """True if ``password`` is the user's current password."""
        with self._lock:
            return self._account(uuid).passwords[:1] == [_digest(password)]

    def password_count(self, uuid: str) -> int:
        """How many passwords the user has had (1 = only the initial one)."""
        with self._lock:
            return len(self._account(uuid).passwords)

    def open_session(self, uuid: str) -> None:
        """Simulate a login somewhere (a portal): one more session for end_sessions to end."""
        with self._lock:
            self._account(uuid).sessions += 1

    def session_count(self, uuid: str) -> int:
        with self._lock:
            return self._account(uuid).sessions

    def record_failed_logins(self, uuid: str, count: int, *, lock_at: int = 3) -> None:
        """Simulate wrong passwords at the login form (a permanent lockout at ``lock_at``)."""
        with self._lock:
            account = self._account(uuid)
            account.failures += count
            if account.failures >= lock_at:
                account.rep["enabled"] = False
                account.rep["attributes"][DISABLED_REASON] = [PERMANENT_LOCKOUT]

    # -- the UserDirectory verbs -------------------------------------------------------

    def find(self, user_id: str) -> DirectoryUser | None:
        """The user whose username is exactly ``user_id``, or None."""
        with self._call("find"):
            wanted = user_id.lower()
            found = next((u for u, a in self._accounts.items() if a.rep["username"] == wanted), None)
            return self._user(found) if found else None

    def search(self, attribute: str, value: str) -> list[DirectoryUser]:
        """Every user whose ``attribute`` is exactly ``value``."""
        with self._call("search"):
            return [self._user(u) for u, a in self._accounts.items()
                    if value in (a.rep["attributes"].get(attribute) or [])]

    def search_text(self, text: str, limit: int = 50) -> list[DirectoryUser]:
        """Users whose ID, name or email contains ``text`` (case ignored)."""
        with self._call("search_text"):
            wanted = text.lower()
            found = [u for u, a in self._accounts.items()
                     if any(wanted in str(a.rep.get(k) or "").lower()
                            for k in ("username", "firstName", "lastName", "email"))]
            return [self._user(u) for u in found[:limit]]

    def sessions(self, uuid: str) -> list[dict[str, Any]]:
        with self._call("sessions"):
            return [{"start": 0, "lastAccess": 0}
                    for _ in range(self._account(uuid).sessions)]

    def update_profile(self, uuid: str, *, name: str | None = None,
                       email: str | None = None) -> None:
        with self._call("update_profile") as apply:
            account = self._account(uuid)

            def change() -> None:
                if name is not None:
                    account.rep["firstName"], account.rep["lastName"] = name, ""
                if email is not None:
                    account.rep["email"] = email

            apply(change)

    def get(self, uuid: str) -> DirectoryUser:
        with self._call("get"):
            return self._user(uuid)

    def register_pending(self, record: PayrollRecord) -> tuple[DirectoryUser, bool]:
        """Create a not-yet-activated user from payroll; leave an existing one alone."""
        with self._call("register_pending"):
            wanted = record.user_id.lower()
            for uuid, account in self._accounts.items():
                if account.rep["username"] == wanted:
                    return self._user(uuid), False
            user = self.add_user(
                record.user_id, name=record.name, email=record.email,
                attributes={
                    "department": [record.department],
                    "registration_date": [record.registration_date.isoformat(timespec="seconds")],
                    ACTIVATION_STATE: [PENDING],
                },
            )
            return user, True

    def set_password(self, uuid: str, password: str) -> None:
        """Set the user's password; raise PasswordRejected if the policy refuses it."""
        with self._call("set_password") as apply:
            account = self._account(uuid)
            rejection = self.password_policy(self._user(uuid), password, account.passwords)
            if rejection:
                raise PasswordRejected(rejection)
            apply(lambda: account.passwords.insert(0, _digest(password)))

    def update_attributes(self, uuid: str, changes: dict[str, list[str] | None]) -> DirectoryUser:
        """Merge ``changes`` into the user's attributes (None deletes a key)."""
        with self._call("update_attributes") as apply:
            account = self._account(uuid)
            apply(lambda: self._merge(account, changes))
            return self._user(uuid)

    def set_password_and_attributes(
        self, uuid: str, password: str, changes: dict[str, list[str] | None]
    ) -> DirectoryUser:
        """Set the password and merge ``changes`` together; a refusal changes neither."""
        with self._call("set_password_and_attributes") as apply:
            account = self._account(uuid)
            rejection = self.password_policy(self._user(uuid), password, account.passwords)
            if rejection:
                raise PasswordRejected(rejection)

            def change() -> None:
                account.passwords.insert(0, _digest(password))
                self._merge(account, changes)

            apply(change)
            return self._user(uuid)

    def _merge(self, account: _Account, changes: dict[str, list[str] | None]) -> None:
        attributes = account.rep["attributes"]
        for key, value in changes.items():
            if value is None:
                attributes.pop(key, None)
            else:
                attributes[key] = list(value)
        account.rep["attributes"] = self._declared(attributes)

    def set_enabled(
        self, uuid: str, enabled: bool, changes: dict[str, list[str] | None] | None = None
    ) -> None:
        with self._call("set_enabled") as apply:
            account = self._account(uuid)

            def change() -> None:
                account.rep["enabled"] = enabled
                if changes:
                    self._merge(account, changes)

            apply(change)

    def end_sessions(self, uuid: str) -> None:
        """Sign the user out of every session."""
        with self._call("end_sessions") as apply:
            account = self._account(uuid)
            apply(lambda: setattr(account, "sessions", 0))

    def end_session(self, uuid: str, session_id: str) -> None:
        """Sign the user out of one session."""
        with self._call("end_session") as apply:
            account = self._account(uuid)
            apply(lambda: setattr(account, "sessions", max(0, account.sessions - 1)))

    def failed_logins(self, uuid: str) -> dict[str, Any]:
        with self._call("failed_logins"):
            account = self._account(uuid)
            return {"numFailures": account.failures, "disabled": not account.rep["enabled"],
                    "lastIPFailure": "n/a", "lastFailure": 0}

    def unlock(self, uuid: str) -> DirectoryUser:
        """Clear failed logins and lift a permanent lockout or a recovery lock."""
        with self._call("unlock") as apply:
            account = self._account(uuid)

            def change() -> None:
                account.failures = 0
                locked_by_recovery = self._user(uuid).locked_by_recovery
                if account.rep["attributes"].pop(DISABLED_REASON, None) or locked_by_recovery:
                    account.rep["enabled"] = True
                account.rep["attributes"].pop(RECOVERY_FAILURES, None)

            apply(change)
            return self._user(uuid)

    # -- TOTP (issue 12) ----------------------------------------------------------------

    def set_otp(self, uuid: str, *, credentials: int) -> None:
        """Give the user OTP credentials (test setup)."""
        with self._lock:
            self._account(uuid).otp_credentials = credentials

    def required_actions(self, uuid: str) -> list[str]:
        with self._lock:
            return list(self._account(uuid).required_actions)

    def otp_credential_count(self, uuid: str) -> int:
        with self._call("otp_credential_count"):
            return self._account(uuid).otp_credentials

    def delete_otp_credentials(self, uuid: str, *, enrol_again: bool = False) -> int:
        with self._call("delete_otp_credentials") as apply:
            account = self._account(uuid)
            removed = account.otp_credentials

            def change() -> None:
                account.otp_credentials = 0
                if enrol_again and "CONFIGURE_TOTP" not in account.required_actions:
                    account.required_actions.append("CONFIGURE_TOTP")

            apply(change)
            return removed

    # -- internals ---------------------------------------------------------------------

    def _call(self, verb: str) -> "_Call":
        return _Call(self, verb)

    def _account(self, uuid: str) -> _Account:
        account = self._accounts.get(uuid)
        if account is None:
            # What the real gateway turns Keycloak's 404 into.
            raise GatewayError("Keycloak answered 404")
        return account

    def _user(self, uuid: str) -> DirectoryUser:
        return DirectoryUser.from_representation(copy.deepcopy(self._account(uuid).rep))

    def _declared(self, attributes: dict[str, list[str]]) -> dict[str, list[str]]:
        if self.declared_attributes is None:
            return attributes
        # Keycloak's own lockout marker is not a profile attribute: writes keep it.
        return {k: v for k, v in attributes.items()
                if k in self.declared_attributes or k == DISABLED_REASON}


class _Call:
    """One verb call: records it, simulates latency, outages and planned failures."""

    def __init__(self, directory: InMemoryUserDirectory, verb: str) -> None:
        self._directory = directory
        self._verb = verb
        self._failure: _PlannedFailure | None = None

    def __enter__(self) -> Callable[[Callable[[], None]], None]:
        directory = self._directory
        if directory.latency:
            time.sleep(directory.latency)
        directory._lock.acquire()
        directory.calls.append(self._verb)
        if directory.unavailable:
            directory._lock.release()
            raise KeycloakUnavailable(f"simulated outage: {self._verb}")
        planned = directory._planned.get(self._verb)
        self._failure = planned.pop(0) if planned else None
        if self._failure and not self._failure.after_applying:
            directory._lock.release()
            raise self._failure.error
        return self._apply

    def _apply(self, change: Callable[[], None]) -> None:
        change()
        self._raise_planned()

    def _raise_planned(self) -> None:
        failure, self._failure = self._failure, None
        if failure is not None:
            raise failure.error

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        self._directory._lock.release()
        if exc_type is None:
            # A verb that changes nothing still loses its reply.
            self._raise_planned()
