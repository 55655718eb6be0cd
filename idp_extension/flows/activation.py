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

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Sequence

from idp_extension.audit import AuditEvent, Outcome
from idp_extension.attributes import NONCE_ACTIVATION
from idp_extension.errors import InternalError, IspeksError
from idp_extension.flows import emailed_link
from idp_extension.flows.answers import (
    ANSWERS_ATTRIBUTE, has_answers, hash_answers, validate_choices,
)
from idp_extension.flows.common import (  # noqa: F401  (names the web layer and tests use)
    CLAIM_MARGIN_SECONDS, AccountDisabled, InvalidUserIdError, LinkRequested,
    PasswordRejectedByPolicy, PasswordRulesFailed, QuestionsInvalid, ValidationFailed,
    LinkFlow, LinkStep, claim_submission, id_rate_limit_key, lift_lockout, link_user, read_link,
)
from idp_extension.flows.emailed_link import EmailedLinkContext, SendOutcome
from idp_extension.flows.texts import MESSAGES  # noqa: F401  (the web layer merges it)
from idp_extension.flows.password_rules import POLICY_HISTORY, check_password, keycloak_reason_key
from idp_extension.flows.tokens import (
    IssuedLink, LinkError, LinkPayload, LinkUsedOrSuperseded, check_current,
)
from idp_extension.gateway.users import (
    ACTIVATED_AT, ACTIVATION_STATE, ACTIVE, PENDING, DirectoryUser, PasswordRejected,
)
from idp_extension.i18n import format_email_date, format_page_date, parse_date  # noqa: F401

PURPOSE = "activation"
NONCE_ATTRIBUTE = NONCE_ACTIVATION
EVENT_LINK_OPENED = AuditEvent.ACTIVATION_LINK_OPENED


ActivationStep = LinkStep


# -- errors ----------------------------------------------------------------------------


class QuestionsRequired(IspeksError, code="activation.questions_required", status=409):
    """The password step was posted before the security questions were stored."""


# -- records ---------------------------------------------------------------------------


class ActivationContext(EmailedLinkContext):
    """Activation's context: links to ``/<realm>/activation`` (Langkah 2 asks again)."""

    purpose: ClassVar[str] = PURPOSE
    link_endpoint: ClassVar[str] = "tenant.activation.follow_link"
    request_endpoint: ClassVar[str] = "tenant.activation.request_form"


@dataclass(frozen=True)
class ActivationFlow(LinkFlow):
    """Where one user is in the activation, as the account page shows it."""

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
    return emailed_link.request_link(ctx, raw_id, locale, event=AuditEvent.ACTIVATION_REQUESTED,
                                     ineligible=_ineligible, mail_fields=_mail_fields)


def resend_link(ctx: ActivationContext, user_id: str, locale: str = "ms") -> SendOutcome:
    """State IT's "resend": email a new link to ``user_id`` now and say what became of it.

    The outcome names the reason (``unknown``, ``disabled``, ``not_pending``,
    ``no_email``, ``mail_unavailable``, ...); the events are those of ``request_link``.
    """
    return emailed_link.send_link_now(ctx, user_id, locale, event=AuditEvent.ACTIVATION_REQUESTED,
                                      ineligible=_ineligible, mail_fields=_mail_fields)


def _mail_fields(user: DirectoryUser, issued: IssuedLink, locale: str) -> dict[str, Any]:
    return {"registration_date": format_email_date(parse_date(user.registration_date), locale)}


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


def open_link(ctx: ActivationContext, token: str) -> ActivationFlow:
    """Verify the link and say which step the user is at (QUESTIONS or PASSWORD)."""
    payload, user = _verify(ctx, token, step="link_opened")
    step = _next_step(user)
    ctx.audit.record(EVENT_LINK_OPENED, subject=user.user_id,
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
    ctx.audit.record(AuditEvent.SECURITY_QUESTIONS_CHANGED, subject=user.user_id, outcome=Outcome.SUCCESS, step="activation",
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

    # Claims live in Redis in production.
    claim, ttl = claim_submission(ctx, ctx.claims, payload, PURPOSE, user.user_id,
                                  failed=_record_failure)
    try:
        already_set = _set_password(ctx, user, payload, password, ttl)
        if user.permanently_locked:
            # Strangers' guesses locked the pending account; the link proves the
            # mailbox. Lifted after the password (a refused password changes nothing)
            # and before the account turns active (a failure here leaves the link
            # usable, and the retry finds the account unlocked).
            lift_lockout(ctx, user, step="activation", reason="activation_link")
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
    ctx.audit.record(AuditEvent.ACTIVATION_COMPLETED, subject=user.user_id,
                     outcome=Outcome.SUCCESS, step="completed", earlier_attempt_applied=already_set)
    return ActivationCompleted(_flow(user, payload, ActivationStep.COMPLETED))


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
    payload = read_link(ctx, ctx.signer(), token, step=step, failed=_record_failure)
    user = link_user(ctx, payload, PURPOSE, step=step, failed=_record_failure)
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
    ctx.audit.record(AuditEvent.ACTIVATION_FAILED, subject=subject,
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
        email=user.email, registration_date=parse_date(user.registration_date),
        step=step, expires_at=payload.expires_at,
    )
