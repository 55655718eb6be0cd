"""Security settings ("Tetapan Akaun", manual 004 part C) for a signed-in user.

::

    not signed in ──► Keycloak login (the sidecar's client, code flow + PKCE) ──► signed_in
                                                              (pending, disabled: refused)
    SIGNED_IN ── account(): ID, name, email, department, registration date
        │
        │ change_password / change_questions / change_site_key
        │   login older than 5 minutes ─► ReauthenticationRequired: nothing changed; the
        │   web layer sends the browser to Keycloak with prompt=login and max_age=300,
        │   then back to the form
        ▼
    CHANGED      Keycloak updated, an audit event, a notification email

Design decisions:

* **Fresh login instead of "Kata Laluan Lama".** Manual 004's "Tukar Kata Laluan" asks
  for the old password. The sidecar never sees a login password (DESIGN.md): it cannot
  check one without acting as a login form (a password grant would also bypass the
  themed login, its brute-force accounting and the SSO session). The same proof comes
  from Keycloak: any change needs a sign-in no older than ``FRESH_LOGIN_SECONDS`` (the
  ID token's ``auth_time``), and the re-authentication uses ``prompt=login`` with
  ``max_age=300``, so the user has just typed the current password into Keycloak's own
  page, under its lockout rules. The password page says so instead of asking again.
* Every change re-reads the account: a session opened before the account was locked,
  disabled or reset cannot change anything.
* New passwords follow the same rules, checklist and history as activation (Keycloak's
  ``passwordHistory(3)`` has the last word); the secret phrase follows first login's
  rules, and must not be one of the user's security answers.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Sequence

from idp_extension.audit import AuditEvent, Outcome
from idp_extension.errors import InternalError, IspeksError, NotFound
from idp_extension.flows.answers import (
    ANSWERS_ATTRIBUTE, hash_answers, stored_question_ids, validate_choices, verify_answer,
)
from idp_extension.flows.common import (  # noqa: F401  (names the web layer uses)
    PasswordRejectedByPolicy, PasswordRulesFailed, QuestionsInvalid, TenantFlowContext,
    ValidationFailed,
)
from idp_extension.flows.notifications import notify
from idp_extension.flows.texts import MESSAGES  # noqa: F401  (the web layer merges it)
from idp_extension.flows.password_rules import check_password, keycloak_reason_key
from idp_extension.flows.phrases import (
    IMAGE_ATTRIBUTE, PHRASE_ATTRIBUTE, PHRASE_SECRET, image_problem, normalise_phrase,
    phrase_problem,
)
from idp_extension.gateway.errors import GatewayError, KeycloakUnavailable
from idp_extension.gateway.users import ACTIVE, DirectoryUser, PasswordRejected
from idp_extension.i18n import format_page_date, parse_date  # noqa: F401

log = logging.getLogger(__name__)

# "Changing anything requires a login no older than 5 minutes."
FRESH_LOGIN_SECONDS = 300
# Keycloak's and our clocks may disagree by this much.
CLOCK_LEEWAY_SECONDS = 30


class Change(enum.StrEnum):
    PASSWORD = "password"
    QUESTIONS = "questions"
    SITE_KEY = "site_key"
    # TOTP (issue 12): Keycloak's CONFIGURE_TOTP enrols; turning off deletes the credential.
    TOTP_ENABLED = "totp_enabled"
    TOTP_DISABLED = "totp_disabled"


# -- errors ----------------------------------------------------------------------------


class ReauthenticationRequired(IspeksError, code="settings.reauthenticate", status=401):
    """The sign-in is older than 5 minutes: log in again before changing anything."""


class NotActivated(IspeksError, code="settings.not_activated", status=403):
    """A pending (not yet activated) account signed in: settings are for active accounts."""


class AccountUnavailable(IspeksError, code="settings.account_unavailable", status=403):
    """The signed-in account is gone, disabled or locked since the sign-in."""


class SiteKeyInvalid(ValidationFailed, code="settings.site_key_invalid"):
    """The secret phrase or the image is not acceptable."""


class TotpRequiredByTask(IspeksError, code="settings.totp_required_by_task", status=409):
    """TOTP cannot be turned off: a privileged task of the user requires it."""


# -- records ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SettingsContext(TenantFlowContext):
    """The settings' context (tenant, directory, mailer, audit, clock: the base's)."""

    # Where "Lupa Kata Laluan" is, for the notification emails.
    recovery_url: str


@dataclass(frozen=True)
class SignIn:
    """Who signed in to the settings, and when they last typed their password at Keycloak."""

    sub: str
    user_id: str
    auth_time: datetime
    # The sign-in's ID token named the marker role ispeks-tugas/totp-wajib (claim "tugas"):
    # a privileged task requires TOTP. Changes need a sign-in under 5 minutes old, so
    # this is as fresh as the change; the sidecar's service account cannot read client
    # roles itself.
    totp_required: bool = False

    @classmethod
    def from_claims(cls, sub: str, user_id: str, auth_time: float,
                    totp_required: bool = False) -> "SignIn":
        return cls(sub, user_id, datetime.fromtimestamp(int(auth_time), timezone.utc),
                   bool(totp_required))


@dataclass(frozen=True)
class Account:
    """What "Maklumat Pengguna" shows."""

    user_uuid: str
    user_id: str
    name: str
    email: str
    department: str | None
    registration_date: datetime | None
    question_ids: tuple[str, ...]
    phrase: str | None
    image_id: str | None


# -- verbs -----------------------------------------------------------------------------


def signed_in(ctx: SettingsContext, sign_in: SignIn) -> Account:
    """Accept a fresh Keycloak sign-in for the settings; refuse pending and unusable accounts."""
    user = _signed_in_user(ctx, sign_in)
    if user.activation_state != ACTIVE:
        ctx.audit.record(AuditEvent.SETTINGS_SIGNED_IN, subject=user.user_id,
                         outcome=Outcome.DENIED, reason="not_activated")
        raise NotActivated("pending account signed in to the settings")
    if not user.enabled:
        raise AccountUnavailable("disabled account")
    ctx.audit.record(AuditEvent.SETTINGS_SIGNED_IN, subject=user.user_id,
                     outcome=Outcome.SUCCESS)
    return _account(user)


def account(ctx: SettingsContext, sign_in: SignIn) -> Account:
    """The signed-in user's details, read from Keycloak now."""
    return _account(_user(ctx, sign_in))


def is_fresh(ctx: SettingsContext, sign_in: SignIn) -> bool:
    """True if the password was typed at Keycloak within the last 5 minutes."""
    age = (ctx.clock.now() - sign_in.auth_time).total_seconds()
    return -CLOCK_LEEWAY_SECONDS <= age <= FRESH_LOGIN_SECONDS


def fresh_until(sign_in: SignIn) -> datetime:
    """When the current sign-in stops being fresh enough for changes."""
    return datetime.fromtimestamp(sign_in.auth_time.timestamp() + FRESH_LOGIN_SECONDS, timezone.utc)


def require_fresh(ctx: SettingsContext, sign_in: SignIn, change: Change) -> None:
    """Raise ReauthenticationRequired unless the sign-in is fresh (checked before anything)."""
    if not is_fresh(ctx, sign_in):
        ctx.audit.record(_event(change), subject=sign_in.user_id,
                         outcome=Outcome.DENIED, step="settings", reason="login_not_fresh")
        raise ReauthenticationRequired(f"auth_time {sign_in.auth_time.isoformat()} is stale")


def change_password(ctx: SettingsContext, sign_in: SignIn, password: str, confirm: str,
                    locale: str) -> Account:
    """"Tukar Kata Laluan": set a new password (the fresh login proved the current one).

    Raises ReauthenticationRequired, PasswordRulesFailed, PasswordRejectedByPolicy
    (Keycloak's policy: e.g. one of the last three passwords), AccountUnavailable.
    """
    require_fresh(ctx, sign_in, Change.PASSWORD)
    user = _user(ctx, sign_in)
    failures = check_password(password, confirm, user.user_id)
    if failures:
        raise PasswordRulesFailed(failures)
    try:
        ctx.directory.set_password(user.id, password)
    except PasswordRejected as exc:
        reason = keycloak_reason_key(exc.policy_message)
        ctx.audit.record(AuditEvent.PASSWORD_CHANGED, subject=user.user_id,
                         outcome=Outcome.DENIED, step="settings", reason="rejected_by_policy",
                         policy=reason)
        raise PasswordRejectedByPolicy(reason) from None
    return _changed(ctx, user, Change.PASSWORD, locale)


def change_questions(ctx: SettingsContext, sign_in: SignIn,
                     choices: Sequence[tuple[str, str]], locale: str) -> Account:
    """Replace the three security questions and answers (argon2id hashes)."""
    require_fresh(ctx, sign_in, Change.QUESTIONS)
    user = _user(ctx, sign_in)
    errors = validate_choices(choices, [q.id for q in ctx.tenant.security_questions])
    if errors:
        raise QuestionsInvalid(errors)
    stored = ctx.directory.update_attributes(
        user.id, {ANSWERS_ATTRIBUTE: [hash_answers(choices, ctx.answer_hasher)]})
    if not stored.first(ANSWERS_ATTRIBUTE):
        raise InternalError(f"{ANSWERS_ATTRIBUTE} was not stored: declared in the profile?")
    return _changed(ctx, stored, Change.QUESTIONS, locale,
                    question_ids=[question_id for question_id, _ in choices])


def change_site_key(ctx: SettingsContext, sign_in: SignIn, raw_phrase: str, image_id: str,
                    locale: str) -> Account:
    """Replace the secret phrase and the online image (states that use them only)."""
    if not ctx.tenant.uses_secret_phrase:
        raise NotFound(f"{ctx.realm} has no secret phrase")
    require_fresh(ctx, sign_in, Change.SITE_KEY)
    user = _user(ctx, sign_in)
    phrase = normalise_phrase(raw_phrase)
    errors: dict[str, str] = {}
    problem = phrase_problem(phrase)
    if problem is None and _is_an_answer(ctx, user, phrase):
        problem = PHRASE_SECRET  # shown to anyone who types the ID: never a secret answer
    if problem:
        errors["phrase"] = problem
    image = image_problem(image_id)
    if image:
        errors["image"] = image
    if errors:
        raise SiteKeyInvalid(errors)
    before = (user.first(PHRASE_ATTRIBUTE), user.first(IMAGE_ATTRIBUTE))
    stored = ctx.directory.update_attributes(
        user.id, {PHRASE_ATTRIBUTE: [phrase], IMAGE_ATTRIBUTE: [image_id]})
    if (stored.first(PHRASE_ATTRIBUTE), stored.first(IMAGE_ATTRIBUTE)) != (phrase, image_id):
        raise InternalError("phrase or image not stored: declared in the profile?")
    return _changed(ctx, stored, Change.SITE_KEY, locale,
                    phrase_changed=before[0] != phrase, image_changed=before[1] != image_id)


# -- TOTP (issue 12) -------------------------------------------------------------------


@dataclass(frozen=True)
class TotpStatus:
    """Whether the user has an authenticator app, and whether a task requires one."""

    configured: bool
    required: bool

    @property
    def may_turn_off(self) -> bool:
        return self.configured and not self.required


def totp_status(ctx: SettingsContext, sign_in: SignIn) -> TotpStatus:
    """Read the user's TOTP state from Keycloak now."""
    user = _user(ctx, sign_in)
    return TotpStatus(configured=ctx.directory.otp_credential_count(user.id) > 0,
                      required=sign_in.totp_required)


def begin_totp_enrolment(ctx: SettingsContext, sign_in: SignIn) -> None:
    """Check that TOTP may be turned on now (fresh login, usable account).

    Keycloak enrols: the web layer sends the browser to its CONFIGURE_TOTP action
    (``kc_action``), which shows the QR code and the key and checks a first code.
    """
    require_fresh(ctx, sign_in, Change.TOTP_ENABLED)
    _user(ctx, sign_in)


def totp_enrolled(ctx: SettingsContext, sign_in: SignIn, locale: str) -> bool:
    """After Keycloak's action reported success: audit and notify if an app is there now."""
    user = _user(ctx, sign_in)
    if ctx.directory.otp_credential_count(user.id) == 0:
        return False
    _changed(ctx, user, Change.TOTP_ENABLED, locale)
    return True


def disable_totp(ctx: SettingsContext, sign_in: SignIn, locale: str) -> int:
    """Turn TOTP off: delete the user's OTP credentials, unless a task requires TOTP.

    Raises ReauthenticationRequired, TotpRequiredByTask (nothing changed). Returns how
    many authenticator apps were removed (0: it was off already; nothing mailed).
    """
    require_fresh(ctx, sign_in, Change.TOTP_DISABLED)
    user = _user(ctx, sign_in)
    if sign_in.totp_required:
        ctx.audit.record(AuditEvent.TOTP_DISABLED, subject=user.user_id,
                         outcome=Outcome.DENIED, step="settings", reason="task_requires_totp")
        raise TotpRequiredByTask(f"{user.user_id} holds a task that requires TOTP")
    removed = ctx.directory.delete_otp_credentials(user.id)
    if removed:
        _changed(ctx, user, Change.TOTP_DISABLED, locale, removed=removed)
    return removed


# -- helpers ---------------------------------------------------------------------------


_EVENTS = {
    Change.PASSWORD: AuditEvent.PASSWORD_CHANGED,
    Change.QUESTIONS: AuditEvent.SECURITY_QUESTIONS_CHANGED,
    Change.SITE_KEY: AuditEvent.SECRET_PHRASE_CHANGED,
    Change.TOTP_ENABLED: AuditEvent.TOTP_ENABLED,
    Change.TOTP_DISABLED: AuditEvent.TOTP_DISABLED,
}


def _event(change: Change) -> AuditEvent:
    return _EVENTS[change]


def _changed(ctx: SettingsContext, user: DirectoryUser, change: Change, locale: str,
             **details: Any) -> Account:
    notified = notify(ctx.mailer, ctx.tenant, user, change.value, locale, ctx.clock.now(),
                      recovery_url=ctx.recovery_url)
    ctx.audit.record(_event(change), subject=user.user_id,
                     outcome=Outcome.SUCCESS, step="settings", notified=notified, **details)
    return _account(user)


def _user(ctx: SettingsContext, sign_in: SignIn) -> DirectoryUser:
    """The signed-in account as Keycloak has it now, if it may still use the settings."""
    user = _signed_in_user(ctx, sign_in)
    if not user.enabled:
        raise AccountUnavailable("account disabled since the sign-in")
    if user.activation_state != ACTIVE:
        raise NotActivated("account not active")
    return user


def _signed_in_user(ctx: SettingsContext, sign_in: SignIn) -> DirectoryUser:
    """The signed-in account as Keycloak has it now; AccountUnavailable if it is gone or
    its username is no longer the token's (KeycloakUnavailable passes: a retry works)."""
    try:
        user = ctx.directory.get(sign_in.sub)
    except KeycloakUnavailable:
        raise
    except GatewayError:
        raise AccountUnavailable("signed-in user not found") from None
    if user.user_id != sign_in.user_id.lower():
        raise AccountUnavailable("token username does not match the account")
    return user


def _is_an_answer(ctx: SettingsContext, user: DirectoryUser, phrase: str) -> bool:
    stored = user.first(ANSWERS_ATTRIBUTE)
    return any(verify_answer(stored, q, phrase, ctx.answer_hasher)
               for q in stored_question_ids(stored))


def _account(user: DirectoryUser) -> Account:
    return Account(
        user_uuid=user.id, user_id=user.user_id, name=user.name, email=user.email,
        department=user.department, registration_date=parse_date(user.registration_date),
        question_ids=tuple(stored_question_ids(user.first(ANSWERS_ATTRIBUTE))),
        phrase=user.first(PHRASE_ATTRIBUTE), image_id=user.first(IMAGE_ATTRIBUTE),
    )
