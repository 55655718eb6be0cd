"""User verbs on one realm: find, register from payroll, set a password, lock state.

Works with either admin client from ``connection``: the bootstrap account (state IT's
CLI, the dev command) or the realm's own sidecar service account.
"""

from __future__ import annotations

import functools
from urllib.parse import quote
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

import requests
from keycloak import KeycloakAdmin
from keycloak.exceptions import KeycloakDeleteError, KeycloakError, raise_error_from_response

from idp_extension.attributes import (  # noqa: F401  (re-exported for the flows)
    ACTIVATED_AT, REMINDED_AT,
    ACTIVATION_STATE, ACTIVE, DEPARTMENT, DISABLED_REASON, PENDING, PERMANENT_LOCKOUT,
    RECOVERY_FAILURES, REGISTRATION_DATE,
)
from idp_extension.metrics import KEYCLOAK_CALLS, timed
from idp_extension.passwords import random_password
from idp_extension.gateway.errors import GatewayError, KeycloakUnavailable
from idp_extension.payroll import PayrollRecord

# Wrong answers to the security questions in recovery (flows/recovery.py). At the limit
# the sidecar disables the account; only an administrator's unlock lifts that.
RECOVERY_FAILURE_LIMIT = 3
# Issue 12 contract (TASKS-CONTRACT.md): whoever effectively holds this marker role of
# the tasks client must use TOTP (Keycloak's OTP credential).
TOTP_REQUIRED_ROLE = "totp-wajib"
OTP_CREDENTIAL = "otp"
CONFIGURE_TOTP = "CONFIGURE_TOTP"

T = TypeVar("T")


class PasswordRejected(GatewayError):
    """Keycloak's password policy refused the password (history, username, ...)."""

    def __init__(self, policy_message: str):
        super().__init__(policy_message)
        self.policy_message = policy_message


def _translate_errors(call: Callable[..., T]) -> Callable[..., T]:
    """Turn python-keycloak's and requests' exceptions into the gateway's own."""

    @functools.wraps(call)
    def wrapper(*args, **kwargs):
        # Each verb's latency and outcome, labelled by the verb (metrics.py).
        with timed(KEYCLOAK_CALLS, operation=call.__name__, outcome="error") as labels:
            try:
                result = call(*args, **kwargs)
            except requests.RequestException as exc:
                labels["outcome"] = "unavailable"
                raise KeycloakUnavailable(f"Keycloak unreachable: {type(exc).__name__}") from exc
            except KeycloakError as exc:
                if exc.response_code is None or exc.response_code >= 500:
                    labels["outcome"] = "unavailable"
                    raise KeycloakUnavailable(f"Keycloak error {exc.response_code}") from exc
                labels["outcome"] = "refused"
                raise GatewayError(f"Keycloak answered {exc.response_code}") from exc
            labels["outcome"] = "ok"
            return result

    return wrapper


def _first(attributes: dict[str, list[str]], key: str) -> str | None:
    values = attributes.get(key) or []
    return values[0] if values else None


@dataclass(frozen=True)
class DirectoryUser:
    """A user as the sidecar sees them (never their credentials)."""

    id: str
    user_id: str
    name: str
    email: str
    enabled: bool
    attributes: dict[str, list[str]] = field(default_factory=dict)

    def first(self, attribute: str) -> str | None:
        """The first value of ``attribute`` (Keycloak keeps lists), or None."""
        return _first(self.attributes, attribute)

    @property
    def activation_state(self) -> str | None:
        return _first(self.attributes, ACTIVATION_STATE)

    @property
    def department(self) -> str | None:
        return _first(self.attributes, DEPARTMENT)

    @property
    def registration_date(self) -> str | None:
        return _first(self.attributes, REGISTRATION_DATE)

    @property
    def permanently_locked(self) -> bool:
        return not self.enabled and _first(self.attributes, DISABLED_REASON) == PERMANENT_LOCKOUT

    @property
    def recovery_failures(self) -> int:
        """Wrong answers to the security questions since the last success or unlock."""
        try:
            return max(0, int(_first(self.attributes, RECOVERY_FAILURES) or 0))
        except ValueError:
            return RECOVERY_FAILURE_LIMIT  # unreadable: treat as locked, never as fresh

    @property
    def locked_by_recovery(self) -> bool:
        """True once recovery has refused this account for too many wrong answers."""
        return self.recovery_failures >= RECOVERY_FAILURE_LIMIT

    @classmethod
    def from_representation(cls, rep: dict[str, Any]) -> "DirectoryUser":
        name = " ".join(part for part in (rep.get("firstName"), rep.get("lastName")) if part)
        return cls(
            id=rep["id"], user_id=rep["username"], name=name, email=rep.get("email", ""),
            enabled=bool(rep.get("enabled")), attributes=rep.get("attributes") or {},
        )


class UserDirectory:
    """Domain verbs over one realm's users."""

    def __init__(self, admin: KeycloakAdmin, realm: str):
        self._admin = admin
        self._admin.change_current_realm(realm)
        self.realm = realm

    @property
    def admin(self) -> KeycloakAdmin:
        """The realm's admin client (the task roles and reminders reuse it)."""
        return self._admin

    @_translate_errors
    def search_text(self, text: str, limit: int = 50) -> list[DirectoryUser]:
        """Users whose ID, name or email contains ``text`` (Keycloak's ``search``)."""
        found = self._admin.get_users({"search": text, "max": limit,
                                       "briefRepresentation": "false"})
        return [DirectoryUser.from_representation(rep) for rep in found[:limit]]

    @_translate_errors
    def sessions(self, uuid: str) -> list[dict[str, Any]]:
        """The user's Keycloak sessions (start and last access, in milliseconds)."""
        return self._admin.get_sessions(uuid) or []

    @_translate_errors
    def update_profile(self, uuid: str, *, name: str | None = None,
                       email: str | None = None) -> None:
        """Correct the name (firstName, lastName cleared) or the email."""
        rep = self._admin.get_user(uuid)
        if name is not None:
            rep["firstName"], rep["lastName"] = name, ""
        if email is not None:
            rep["email"], rep["emailVerified"] = email, True
        self._admin.update_user(uuid, _writable(rep))

    @_translate_errors
    def find(self, user_id: str) -> DirectoryUser | None:
        """The user whose username is exactly ``user_id``, or None."""
        found = self._admin.get_users({"username": user_id, "exact": "true"})
        return DirectoryUser.from_representation(found[0]) if found else None

    @_translate_errors
    def search(self, attribute: str, value: str) -> list[DirectoryUser]:
        """Every user whose ``attribute`` is exactly ``value`` (all pages)."""
        found = self._admin.get_users({"q": f"{attribute}:{value}"})
        return [DirectoryUser.from_representation(rep) for rep in found]

    @_translate_errors
    def get(self, uuid: str) -> DirectoryUser:
        return DirectoryUser.from_representation(self._admin.get_user(uuid))

    @_translate_errors
    def register_pending(self, record: PayrollRecord) -> tuple[DirectoryUser, bool]:
        """Create a not-yet-activated user from payroll; leave an existing one alone.

        The new user is *enabled* with a random password nobody knows: enabled so that
        the login form answers exactly as for an active user (a disabled user can be
        told apart), and with a password so that the hash check takes as long as for
        an active user (no credential at all answers measurably faster).
        """
        existing = self.find(record.user_id)
        if existing is not None:
            return existing, False
        self._admin.create_user(
            {
                "username": record.user_id,
                "enabled": True,
                "firstName": record.name,
                "email": record.email,
                "emailVerified": True,
                "attributes": {
                    DEPARTMENT: [record.department],
                    REGISTRATION_DATE: [record.registration_date.isoformat(timespec="seconds")],
                    ACTIVATION_STATE: [PENDING],
                },
                "credentials": [
                    {"type": "password", "value": random_password(32), "temporary": False}
                ],
            },
            exist_ok=False,
        )
        return self.find(record.user_id), True

    @_translate_errors
    def set_password(self, uuid: str, password: str) -> None:
        """Set the user's password; raise PasswordRejected if the policy refuses it."""
        try:
            self._admin.set_user_password(uuid, password, temporary=False)
        except KeycloakError as exc:
            if exc.response_code == 400:
                raise PasswordRejected(_error_text(exc)) from None
            raise

    @_translate_errors
    def set_password_and_attributes(
        self, uuid: str, password: str, changes: dict[str, list[str] | None]
    ) -> DirectoryUser:
        """Set the password and merge ``changes`` into the attributes in one write.

        One PUT /users/{id} carrying ``credentials`` and ``attributes``: Keycloak 26
        applies both in one transaction, so a policy refusal (PasswordRejected) changes
        neither, and no failure leaves one without the other.
        """
        rep = self._admin.get_user(uuid)
        rep["attributes"] = _merged(rep.get("attributes") or {}, changes)
        rep["credentials"] = [{"type": "password", "value": password, "temporary": False}]
        try:
            self._admin.update_user(uuid, _writable(rep))
        except KeycloakError as exc:
            # Policy refusals read {"error": "invalidPassword...Message", ...}; other 400s
            # (an attribute the user profile refuses) are not the password's fault.
            if exc.response_code == 400 and "invalidPassword" in _error_text(exc):
                raise PasswordRejected(_error_text(exc)) from None
            raise
        return self.get(uuid)

    @_translate_errors
    def update_attributes(self, uuid: str, changes: dict[str, list[str] | None]) -> DirectoryUser:
        """Merge ``changes`` into the user's attributes (None deletes a key).

        Keycloak replaces the whole attribute map on update, so read, merge, write.
        """
        rep = self._admin.get_user(uuid)
        rep["attributes"] = _merged(rep.get("attributes") or {}, changes)
        self._admin.update_user(uuid, _writable(rep))
        return self.get(uuid)

    @_translate_errors
    def set_enabled(
        self, uuid: str, enabled: bool, changes: dict[str, list[str] | None] | None = None
    ) -> None:
        """Enable or disable the account, merging ``changes`` into its attributes in the
        same write (e.g. why it was disabled)."""
        rep = self._admin.get_user(uuid)
        rep["enabled"] = enabled
        if changes:
            rep["attributes"] = _merged(rep.get("attributes") or {}, changes)
        self._admin.update_user(uuid, _writable(rep))

    @_translate_errors
    def end_sessions(self, uuid: str) -> None:
        """Sign the user out of every Keycloak session (POST /users/{id}/logout)."""
        self._admin.user_logout(uuid)

    @_translate_errors
    def end_session(self, uuid: str, session_id: str) -> None:
        """End one of the user's Keycloak sessions (DELETE /sessions/{id}); a gone one is fine.

        ``uuid`` is not needed by Keycloak (a session id names one user's session); the
        in-memory directory counts sessions per user with it.
        """
        path = (f"admin/realms/{quote(self.realm, safe='')}/sessions/"
                f"{quote(session_id, safe='')}")
        response = self._admin.connection.raw_delete(path)
        raise_error_from_response(response, KeycloakDeleteError, expected_codes=[200, 204, 404])

    @_translate_errors
    def failed_logins(self, uuid: str) -> dict[str, Any]:
        return self._admin.get_bruteforce_detection_status(uuid)

    @_translate_errors
    def unlock(self, uuid: str) -> DirectoryUser:
        """Clear failed logins and lift a permanent lockout or a recovery lock (an
        administrator's act); the count of wrong security answers starts again."""
        self._admin.clear_bruteforce_attempts_for_user(uuid)
        user = self.get(uuid)
        if user.permanently_locked or RECOVERY_FAILURES in user.attributes:
            rep = self._admin.get_user(uuid)
            if user.permanently_locked or user.locked_by_recovery:
                rep["enabled"] = True
            rep["attributes"] = {
                k: v for k, v in (rep.get("attributes") or {}).items()
                if k not in (DISABLED_REASON, RECOVERY_FAILURES)
            }
            self._admin.update_user(uuid, _writable(rep))
        return self.get(uuid)

    # -- TOTP (issue 12): Keycloak owns the OTP credential; these only read and remove it.

    @_translate_errors
    def otp_credential_count(self, uuid: str) -> int:
        """How many OTP credentials (authenticator apps) the user has in Keycloak."""
        return sum(1 for c in self._admin.get_credentials(uuid) if c.get("type") == OTP_CREDENTIAL)

    @_translate_errors
    def delete_otp_credentials(self, uuid: str, *, enrol_again: bool = False) -> int:
        """Remove every OTP credential of the user; return how many there were.

        ``enrol_again`` also sets Keycloak's CONFIGURE_TOTP required action, so the next
        login enrols a new app whether or not a task requires TOTP (a lost phone).
        """
        removed = 0
        for credential in self._admin.get_credentials(uuid):
            if credential.get("type") == OTP_CREDENTIAL:
                self._admin.delete_credential(uuid, credential["id"])
                removed += 1
        if enrol_again:
            rep = self._admin.get_user(uuid)
            actions = list(rep.get("requiredActions") or [])
            if CONFIGURE_TOTP not in actions:
                rep["requiredActions"] = actions + [CONFIGURE_TOTP]
                self._admin.update_user(uuid, _writable(rep))
        return removed


def locked_users(search: Callable[[str, str], list[DirectoryUser]]) -> list[DirectoryUser]:
    """Users locked out (what ``unlock`` lifts), found with a directory's ``search``: by
    Keycloak for wrong passwords, or by recovery for wrong security answers."""
    by_password = search(DISABLED_REASON, PERMANENT_LOCKOUT)
    by_answers = [u for u in search(RECOVERY_FAILURES, str(RECOVERY_FAILURE_LIMIT))
                  if not u.enabled and u.locked_by_recovery]
    return list({u.id: u for u in by_password + by_answers}.values())


def _merged(attributes: dict[str, list[str]], changes: dict[str, list[str] | None]
            ) -> dict[str, list[str]]:
    """Return ``attributes`` with ``changes`` applied (None deletes a key)."""
    merged = dict(attributes)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _writable(rep: dict[str, Any]) -> dict[str, Any]:
    """Drop the read-only parts of a user representation before writing it back."""
    return {k: v for k, v in rep.items() if k not in {"access", "createdTimestamp", "totp",
                                                       "disableableCredentialTypes",
                                                       "notBefore", "userProfileMetadata"}}


def _error_text(exc: KeycloakError) -> str:
    body = exc.response_body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return str(body or exc.error_message)
