"""Account activation by emailed link (Pahang, Kelantan: manuals 000, 001 and 002).

::

      ID ──request_link──► LINK_SENT    email: a link valid 30 minutes, single use
                              │         (unknown, active, disabled ID: no email; the
                              │          same confirmation, naming no address)
                          open_link
               no answers yet │ answers already stored (the user comes back)
                  ┌───────────┴───────────┐
                  ▼                       │
              QUESTIONS                   │
                  │ set_security_questions│
                  ▼                       │
              PASSWORD ◄──────────────────┘
                  │ complete
                  ▼
              COMPLETED    password set, state active, nonce removed: the link is used

    At any step a newer request_link supersedes the link and 30 minutes expire it.

A pending user whom strangers locked out (three wrong passwords at the login form: Keycloak
disables the account with ``disabledReason=permanentLockout``) is still eligible: the
emailed link proves the mailbox, so ``complete`` lifts the lockout along with the
activation. An account disabled by state IT stays refused.

The sidecar is stateless: every verb after ``request_link`` takes the token again and
re-verifies it (signature, purpose, realm, expiry, the user's current nonce) against
Keycloak. The web layer keeps the token in a signed HttpOnly cookie after the first GET.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Mapping, Sequence

from idp_extension.audit import AuditEvent, Outcome
from idp_extension.errors import BadRequest, InternalError, IspeksError
from idp_extension.flows.answers import (
    ANSWERS_ATTRIBUTE, has_answers, hash_answers, validate_choices,
)
from idp_extension.flows.emailed_link import (
    EmailedLinkContext, Task, answered_after_the_floor, record_send_failure,
)
from idp_extension.flows.password_rules import (
    POLICY_HISTORY, RuleFailure, check_password, keycloak_reason_key,
)
from idp_extension.flows.tokens import (
    LinkError, LinkPayload, LinkUsedOrSuperseded, check_current, nonce_attribute,
)
from idp_extension.gateway.errors import GatewayError, KeycloakUnavailable
from idp_extension.gateway.users import (
    ACTIVATED_AT, ACTIVATION_STATE, ACTIVE, PENDING, DirectoryUser, PasswordRejected,
)
from idp_extension.i18n import DEFAULT_LOCALE, normalize_locale
from idp_extension.mail.errors import MailRejected, MailUnavailable
from idp_extension.mail.render import compose_email
from idp_extension.payroll import InvalidUserId, normalise_mykad

log = logging.getLogger(__name__)

PURPOSE = "activation"
NONCE_ATTRIBUTE = nonce_attribute(PURPOSE)
EMAIL_TEMPLATE = "activation"
# Claims outlive the link a little, so that no clock skew between workers reopens one.
CLAIM_MARGIN_SECONDS = 60


def _event(name: str, fallback: AuditEvent) -> AuditEvent:
    """Return ``AuditEvent[name]``, or ``fallback`` until audit.py declares ``name``."""
    return AuditEvent.__members__.get(name, fallback)


# Requested in audit.py as "account:activation:link_opened"; until it lands, the opening
# is recorded as a request with details step="link_opened".
EVENT_LINK_OPENED = _event("ACTIVATION_LINK_OPENED", AuditEvent.ACTIVATION_REQUESTED)


class ActivationStep(str, enum.Enum):
    LINK_SENT = "link_sent"
    QUESTIONS = "questions"
    PASSWORD = "password"
    COMPLETED = "completed"

    def __str__(self) -> str:
        return self.value


# -- errors ----------------------------------------------------------------------------


class ValidationFailed(BadRequest):
    """One or more form fields are wrong; ``field_errors`` maps field -> message key."""

    code: ClassVar[str] = "error.validation_failed"

    def __init__(self, field_errors: Mapping[str, str], detail: str | None = None) -> None:
        super().__init__(detail or f"invalid fields: {sorted(field_errors)}")
        self.field_errors = dict(field_errors)


class InvalidUserIdError(ValidationFailed):
    """The ID is not a valid 12-digit MyKad number."""

    code = "activation.invalid_id"

    def __init__(self) -> None:
        super().__init__({"user_id": self.code}, "malformed user ID")


class QuestionsInvalid(ValidationFailed):
    """The three questions and answers do not meet the rules."""

    code = "activation.questions_invalid"


class PasswordRulesFailed(ValidationFailed):
    """The password breaks our rules (checked before Keycloak sees it)."""

    code = "password.rules_not_met"

    def __init__(self, failures: Sequence[RuleFailure]) -> None:
        self.failures = tuple(failures)
        fields: dict[str, str] = {}
        for failure in self.failures:
            field_name = "confirm" if failure.rule == "confirm" else "password"
            fields.setdefault(field_name, failure.message_key)
        super().__init__(fields, f"password rules broken: {[f.rule for f in self.failures]}")


class PasswordRejectedByPolicy(ValidationFailed):
    """Keycloak's password policy refused the password; ``reason_key`` says why."""

    code = "password.rejected_by_policy"

    def __init__(self, reason_key: str) -> None:
        self.reason_key = reason_key
        super().__init__({"password": reason_key}, f"Keycloak policy: {reason_key}")


class QuestionsRequired(IspeksError):
    """The password step was posted before the security questions were stored."""

    code = "activation.questions_required"
    http_status = 409


class AccountDisabled(IspeksError):
    """The account of a genuine link has been disabled (by state IT or a lockout)."""

    code = "activation.account_disabled"
    http_status = 403


# The sentences behind the codes this module raises, for the web layer's catalogue
# (``<code>`` is the sentence, ``<code>.title`` the heading, as in web/messages).
MESSAGES: dict[str, dict[str, str]] = {
    "ms": {
        "error.validation_failed": "Sila betulkan maklumat yang bertanda.",
        "activation.invalid_id": "Sila masukkan No Kad Pengenalan 12 digit yang sah (cth:123456789012).",
        "activation.questions_invalid": "Sila betulkan soalan keselamatan dan jawapan yang bertanda.",
        "password.rules_not_met": "Kata laluan anda tidak menepati syarat-syarat berikut :",
        "password.rejected_by_policy": "Kata laluan ini tidak diterima. Sila pilih kata laluan lain.",
        "activation.questions_required": "Sila lengkapkan Tetapan Soalan Keselamatan terlebih dahulu.",
        "activation.account_disabled": "Akaun anda telah disekat. Sila hubungi Pentadbir Sistem.",
        "activation.link_tampered": "Pautan pengaktifan ini tidak sah. Sila ulangi Langkah 2 untuk mendapatkan emel pengaktifan baharu.",
        "activation.link_wrong_realm": "Pautan pengaktifan ini bukan untuk iSPEKS negeri ini. Sila gunakan pautan dalam emel anda, atau ulangi Langkah 2.",
        "activation.link_expired": "Pautan pengaktifan ini telah tamat tempoh. Sila ulangi Langkah 2 untuk mendapatkan emel pengaktifan baharu.",
        "activation.link_used": "Pautan pengaktifan ini telah digunakan atau digantikan oleh pautan yang lebih baharu. Sila gunakan pautan dalam emel terkini anda, atau ulangi Langkah 2.",
    },
    "en": {
        "error.validation_failed": "Please correct the marked fields.",
        "activation.invalid_id": "Please enter a valid 12-digit MyKad number (e.g. 123456789012).",
        "activation.questions_invalid": "Please correct the marked security questions and answers.",
        "password.rules_not_met": "Your password does not meet the following requirements:",
        "password.rejected_by_policy": "This password is not accepted. Please choose another one.",
        "activation.questions_required": "Please complete the Security Questions step first.",
        "activation.account_disabled": "Your account has been blocked. Please contact the System Administrator.",
        "activation.link_tampered": "This activation link is not valid. Please repeat Step 2 to get a new activation email.",
        "activation.link_wrong_realm": "This activation link belongs to another state's iSPEKS. Please use the link in your email, or repeat Step 2.",
        "activation.link_expired": "This activation link has expired. Please repeat Step 2 to get a new activation email.",
        "activation.link_used": "This activation link has been used or replaced by a newer one. Please use the link in your latest email, or repeat Step 2.",
    },
}

MESSAGES["ms"].update({
    "error.validation_failed.title": "Maklumat Tidak Lengkap",
    "activation.invalid_id.title": "ID Pengguna Tidak Sah",
    "activation.questions_invalid.title": "Tetapan Soalan Keselamatan",
    "password.rules_not_met.title": "Tetapan Kata Laluan",
    "password.rejected_by_policy.title": "Tetapan Kata Laluan",
    "activation.questions_required.title": "Tetapan Soalan Keselamatan",
    "activation.account_disabled.title": "Akaun Disekat",
    "activation.link_tampered.title": "Pautan Tidak Sah",
    "activation.link_wrong_realm.title": "Pautan Tidak Sah",
    "activation.link_expired.title": "Pautan Telah Tamat Tempoh",
    "activation.link_used.title": "Pautan Telah Digunakan",
})
MESSAGES["en"].update({
    "error.validation_failed.title": "Please Check Your Details",
    "activation.invalid_id.title": "Invalid User ID",
    "activation.questions_invalid.title": "Security Questions",
    "password.rules_not_met.title": "Password Settings",
    "password.rejected_by_policy.title": "Password Settings",
    "activation.questions_required.title": "Security Questions",
    "activation.account_disabled.title": "Account Blocked",
    "activation.link_tampered.title": "Invalid Link",
    "activation.link_wrong_realm.title": "Invalid Link",
    "activation.link_expired.title": "Link Expired",
    "activation.link_used.title": "Link Already Used",
})


# -- records ---------------------------------------------------------------------------


class ActivationContext(EmailedLinkContext):
    """Activation's context: links to ``/<realm>/activation`` (Langkah 2 asks again)."""

    purpose: ClassVar[str] = PURPOSE
    page: ClassVar[str] = "activation"


@dataclass(frozen=True)
class LinkRequested:
    """The confirmation: one and the same for every valid ID, whatever happened.

    It names no address, not even masked: a masked real address next to a made-up one
    for other IDs told them apart (README, "The same answer for every ID").
    """


@dataclass(frozen=True)
class ActivationFlow:
    """Where one user is in the activation, as the account page shows it."""

    realm: str
    user_uuid: str
    user_id: str
    name: str
    email: str  # unmasked: the page is behind the emailed link, it is theirs
    registration_date: datetime | None
    step: ActivationStep
    expires_at: datetime  # the link's expiry


@dataclass(frozen=True)
class ActivationCompleted:
    """The "Tahniah" page: the same details, both steps ticked."""

    flow: ActivationFlow


# -- verbs -----------------------------------------------------------------------------


def request_link(ctx: ActivationContext, raw_id: str, locale: str = "ms") -> LinkRequested:
    """Email an activation link to a pending user; answer alike for every valid ID.

    Raises InvalidUserIdError (a malformed ID: shown at once, the format is public) or
    KeycloakUnavailable (the lookup failed, the same for every ID: 503). A send that
    fails or is slow changes nothing in the answer: it is audited instead.
    """
    try:
        user_id = normalise_mykad(raw_id)
    except InvalidUserId:
        raise InvalidUserIdError() from None
    locale = normalize_locale(locale) or DEFAULT_LOCALE
    answered_after_the_floor(ctx.min_request_seconds, ctx.clock, ctx.work,
                             lambda: _look_up(ctx, user_id, locale))
    return LinkRequested()


def id_rate_limit_key(secret_key: str, realm: str, raw_id: str) -> str:
    """Return the rate-limit key for requests about one ID (for Flask-Limiter's key_func).

    The ID is normalised first, so "900101-06-1234" and "900101061234" share a counter,
    and keyed-hashed, so Redis never holds ID numbers.
    """
    try:
        subject = normalise_mykad(raw_id)
    except InvalidUserId:
        subject = (raw_id or "").strip()[:64]
    digest = hmac.new(secret_key.encode(), f"ratelimit:{realm}:{subject}".encode(), hashlib.sha256)
    return f"{PURPOSE}-id:{realm}:{digest.hexdigest()[:32]}"


def _blocked(user: DirectoryUser) -> bool:
    """True if the account is disabled for a reason the emailed link does not lift.

    Strangers guessing passwords can lock a pending account for good (Keycloak's
    permanent lockout); it must not stop its owner from activating, so that lock alone
    does not count. A state IT administrator's disabling does.
    """
    return not user.enabled and not user.permanently_locked


def _ineligible(user: DirectoryUser | None) -> str | None:
    if user is None:
        return "unknown"
    if _blocked(user):
        return "disabled"
    if user.activation_state != PENDING:
        return "not_pending"
    if "@" not in (user.email or ""):
        return "no_email"
    return None


def _look_up(ctx: ActivationContext, user_id: str, locale: str) -> Task:
    user = ctx.directory.find(user_id)
    reason = _ineligible(user)
    if user is None or reason:
        ctx.audit.record(AuditEvent.ACTIVATION_REQUESTED, realm=ctx.realm, subject=user_id,
                         outcome=Outcome.DENIED, result="ignored", reason=reason)
        return None
    return lambda: _send_link(ctx, user, user_id, locale)


def _send_link(ctx: ActivationContext, user: DirectoryUser, user_id: str, locale: str) -> None:
    # Nothing half-done, and no race with a quick click: the nonce digest is stored
    # first, so the link works the moment the email arrives. If the send then fails, the
    # previous digest is put back (the older link, if any, works again); the new token
    # was never disclosed, so a digest left behind by a failed restore opens nothing.
    issued = ctx.signer().issue(ctx.realm, user.id)
    previous = user.first(NONCE_ATTRIBUTE)
    try:
        stored = ctx.directory.update_attributes(
            user.id, {NONCE_ATTRIBUTE: [issued.payload.nonce_digest]})
    except GatewayError as exc:
        ctx.audit.record(AuditEvent.ACTIVATION_REQUESTED, realm=ctx.realm, subject=user_id,
                         outcome=Outcome.FAILURE, result="not_sent",
                         reason=("keycloak_unavailable" if isinstance(exc, KeycloakUnavailable)
                                 else "keycloak_error"))
        return
    if stored.first(NONCE_ATTRIBUTE) != issued.payload.nonce_digest:
        raise InternalError(f"{NONCE_ATTRIBUTE} was not stored: is it declared in the profile?")
    message = compose_email(
        EMAIL_TEMPLATE, locale, to=user.email, about=user.user_id,
        recipient_name=user.name or user.user_id,
        state_name=ctx.tenant.state_name,
        registration_date=format_email_date(_parse_date(user.registration_date), locale),
        link=ctx.link_url(issued.token),
        minutes=ctx.tenant.activation_link_minutes,
        request_url=ctx.request_url(),
    )
    try:
        ctx.mailer.send(message)
    except (MailUnavailable, MailRejected) as exc:
        # Unavailable: the relay is down (the user asks again later). Rejected: the
        # server refuses this address for good (a dead mailbox; state IT sees it).
        # Rejected also covers an address outside the state's domains (mail/guard.py).
        reason = exc.reason if isinstance(exc, MailRejected) else "mail_unavailable"
        restored = _restore_nonce(ctx, user, previous)
        record_send_failure(ctx.audit, ctx.realm, user_id, PURPOSE, reason)
        ctx.audit.record(AuditEvent.ACTIVATION_REQUESTED, realm=ctx.realm, subject=user_id,
                         outcome=Outcome.FAILURE, result="not_sent", reason=reason,
                         restored=restored)
        return
    ctx.audit.record(AuditEvent.ACTIVATION_REQUESTED, realm=ctx.realm, subject=user_id,
                     outcome=Outcome.SUCCESS, result="sent")


def _restore_nonce(ctx: ActivationContext, user: DirectoryUser, previous: str | None) -> bool:
    """Put the digest of the previous link back (best effort); True if it worked."""
    try:
        ctx.directory.update_attributes(user.id, {NONCE_ATTRIBUTE: [previous] if previous else None})
        return True
    except GatewayError as exc:
        log.warning("could not restore the previous link after a failed send: %s",
                    type(exc).__name__)
        return False


def open_link(ctx: ActivationContext, token: str) -> ActivationFlow:
    """Verify the link and say which step the user is at (QUESTIONS or PASSWORD)."""
    payload, user = _verify(ctx, token, step="link_opened")
    step = _next_step(user)
    ctx.audit.record(EVENT_LINK_OPENED, realm=ctx.realm, subject=user.user_id,
                     outcome=Outcome.SUCCESS, step="link_opened", resume_at=step.value)
    return _flow(user, payload, step)


def current_flow(ctx: ActivationContext, token: str) -> ActivationFlow:
    """Verify the link again and say which step the user is at, for showing a page.

    Like ``open_link`` without its audit event: the opening is recorded once, when the
    link is followed, not on every page the user then sees (failures are recorded).
    """
    payload, user = _verify(ctx, token, step="page")
    return _flow(user, payload, _next_step(user))


def set_security_questions(
    ctx: ActivationContext, token: str, choices: Sequence[tuple[str, str]]
) -> ActivationFlow:
    """Store argon2id hashes of three different questions' answers; next: PASSWORD.

    ``choices`` are (question id, answer) pairs in the order the page shows them; field
    errors name ``questions``, ``question_<n>`` and ``answer_<n>`` (n from 1).
    """
    payload, user = _verify(ctx, token, step="questions")
    errors = validate_choices(choices, [q.id for q in ctx.tenant.security_questions])
    if errors:
        raise QuestionsInvalid(errors)
    # Setting them again (the user went back) simply replaces the earlier hashes.
    stored = ctx.directory.update_attributes(
        user.id, {ANSWERS_ATTRIBUTE: [hash_answers(choices, ctx.answer_hasher)]}
    )
    _require_stored(stored, ANSWERS_ATTRIBUTE)
    ctx.audit.record(AuditEvent.SECURITY_QUESTIONS_CHANGED, realm=ctx.realm,
                     subject=user.user_id, outcome=Outcome.SUCCESS, step="activation",
                     question_ids=[question_id for question_id, _ in choices])
    return _flow(stored, payload, ActivationStep.PASSWORD)


def complete(
    ctx: ActivationContext, token: str, password: str, confirm: str
) -> ActivationCompleted:
    """Set the password and mark the account active; the link is used up.

    Raises PasswordRulesFailed, PasswordRejectedByPolicy (both re-show the form),
    QuestionsRequired, a LinkError, or KeycloakUnavailable (503; a retry works).
    """
    payload, user = _verify(ctx, token, step="password")
    if not _answers_stored(user):
        raise QuestionsRequired("password posted before the security questions")
    failures = check_password(password, confirm, user.user_id)
    if failures:
        raise PasswordRulesFailed(failures)

    # One submission per link at a time, across workers (claims live in Redis in
    # production). A second concurrent submission changes nothing.
    ttl = payload.seconds_left(ctx.clock.now()) + CLAIM_MARGIN_SECONDS
    claim = f"{PURPOSE}:{ctx.realm}:{payload.nonce_digest}"
    if not ctx.claims.claim(claim, ttl):
        _record_failure(ctx, user.user_id, "password", "concurrent_submission")
        raise LinkUsedOrSuperseded(PURPOSE, "another submission of this link is in progress")
    try:
        already_set = _set_password(ctx, user, payload, password, ttl)
        if user.permanently_locked:
            # Strangers' guesses locked the pending account; the link proves the
            # mailbox. Lifted after the password (a refused password changes nothing)
            # and before the account turns active (a failure here leaves the link
            # usable, and the retry finds the account unlocked).
            _unlock(ctx, user)
        # The last write: one PUT that marks the account active and drops the
        # nonce together. If it fails, the claim is released below, the password is
        # already the new one and the link still verifies, so the user's retry with the
        # same link and password lands in _set_password's "already set" branch.
        activated = ctx.directory.update_attributes(
            user.id, {ACTIVATION_STATE: [ACTIVE], NONCE_ATTRIBUTE: None,
                      ACTIVATED_AT: [ctx.clock.now().isoformat(timespec="seconds")]}
        )
        if activated.activation_state != ACTIVE:
            raise InternalError(f"{ACTIVATION_STATE} was not stored: declared in the profile?")
    except BaseException:
        # Transient failures and policy rejections leave the link usable: let a retry in.
        ctx.claims.release(claim)
        raise
    # On success the claim stays until it expires: the nonce is gone anyway.
    ctx.audit.record(AuditEvent.ACTIVATION_COMPLETED, realm=ctx.realm, subject=user.user_id,
                     outcome=Outcome.SUCCESS, step="completed", earlier_attempt_applied=already_set)
    return ActivationCompleted(_flow(user, payload, ActivationStep.COMPLETED))


def _unlock(ctx: ActivationContext, user: DirectoryUser) -> None:
    unlocked = ctx.directory.unlock(user.id)
    if not unlocked.enabled:
        raise InternalError("the permanent lockout was not lifted")
    ctx.audit.record(AuditEvent.ACCOUNT_UNLOCKED, realm=ctx.realm, subject=user.user_id,
                     outcome=Outcome.SUCCESS, step="activation", reason="activation_link")


def _set_password(
    ctx: ActivationContext, user: DirectoryUser, payload: LinkPayload, password: str, ttl: int
) -> bool:
    """Set the password; return True if an earlier attempt with this link already did.

    Keycloak's passwordHistory(3) counts the current password, so a retry after the
    password was set but the attributes were not (or after a reply lost on the way back)
    is refused as "recently used". A marker kept in the claims store before the first
    attempt tells that retry apart from a genuine reuse of an old password: only with
    the marker is a history refusal taken to mean "this link already set it". Without
    the marker (another worker's memory, or none) the user is asked to choose another
    password, which also completes the activation. A gateway verb sending credentials
    and attributes in one PUT /users/{id} (one transaction in Keycloak 26) would avoid
    the question altogether.
    """
    marker = f"{PURPOSE}:{ctx.realm}:{payload.nonce_digest}:password-tried"
    first_attempt = ctx.claims.claim(marker, ttl)
    try:
        ctx.directory.set_password(user.id, password)
    except PasswordRejected as exc:
        reason = keycloak_reason_key(exc.policy_message)
        if reason == POLICY_HISTORY and not first_attempt:
            return True
        if first_attempt:
            # Refused outright, so nothing was set: a later history refusal is genuine.
            ctx.claims.release(marker)
        _record_failure(ctx, user.user_id, "password", "rejected_by_policy", policy=reason)
        raise PasswordRejectedByPolicy(reason) from None
    return False


# -- helpers ---------------------------------------------------------------------------


def _verify(ctx: ActivationContext, token: str, *, step: str) -> tuple[LinkPayload, DirectoryUser]:
    """Return the payload and user of a token that is valid right now, or raise."""
    try:
        payload = ctx.signer().read(token, ctx.realm)
    except LinkError as exc:
        _record_failure(ctx, None, step, exc.suffix)
        raise
    try:
        user = ctx.directory.get(payload.sub)
    except KeycloakUnavailable:
        raise
    except GatewayError as exc:
        # The user was deleted since the link was sent.
        log.info("activation link for a user Keycloak does not return: %s", exc)
        _record_failure(ctx, None, step, "user_gone")
        raise LinkUsedOrSuperseded(PURPOSE, "user not found") from None
    try:
        check_current(payload, user.first(NONCE_ATTRIBUTE))
        if user.activation_state != PENDING:
            raise LinkUsedOrSuperseded(PURPOSE, "account is no longer pending")
    except LinkError as exc:
        _record_failure(ctx, user.user_id, step, exc.suffix)
        raise
    if _blocked(user):
        _record_failure(ctx, user.user_id, step, "account_disabled")
        raise AccountDisabled("activation link of a disabled account")
    return payload, user


def _record_failure(
    ctx: ActivationContext, subject: str | None, step: str, reason: str, **details: Any
) -> None:
    ctx.audit.record(AuditEvent.ACTIVATION_FAILED, realm=ctx.realm, subject=subject,
                     outcome=Outcome.DENIED, step=step, reason=reason, **details)


def _answers_stored(user: DirectoryUser) -> bool:
    return has_answers(user.first(ANSWERS_ATTRIBUTE))


def _next_step(user: DirectoryUser) -> ActivationStep:
    return ActivationStep.PASSWORD if _answers_stored(user) else ActivationStep.QUESTIONS


def _require_stored(user: DirectoryUser, attribute: str) -> None:
    # Keycloak silently drops attributes the realm's user profile does not declare.
    if not user.first(attribute):
        raise InternalError(f"{attribute} was not stored: is it declared in the user profile?")


def _flow(user: DirectoryUser, payload: LinkPayload, step: ActivationStep) -> ActivationFlow:
    return ActivationFlow(
        realm=payload.realm, user_uuid=user.id, user_id=user.user_id, name=user.name,
        email=user.email, registration_date=_parse_date(user.registration_date),
        step=step, expires_at=payload.expires_at,
    )


def _parse_date(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


_MONTHS = {
    "ms": ["Januari", "Februari", "Mac", "April", "Mei", "Jun", "Julai", "Ogos",
           "September", "Oktober", "November", "Disember"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"],
}


def format_email_date(value: datetime | None, locale: str) -> str | None:
    """Return e.g. "14 September 2020 11:50:04 AM" as the manuals' emails show it."""
    if value is None:
        return None
    month = _MONTHS["en" if locale == "en" else "ms"][value.month - 1]
    return f"{value.day} {month} {value.year} {value:%I:%M:%S %p}"


def format_page_date(value: datetime | None) -> str:
    """Return e.g. "14/09/2020 11:50:04 AM" as the manuals' account page shows it."""
    return f"{value:%d/%m/%Y %I:%M:%S %p}" if value else ""
