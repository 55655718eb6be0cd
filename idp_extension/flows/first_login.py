"""First login with an emailed temporary password (Selangor, Melaka: manuals 003 and 004).

::

    ID + email ──request_temporary_password──► SENT    Keycloak password = a random temporary
        │ any mismatch: nothing sent, and the            one; ispeks_temp_password_expires set;
        │ same confirmation (an address outside          email: name, ID, password, expiry
        │ the state's domains: REFUSED at once)
        ▼
    Keycloak's login page (the sidecar's client, prompt=login) checks the temporary
    password like any password: 3 wrong → Keycloak's brute force locks the account
        │ callback
        ▼
    signed_in ──► COMPLETING  pending, temporary password not expired: "Maklumat
        │         Pendaftaran Baru" (ID, name, email; new password, 3 questions, image,
        │         phrase)            expired: EXPIRED (the password is scrambled)
        │ complete ("Aktif")
        ▼
    COMPLETED    one write: new password, hashed answers, phrase, image, state active,
                 temporary-password attributes removed; log in again with the new password

    A newer request replaces the password, so the older temporary password is void, and
    the completion page of a sign-in made with it is refused too (SUPERSEDED).

Design decision: **Keycloak owns and checks the temporary password.** It is set as the
user's real Keycloak password (not ``temporary``: Keycloak's own "update password" page
would bypass the questions, image and phrase), so:

* the sidecar never sees a login password and never compares one; the user types the
  temporary password into Keycloak's themed login page, where brute-force protection
  (three strikes, permanent lock, unlocked by "Pentadbir Sistem") applies exactly as for
  real passwords, and the unknown-ID answers stay identical;
* Keycloak's password history holds the temporary password, so "Kata Laluan Baru" equal
  to it is refused by Keycloak's own policy;
* expiry is the sidecar's: ``ispeks_temp_password_expires`` (ISO UTC). Past it the
  callback refuses and scrambles the password. Until then Keycloak would accept the
  password anywhere, which is why the realm's default login flow (every client but the
  sidecar's) refuses accounts still ``pending``: a temporary password opens nothing but
  this completion page;
* which sign-in may complete is tied to the request by ``ispeks_nonce_temp_password``
  (a random issue id, written with the password): a newer request changes it.

Order of writes ("nothing half-done"). Requesting writes Keycloak first (one PUT:
password, expiry, issue id) and emails second. Emailing first (as activation links do)
would, if the Keycloak write then failed, deliver a password that does not work, and the
user trying it would count failures towards a lock. Written first, a failed email leaves
a password nobody knows; it is scrambled again and the expiry removed (best effort), so
the account is as before: no usable temporary password. The answer is the same either
way (``mail:send:failed`` tells state IT); no email comes, and the user asks again. The
writing and sending run in ``ctx.work``: a request leaves after the floor whether they
are done or not, so their duration shows in no answer. (An earlier temporary password of the same user is void, as after any new
request.) Completing is one PUT /users/{id} with credentials and attributes, which
Keycloak applies in one transaction: a policy refusal or an outage changes nothing.

The temporary password exists in memory, in the email and in Keycloak's hash only: never
in an audit event, a log line, an attribute or a session.
"""

from __future__ import annotations

import enum
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, Mapping, Sequence

from idp_extension.audit import AuditEvent, Outcome
from idp_extension.attributes import NONCE_TEMP_PASSWORD, TEMP_PASSWORD_EXPIRES
from idp_extension.errors import InternalError, IspeksError
from idp_extension.flows.answers import ANSWERS_ATTRIBUTE, hash_answers, validate_choices
from idp_extension.flows.common import (
    AccountDisabled, PasswordRejectedByPolicy, TenantFlowContext, ValidationFailed,
)
from idp_extension.flows.emailed_link import Task, answered_after_the_floor, record_send_failure
from idp_extension.flows.identifiers import (  # noqa: F401  (the web layer's names)
    MAX_EMAIL_LENGTH, InvalidEmailError, InvalidLoginIdError, display_id, normalise_email,
    normalise_login_id, parse_login_id,
)
from idp_extension.flows.identifiers import login_id_rate_limit_key as id_rate_limit_key  # noqa: F401
from idp_extension.flows.password_rules import (
    POLICY_HISTORY, RuleFailure, check_password, keycloak_reason_key,
)
from idp_extension.flows.ports import BackgroundWork, ClaimsUnavailable, InlineWork, OneTimeClaims
from idp_extension.flows.phrases import (  # noqa: F401  (the web layer's names)
    IMAGE_ATTRIBUTE, IMAGE_REQUIRED, IMAGE_UNKNOWN, MAX_PHRASE_LENGTH, MIN_PHRASE_LENGTH,
    PHRASE_ATTRIBUTE, PHRASE_MARKUP, PHRASE_REQUIRED, PHRASE_SECRET, PHRASE_TOO_LONG,
    PHRASE_TOO_SHORT, image_problem, normalise_phrase, phrase_problem,
)
from idp_extension.flows.texts import MESSAGES  # noqa: F401  (the web layer merges it)
from idp_extension.flows.tokens import nonce_digest
from idp_extension.gateway.errors import GatewayError, KeycloakUnavailable
from idp_extension.gateway.users import (
    ACTIVATED_AT, ACTIVATION_STATE, ACTIVE, PENDING, DirectoryUser, PasswordRejected,
)
from idp_extension.i18n import (  # noqa: F401  (the web layer formats with them too)
    DEFAULT_LOCALE, format_expiry, lifetime_hours, normalize_locale,
)
from idp_extension.mail.errors import MailRejected, MailUnavailable
from idp_extension.mail.render import compose_email
from idp_extension.passwords import random_password
from idp_extension.tenants import Onboarding, Tenant

log = logging.getLogger(__name__)

PURPOSE = "first_login"
EMAIL_TEMPLATE = "temporary_password"
# Declared admin-only in realms/profile.py (names in attributes.py).
EXPIRES_ATTRIBUTE = TEMP_PASSWORD_EXPIRES
ISSUE_ATTRIBUTE = NONCE_TEMP_PASSWORD

TEMPORARY_PASSWORD_LENGTH = 16
# Every request leaves after this long. The lookup is the only work done before the
# answer; issuing (one Keycloak write that hashes the new password: median 0.55 s, at
# most 0.8 s over ten runs on a 2-core test machine; then SMTP) gets the rest of the
# floor and, if slower, finishes after the answer has left, so it never shows.
DEFAULT_MIN_REQUEST_SECONDS = 0.8
# A second "Hantar" for the same account this soon (a double click, an impatient
# repeat) gets the same confirmation without a second email, so that the password in
# the first email is not void by the time it arrives.
REPEAT_WINDOW_SECONDS = 10
# One "Aktif" at a time per sign-in, across workers.
CLAIM_SECONDS = 120

DEFAULT_SERVICE_NAMES = {"ms": "Login Kali Pertama", "en": "First-time login"}
# Field error key: the new password is the temporary one or an earlier one.
PASSWORD_REUSED = "first_login.password_reused"


EVENT_SIGNED_IN = AuditEvent.FIRST_LOGIN_SIGNED_IN


class FirstLoginStep(enum.StrEnum):
    SENT = "sent"
    COMPLETING = "completing"
    COMPLETED = "completed"


# -- errors ----------------------------------------------------------------------------


class RegistrationRefused(IspeksError, code="first_login.refused", status=400):
    """ID and email do not name a pending account of this state (the manual's one message)."""


class RegistrationInvalid(ValidationFailed, code="first_login.invalid"):
    """The "Maklumat Pendaftaran Baru" form has errors; ``password_failures`` for the checklist."""

    def __init__(self, field_errors: Mapping[str, str],
                 password_failures: Sequence[RuleFailure] = ()) -> None:
        self.password_failures = tuple(password_failures)
        super().__init__(field_errors)


class FlowProblem(IspeksError, status=409):
    """The completion page cannot be shown or saved; the page says what to do next."""

    # What the page offers: request a new temporary password, or log in.
    next_action: ClassVar[str] = "request"


class TemporaryPasswordExpired(FlowProblem, code="first_login.expired", status=403):
    """The temporary password is past its expiry (or none was issued)."""


class Superseded(FlowProblem, code="first_login.superseded"):
    """A newer temporary password was requested since this sign-in."""


class AlreadyActivated(FlowProblem, code="first_login.already_active", next_action="login"):
    """The account is active already: log in with the password chosen then."""


class SubmissionInProgress(FlowProblem, code="first_login.in_progress", next_action="register"):
    """Another "Aktif" of the same sign-in is being saved right now."""


# -- records ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FirstLoginContext(TenantFlowContext):
    """First login's context (tenant, directory, mailer, audit, clock: the base's)."""

    # One per app (claims_from_uri(settings.ratelimit_storage_uri)), never per request.
    claims: OneTimeClaims
    # Where "Log Masuk" in the email leads (the sidecar's /<realm>/first-login/continue).
    continue_url: str
    min_request_seconds: float = DEFAULT_MIN_REQUEST_SECONDS
    # Where the issuing runs (the web layer passes its ThreadedWork).
    work: BackgroundWork = field(default_factory=InlineWork)
    # What the state calls this service, by locale (Selangor "Login Kali Pertama", Melaka
    # "Pendaftaran"): the web layer passes its catalogue's words, the email repeats them.
    service_names: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_SERVICE_NAMES))

    @property
    def lifetime(self) -> timedelta:
        return timedelta(minutes=self.tenant.temporary_password_minutes)


@dataclass(frozen=True)
class TemporaryPasswordSent:
    """The confirmation: one and the same whether or not anything was sent.

    A match, a mismatch, an unknown, active, locked or disabled ID, a failed send: the
    page says what happens *if* ID and email match a pending account, and whom to call
    when no email comes (README, "The same answer for every ID").
    """


@dataclass(frozen=True)
class FirstLoginFlow:
    """Who is completing the registration, as "Maklumat Pendaftaran Baru" shows them."""

    realm: str
    user_uuid: str
    user_id: str
    name: str
    email: str
    step: FirstLoginStep
    expires_at: datetime  # the temporary password's
    # The request this sign-in belongs to (a newer request changes it): kept by the web
    # layer with the sign-in and handed back to ``complete``.
    issue: str

    @property
    def display_id(self) -> str:
        return display_id(self.user_id)


@dataclass(frozen=True)
class Registration:
    """What "Aktif" posts."""

    password: str
    confirm: str
    choices: Sequence[tuple[str, str]]  # (question id, answer), in page order
    image_id: str
    phrase: str

    def __repr__(self) -> str:  # never print the password or the answers
        return f"Registration(image_id={self.image_id!r}, questions={[q for q, _ in self.choices]})"


@dataclass(frozen=True)
class FirstLoginCompleted:
    """The "Pendaftaran telah berjaya" page."""

    flow: FirstLoginFlow


# -- verbs -----------------------------------------------------------------------------


def request_temporary_password(
    ctx: FirstLoginContext, raw_id: str, raw_email: str, locale: str = DEFAULT_LOCALE
) -> TemporaryPasswordSent:
    """Email a new temporary password if ID and email name a pending account; answer alike.

    Raises InvalidLoginIdError / InvalidEmailError (malformed input: the formats are
    public, shown at once), RegistrationRefused (an address outside the state's
    domains: that depends on the email alone), or KeycloakUnavailable (the lookup
    failed, the same for every ID: 503). Every other case, sent or not, gets the same
    TemporaryPasswordSent after the same time; why nothing was sent is audited.
    """
    _require_temporary_password_state(ctx.tenant)
    user_id = parse_login_id(raw_id)
    email = normalise_email(raw_email)
    locale = normalize_locale(locale) or DEFAULT_LOCALE
    answered_after_the_floor(ctx.min_request_seconds, ctx.clock, ctx.work,
                             lambda: _look_up(ctx, user_id, email, locale))
    return TemporaryPasswordSent()


def _refusal_reason(ctx: FirstLoginContext, user: DirectoryUser | None, email: str) -> str | None:
    if user is None:
        return "unknown"
    if not user.enabled:
        # Disabled by state IT, or locked after three wrong passwords: "Pentadbir Sistem".
        return "locked" if user.permanently_locked else "disabled"
    if user.activation_state != PENDING:
        return "not_pending"
    registered = (user.email or "").strip().lower()
    if not registered:
        return "no_email"
    if registered != email:
        return "email_mismatch"
    if not ctx.tenant.allows_email(registered):
        return "registered_email_domain"
    return None


def _look_up(ctx: FirstLoginContext, user_id: str, email: str, locale: str) -> Task:
    if not ctx.tenant.allows_email(email):
        _refuse(ctx, user_id, "email_domain", step="request")
    user = ctx.directory.find(user_id)
    reason = _refusal_reason(ctx, user, email)
    if user is None or reason:
        _record_refusal(ctx, user_id, "request", reason or "unknown")
        return None

    recent = f"{PURPOSE}:{ctx.realm}:{user.id}:recent"
    if not _first_in_window(ctx, recent):
        ctx.audit.record(AuditEvent.FIRST_LOGIN_REQUESTED, subject=user_id,
                         outcome=Outcome.SUCCESS, result="repeat_ignored",
                         window_seconds=REPEAT_WINDOW_SECONDS)
        return None

    def issue() -> None:
        try:
            _issue(ctx, user, user_id, locale, recent)
        except BaseException:
            ctx.claims.release(recent)
            raise
    return issue


def _first_in_window(ctx: FirstLoginContext, recent: str) -> bool:
    """True unless the same account asked within the double-click window.

    Only a matching ID and email get here: if the claims store (Redis) does not answer,
    the request goes ahead as a first one (at worst a second email) rather than answer
    503, which only matching pairs would see.
    """
    try:
        return ctx.claims.claim(recent, REPEAT_WINDOW_SECONDS)
    except ClaimsUnavailable:
        return True


def _issue(ctx: FirstLoginContext, user: DirectoryUser, user_id: str, locale: str,
           recent: str) -> None:
    """Set and email a temporary password; on failure withdraw it, release ``recent``
    (nothing was sent: a retry must issue again, not be taken for a repeat) and audit."""
    expires_at = (ctx.clock.now() + ctx.lifetime).replace(microsecond=0)
    issue = nonce_digest(secrets.token_urlsafe(16))
    replaced = bool(user.first(EXPIRES_ATTRIBUTE))
    try:
        password = _set_temporary_password(ctx, user, {
            EXPIRES_ATTRIBUTE: [_iso(expires_at)], ISSUE_ATTRIBUTE: [issue]})
    except GatewayError as exc:
        ctx.claims.release(recent)
        ctx.audit.record(AuditEvent.FIRST_LOGIN_REQUESTED, subject=user_id,
                         outcome=Outcome.FAILURE, result="not_sent",
                         reason=("keycloak_unavailable" if isinstance(exc, KeycloakUnavailable)
                                 else "keycloak_error"))
        return

    message = compose_email(
        EMAIL_TEMPLATE, locale, to=user.email, about=user.user_id,
        recipient_name=user.name or display_id(user.user_id),
        user_id=display_id(user.user_id),
        state_name=ctx.tenant.state_name,
        product=ctx.tenant.product,
        service_name=ctx.service_names.get(locale) or DEFAULT_SERVICE_NAMES[locale],
        temporary_password=password,
        expires_at=format_expiry(expires_at, locale),
        hours=lifetime_hours(ctx.tenant.temporary_password_minutes),
        login_url=ctx.continue_url,
    )
    del password  # the message holds it until it is sent; nothing else does
    try:
        ctx.mailer.send(message)
    except (MailUnavailable, MailRejected) as exc:
        # Nothing half-done: the password nobody received is replaced by one nobody
        # knows. The answer was the same as for any other request; state IT is told.
        reason = exc.reason if isinstance(exc, MailRejected) else "mail_unavailable"
        undone = _scramble(ctx, user)
        ctx.claims.release(recent)
        record_send_failure(ctx.audit, user_id, PURPOSE, reason)
        ctx.audit.record(AuditEvent.FIRST_LOGIN_REQUESTED, subject=user_id,
                         outcome=Outcome.FAILURE, result="not_sent", reason=reason,
                         withdrawn=undone)
        return
    ctx.audit.record(AuditEvent.TEMPORARY_PASSWORD_SENT, subject=user_id,
                     outcome=Outcome.SUCCESS, expires_at=_iso(expires_at),
                     replaced_earlier=replaced)


def _set_temporary_password(ctx: FirstLoginContext, user: DirectoryUser,
                            changes: dict[str, list[str] | None]) -> str:
    """Set a new random password with ``changes`` in one write; return the password."""
    for _ in range(3):
        password = random_password(TEMPORARY_PASSWORD_LENGTH)
        try:
            stored = ctx.directory.set_password_and_attributes(user.id, password, changes)
        except PasswordRejected as exc:
            # A random 16-character password only meets history or the ID by a fluke.
            log.warning("temporary password refused by the policy (%s); drawing another",
                        keycloak_reason_key(exc.policy_message))
            continue
        if stored.first(ISSUE_ATTRIBUTE) != changes[ISSUE_ATTRIBUTE][0]:
            raise InternalError(f"{ISSUE_ATTRIBUTE} was not stored: declared in the profile?")
        return password
    raise InternalError("the password policy refused three random temporary passwords")


def _scramble(ctx: FirstLoginContext, user: DirectoryUser) -> bool:
    """Replace the password by one nobody knows and drop the temporary-password marks.

    Best effort: on failure the password stays one nobody knows anyway. Returns success.
    """
    try:
        ctx.directory.set_password_and_attributes(
            user.id, random_password(32), {EXPIRES_ATTRIBUTE: None, ISSUE_ATTRIBUTE: None})
        return True
    except (GatewayError, PasswordRejected) as exc:
        log.warning("could not withdraw a temporary password: %s", type(exc).__name__)
        return False


def signed_in(ctx: FirstLoginContext, user_uuid: str, username: str) -> FirstLoginFlow:
    """Keycloak signed ``user_uuid`` in through the sidecar: may they complete now?

    Raises AlreadyActivated, TemporaryPasswordExpired (the password is scrambled, so it
    cannot be used again), AccountDisabled, or KeycloakUnavailable.
    """
    _require_temporary_password_state(ctx.tenant)
    user = _get(ctx, user_uuid, step="signed_in")
    if user.user_id != (username or "").lower():
        _record_refusal(ctx, user.user_id, "signed_in", "username_mismatch")
        raise TemporaryPasswordExpired("the token names another user")
    flow = _check(ctx, user, issue=None, step="signed_in")
    ctx.audit.record(EVENT_SIGNED_IN, subject=user.user_id,
                     outcome=Outcome.SUCCESS, step="signed_in",
                     expires_at=_iso(flow.expires_at))
    return flow


def current_flow(ctx: FirstLoginContext, user_uuid: str, issue: str) -> FirstLoginFlow:
    """Check the sign-in again (for showing the completion page)."""
    return _check(ctx, _get(ctx, user_uuid, step="page"), issue=issue, step="page")


def complete(
    ctx: FirstLoginContext, user_uuid: str, issue: str, registration: Registration
) -> FirstLoginCompleted:
    """Save the registration in one write: the account is active, the temporary password gone.

    Raises RegistrationInvalid (the page shows it again), PasswordRejectedByPolicy
    (Keycloak's history or username rule), a FlowProblem, or KeycloakUnavailable
    (nothing changed; "Aktif" again works).
    """
    user = _get(ctx, user_uuid, step="complete")
    flow = _check(ctx, user, issue=issue, step="complete")
    phrase = normalise_phrase(registration.phrase)
    field_errors, failures = validate_registration(ctx.tenant, user.user_id, registration)
    if field_errors:
        _record_refusal(ctx, user.user_id, "complete", "invalid", fields=sorted(field_errors))
        raise RegistrationInvalid(field_errors, failures)

    claim = f"{PURPOSE}:{ctx.realm}:{issue}:complete"
    if not ctx.claims.claim(claim, CLAIM_SECONDS):
        _record_refusal(ctx, user.user_id, "complete", "concurrent_submission")
        raise SubmissionInProgress("another submission of this sign-in is in progress")
    try:
        stored = ctx.directory.set_password_and_attributes(user.id, registration.password, {
            ANSWERS_ATTRIBUTE: [hash_answers(registration.choices, ctx.answer_hasher)],
            PHRASE_ATTRIBUTE: [phrase],
            IMAGE_ATTRIBUTE: [registration.image_id],
            ACTIVATION_STATE: [ACTIVE],
            ACTIVATED_AT: [ctx.clock.now().isoformat(timespec="seconds")],
            EXPIRES_ATTRIBUTE: None,
            ISSUE_ATTRIBUTE: None,
        })
    except PasswordRejected as exc:
        ctx.claims.release(claim)
        reason = keycloak_reason_key(exc.policy_message)
        # A pending account's only known earlier passwords are temporary ones.
        key = PASSWORD_REUSED if reason == POLICY_HISTORY else reason
        _record_refusal(ctx, user.user_id, "complete", "rejected_by_policy", policy=key)
        raise PasswordRejectedByPolicy(key) from None
    except BaseException:
        # Nothing was written (one transaction): the same sign-in may try again.
        ctx.claims.release(claim)
        raise
    missing = [name for name in (ANSWERS_ATTRIBUTE, PHRASE_ATTRIBUTE, IMAGE_ATTRIBUTE)
               if not stored.first(name)]
    if stored.activation_state != ACTIVE or missing:
        raise InternalError(f"not stored: {missing or [ACTIVATION_STATE]}; declared in the profile?")
    ctx.audit.record(AuditEvent.FIRST_LOGIN_COMPLETED, subject=user.user_id,
                     outcome=Outcome.SUCCESS, step="completed",
                     question_ids=[question for question, _ in registration.choices],
                     image=registration.image_id)
    return FirstLoginCompleted(
        _flow(ctx.realm, stored, flow.expires_at, issue, FirstLoginStep.COMPLETED))


def validate_registration(
    tenant: Tenant, user_id: str, registration: Registration
) -> tuple[dict[str, str], list[RuleFailure]]:
    """Return every field error of the form (field -> message key) and the password's failures."""
    errors: dict[str, str] = {}
    failures = check_password(registration.password, registration.confirm, user_id)
    for failure in failures:
        errors.setdefault("confirm" if failure.rule == "confirm" else "password",
                          failure.message_key)
    errors.update(validate_choices(registration.choices,
                                   [q.id for q in tenant.security_questions]))
    image = image_problem(registration.image_id)
    if image:
        errors["image"] = image
    problem = phrase_problem(normalise_phrase(registration.phrase),
                             [registration.password, *(a for _, a in registration.choices)])
    if problem:
        errors["phrase"] = problem
    return errors, failures


# -- helpers ---------------------------------------------------------------------------


def _require_temporary_password_state(tenant: Tenant) -> None:
    if tenant.onboarding is not Onboarding.TEMPORARY_PASSWORD:
        raise InternalError(f"{tenant.realm} onboards by activation link, not first login")


def _refuse(ctx: FirstLoginContext, subject: str, reason: str, *, step: str) -> None:
    _record_refusal(ctx, subject, step, reason)
    raise RegistrationRefused(f"refused: {reason}")


def _record_refusal(ctx: FirstLoginContext, subject: str | None, step: str, reason: str,
                    **details: Any) -> None:
    ctx.audit.record(AuditEvent.FIRST_LOGIN_REJECTED, subject=subject,
                     outcome=Outcome.DENIED, step=step, reason=reason, **details)


def _get(ctx: FirstLoginContext, user_uuid: str, *, step: str) -> DirectoryUser:
    try:
        return ctx.directory.get(user_uuid)
    except KeycloakUnavailable:
        raise
    except GatewayError:
        # Deleted by state IT since signing in.
        _record_refusal(ctx, None, step, "user_gone")
        raise TemporaryPasswordExpired("user not found") from None


def _check(ctx: FirstLoginContext, user: DirectoryUser, *, issue: str | None,
           step: str) -> FirstLoginFlow:
    """Return the flow of a pending user whose temporary password is current, or raise."""
    if user.activation_state == ACTIVE:
        _record_refusal(ctx, user.user_id, step, "already_active")
        raise AlreadyActivated("account already active")
    if not user.enabled:
        _record_refusal(ctx, user.user_id, step, "account_disabled")
        raise AccountDisabled("first login of a disabled account")
    current_issue = user.first(ISSUE_ATTRIBUTE)
    expires_at = _expires_at(user)
    if user.activation_state != PENDING or not current_issue or expires_at is None:
        _record_refusal(ctx, user.user_id, step, "no_temporary_password")
        raise TemporaryPasswordExpired("no temporary password was issued")
    if issue is not None and not hmac.compare_digest(issue, current_issue):
        _record_refusal(ctx, user.user_id, step, "superseded")
        raise Superseded("a newer temporary password was requested")
    if ctx.clock.now() >= expires_at:
        scrambled = _scramble(ctx, user)
        _record_refusal(ctx, user.user_id, step, "expired", withdrawn=scrambled)
        raise TemporaryPasswordExpired("temporary password expired")
    return _flow(ctx.realm, user, expires_at, current_issue, FirstLoginStep.COMPLETING)


def _flow(realm: str, user: DirectoryUser, expires_at: datetime, issue: str,
          step: FirstLoginStep) -> FirstLoginFlow:
    return FirstLoginFlow(realm=realm, user_uuid=user.id, user_id=user.user_id, name=user.name,
                          email=user.email, step=step, expires_at=expires_at, issue=issue)


def _expires_at(user: DirectoryUser) -> datetime | None:
    value = user.first(EXPIRES_ATTRIBUTE)
    try:
        parsed = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
