"""Forgotten password ("Lupa Kata Laluan"), every state (manual 004; DESIGN.md "Flows").

::

      ID ──request_link──► LINK_SENT    email: a link valid 30 minutes, single use
                              │         (unknown, pending, disabled, locked, no answers:
                              │          the same confirmation, no email)
                          open_link
                              ▼
                          QUESTIONS     two of the user's three questions, the same two
                              │         for the whole life of the link
                              │ answer_questions   wrong: one more failure; the third
                              │                    disables the account: LOCKED
                              ▼
                          PASSWORD      the answers' proof rides with the link's token
                              │ complete
                              ▼
                          COMPLETED     one write: new password, nonce and failures gone
                                        (the link is used); other sessions ended if asked;
                                        a notification email; "log in again"

    At any step a newer request_link supersedes the link and 30 minutes expire it.

Design decisions:

* **One mechanism for every state.** The issue allows manual 004's way (an emailed
  temporary password, then a forced change) in temporary-password states. The emailed
  link gives the same protections with less: nothing usable is ever mailed (a link is
  worthless after 30 minutes or one use, a temporary password would be a credential in
  a shared departmental mailbox), no second password to expire and scramble, and one
  flow, one set of pages and one set of tests for all four states. The link lives as
  long as the state's activation links (``activation_link_minutes``, 30 by the manuals).
* **Questions are a second proof, never the only one.** They are asked only after the
  emailed link proved the mailbox. Two of the three stored questions are asked, chosen by
  HMAC of the link's nonce under the server's secret: random per link, yet stable for it,
  so reloading the page does not reveal the third question.
* **Wrong answers count on the account**, not on the link (``ispeks_recovery_failures``),
  so asking for new links does not buy new guesses. A right pair of answers resets the
  count. The third wrong submission disables the account in the same write
  (``enabled=false``, failures = 3) and voids the link: "locked for an administrator".
  ``ispeks-idp users unlock`` (``UserDirectory.unlock``) lifts it; recovery never does.
* **Keycloak's own lockout** (three wrong passwords, ``disabledReason=permanentLockout``)
  stays unless the state's values say ``recovery_may_unlock``: then the two proofs lift
  it at completion. Otherwise such an account gets the decoy at step one, like an
  account disabled by state IT.
* **Who gets no email**: unknown IDs, pending users (they have no answers yet: they use
  activation or first login), active users without stored answers, disabled or locked
  accounts. All get the same confirmation after the same minimum time.

Nothing half-done: requesting stores the nonce digest, then emails (as activation does:
a failed send puts the previous digest back, and the unsent link's token was never
disclosed). The answer is the same whatever happens; failures are audited. Completing is one PUT carrying the
password and the attribute changes (one Keycloak transaction): a policy refusal changes
nothing and the link stays usable. Lifting a lockout (when allowed) comes before it (an
idempotent act the two proofs justify); ending the other sessions comes after it (so no
session opened with the old password in between survives).

The sidecar is stateless: every verb takes the link's token again (and, after the
questions, the proof of the answers) and re-verifies both against Keycloak.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Mapping, NoReturn

from itsdangerous import BadSignature, URLSafeSerializer

from idp_extension.audit import AuditEvent, Outcome
from idp_extension.errors import InternalError, IspeksError
from idp_extension.flows.activation import (
    CLAIM_MARGIN_SECONDS, InvalidUserIdError, LinkRequested,
    PasswordRejectedByPolicy, PasswordRulesFailed, ValidationFailed, format_email_date,
)
from idp_extension.flows.answers import (
    ANSWERS_ATTRIBUTE, has_answers, stored_question_ids, verify_answer,
)
from idp_extension.flows.emailed_link import (
    EmailedLinkContext, Task, answered_after_the_floor, record_send_failure,
)
from idp_extension.flows.notifications import MALAYSIA, notify
from idp_extension.flows.password_rules import check_password, keycloak_reason_key
from idp_extension.flows.tokens import (
    LinkError, LinkMissing, LinkPayload, LinkUsedOrSuperseded, check_current, nonce_attribute,
)
from idp_extension.gateway.errors import GatewayError, KeycloakUnavailable
from idp_extension.gateway.users import (
    ACTIVE, RECOVERY_FAILURE_LIMIT, RECOVERY_FAILURES, DirectoryUser, PasswordRejected,
)
from idp_extension.i18n import DEFAULT_LOCALE, normalize_locale
from idp_extension.mail.errors import MailRejected, MailUnavailable
from idp_extension.mail.render import compose_email
from idp_extension.payroll import InvalidUserId, normalise_mykad

log = logging.getLogger(__name__)

PURPOSE = "recovery"
NONCE_ATTRIBUTE = nonce_attribute(PURPOSE)
EMAIL_TEMPLATE = "recovery"
QUESTIONS_ASKED = 2
# One answer check per account at a time, across workers, so that two submissions at once
# cannot both read the same failure count and lose an increment.
ANSWER_CLAIM_SECONDS = 30


class RecoveryStep(str, enum.Enum):
    LINK_SENT = "link_sent"
    QUESTIONS = "questions"
    PASSWORD = "password"
    COMPLETED = "completed"

    def __str__(self) -> str:
        return self.value


# -- errors ----------------------------------------------------------------------------


class WrongAnswers(ValidationFailed):
    """At least one answer is wrong (or missing); ``attempts_left`` before the lock."""

    code = "recovery.wrong_answers"

    def __init__(self, attempts_left: int, field_errors: Mapping[str, str] | None = None) -> None:
        self.attempts_left = attempts_left
        super().__init__(field_errors or {}, f"wrong answers, {attempts_left} attempt(s) left")
        self.params = {"attempts": attempts_left}


class RecoveryLocked(IspeksError):
    """Too many wrong answers: recovery is refused and the account waits for an administrator."""

    code = "recovery.locked"
    http_status = 403


class AccountBlocked(IspeksError):
    """The account is disabled or locked for a reason recovery does not lift."""

    code = "recovery.account_blocked"
    http_status = 403


class AnswersRequired(IspeksError):
    """The password step was reached without the proof of the answers."""

    code = "recovery.answers_required"
    http_status = 409


class AnswerCheckBusy(IspeksError):
    """Another submission of answers for this account is being checked right now."""

    code = "recovery.busy"
    http_status = 409


# The sentences behind the codes this module raises (``<code>.title``: the heading).
MESSAGES: dict[str, dict[str, str]] = {
    "ms": {
        "recovery.wrong_answers": "Jawapan keselamatan tidak tepat. Baki percubaan: {attempts}. Selepas itu, akaun anda akan disekat dan perlu dibuka oleh Pentadbir Sistem.",
        "recovery.wrong_answers.title": "Jawapan Tidak Tepat",
        "recovery.locked": "Akaun anda telah disekat kerana jawapan keselamatan yang salah sebanyak 3 kali. Sila hubungi Pentadbir Sistem untuk membuka akaun anda.",
        "recovery.locked.title": "Akaun Disekat",
        "recovery.account_blocked": "Akaun anda telah disekat. Kata laluan tidak dapat ditetapkan semula. Sila hubungi Pentadbir Sistem.",
        "recovery.account_blocked.title": "Akaun Disekat",
        "recovery.answers_required": "Sila jawab soalan keselamatan terlebih dahulu.",
        "recovery.answers_required.title": "Soalan Keselamatan",
        "recovery.busy": "Jawapan anda sedang disemak. Sila tunggu sebentar dan cuba lagi.",
        "recovery.busy.title": "Sila Tunggu",
        "recovery.link_tampered": "Pautan tetapan semula kata laluan ini tidak sah. Sila mohon pautan baharu melalui Lupa Kata Laluan.",
        "recovery.link_tampered.title": "Pautan Tidak Sah",
        "recovery.link_wrong_realm": "Pautan ini bukan untuk iSPEKS negeri ini. Sila gunakan pautan dalam emel anda, atau mohon pautan baharu.",
        "recovery.link_wrong_realm.title": "Pautan Tidak Sah",
        "recovery.link_expired": "Pautan tetapan semula kata laluan ini telah tamat tempoh. Sila mohon pautan baharu melalui Lupa Kata Laluan.",
        "recovery.link_expired.title": "Pautan Telah Tamat Tempoh",
        "recovery.link_used": "Pautan ini telah digunakan atau digantikan oleh pautan yang lebih baharu. Sila gunakan pautan dalam emel terkini anda, atau mohon pautan baharu.",
        "recovery.link_used.title": "Pautan Telah Digunakan",
        "recovery.link_missing": "Halaman ini hanya boleh dibuka melalui pautan dalam emel Lupa Kata Laluan, atau sesi anda telah tamat. Sila klik pautan dalam emel terkini anda, atau mohon pautan baharu.",
        "recovery.link_missing.title": "Sila Gunakan Pautan Dalam Emel",
    },
    "en": {
        "recovery.wrong_answers": "The security answers are not correct. Attempts left: {attempts}. After that your account will be blocked until the System Administrator unblocks it.",
        "recovery.wrong_answers.title": "Incorrect Answers",
        "recovery.locked": "Your account has been blocked after 3 wrong security answers. Please contact the System Administrator to unblock it.",
        "recovery.locked.title": "Account Blocked",
        "recovery.account_blocked": "Your account has been blocked. The password cannot be reset. Please contact the System Administrator.",
        "recovery.account_blocked.title": "Account Blocked",
        "recovery.answers_required": "Please answer the security questions first.",
        "recovery.answers_required.title": "Security Questions",
        "recovery.busy": "Your answers are being checked. Please wait a moment and try again.",
        "recovery.busy.title": "Please Wait",
        "recovery.link_tampered": "This password reset link is not valid. Please ask for a new one through Forgot Password.",
        "recovery.link_tampered.title": "Invalid Link",
        "recovery.link_wrong_realm": "This link belongs to another state's iSPEKS. Please use the link in your email, or ask for a new one.",
        "recovery.link_wrong_realm.title": "Invalid Link",
        "recovery.link_expired": "This password reset link has expired. Please ask for a new one through Forgot Password.",
        "recovery.link_expired.title": "Link Expired",
        "recovery.link_used": "This link has been used or replaced by a newer one. Please use the link in your latest email, or ask for a new one.",
        "recovery.link_used.title": "Link Already Used",
        "recovery.link_missing": "This page opens only through the link in your Forgot Password email, or your session has ended. Please click the link in your latest email, or ask for a new one.",
        "recovery.link_missing.title": "Please Use the Link in Your Email",
    },
}


# -- records ---------------------------------------------------------------------------


class RecoveryContext(EmailedLinkContext):
    """Recovery's context: links to ``/<realm>/recovery`` ("Lupa Kata Laluan")."""

    purpose: ClassVar[str] = PURPOSE
    page: ClassVar[str] = "recovery"


@dataclass(frozen=True)
class RecoveryFlow:
    """Where one user is in the recovery, as the pages show it."""

    realm: str
    user_uuid: str
    user_id: str
    name: str
    step: RecoveryStep
    # The two questions asked for this link, in the order the user stored them.
    question_ids: tuple[str, ...]
    attempts_left: int
    expires_at: datetime  # the link's expiry


@dataclass(frozen=True)
class AnswersAccepted:
    """The answers were right: ``proof`` goes with the token to the password step."""

    flow: RecoveryFlow
    proof: str = field(repr=False)


@dataclass(frozen=True)
class RecoveryCompleted:
    """The password is set; "log in again"."""

    flow: RecoveryFlow
    unlocked: bool
    # True: every session ended; False: asked but it failed; None: not asked.
    sessions_ended: bool | None


# -- verbs -----------------------------------------------------------------------------


def request_link(ctx: RecoveryContext, raw_id: str, locale: str = "ms") -> LinkRequested:
    """Email a recovery link to an eligible account; answer alike for every valid ID.

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


def _ineligible(ctx: RecoveryContext, user: DirectoryUser | None) -> str | None:
    """Why ``user`` gets no recovery email, or None."""
    if user is None:
        return "unknown"
    if user.activation_state != ACTIVE:
        return "not_active"  # pending: activation or first login, not recovery
    if not has_answers(user.first(ANSWERS_ATTRIBUTE)):
        return "no_answers"
    if user.locked_by_recovery:
        return "locked_by_recovery"
    if user.permanently_locked and not ctx.tenant.recovery_may_unlock:
        return "locked"
    if not user.enabled and not user.permanently_locked:
        return "disabled"
    if "@" not in (user.email or ""):
        return "no_email"
    return None


def _look_up(ctx: RecoveryContext, user_id: str, locale: str) -> Task:
    user = ctx.directory.find(user_id)
    reason = _ineligible(ctx, user)
    if user is None or reason:
        ctx.audit.record(AuditEvent.RECOVERY_REQUESTED, realm=ctx.realm, subject=user_id,
                         outcome=Outcome.DENIED, result="ignored", reason=reason)
        return None
    return lambda: _send_link(ctx, user, user_id, locale)


def _send_link(ctx: RecoveryContext, user: DirectoryUser, user_id: str, locale: str) -> None:
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
        ctx.audit.record(AuditEvent.RECOVERY_REQUESTED, realm=ctx.realm, subject=user_id,
                         outcome=Outcome.FAILURE, result="not_sent",
                         reason=("keycloak_unavailable" if isinstance(exc, KeycloakUnavailable)
                                 else "keycloak_error"))
        return
    if stored.first(NONCE_ATTRIBUTE) != issued.payload.nonce_digest:
        raise InternalError(f"{NONCE_ATTRIBUTE} was not stored: is it declared in the profile?")
    message = compose_email(
        EMAIL_TEMPLATE, locale, to=user.email, about=user.user_id,
        recipient_name=user.name or user.user_id,
        user_id=user.user_id,
        state_name=ctx.tenant.state_name,
        requested_at=format_email_date(_local(issued.payload.issued_at), locale),
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
        ctx.audit.record(AuditEvent.RECOVERY_REQUESTED, realm=ctx.realm, subject=user_id,
                         outcome=Outcome.FAILURE, result="not_sent", reason=reason,
                         restored=restored)
        return
    ctx.audit.record(AuditEvent.RECOVERY_REQUESTED, realm=ctx.realm, subject=user_id,
                     outcome=Outcome.SUCCESS, result="sent")


def _restore_nonce(ctx: RecoveryContext, user: DirectoryUser, previous: str | None) -> bool:
    """Put the digest of the previous link back (best effort); True if it worked."""
    try:
        ctx.directory.update_attributes(user.id, {NONCE_ATTRIBUTE: [previous] if previous else None})
        return True
    except GatewayError as exc:
        log.warning("could not restore the previous link after a failed send: %s",
                    type(exc).__name__)
        return False


def open_link(ctx: RecoveryContext, token: str) -> RecoveryFlow:
    """Verify the emailed link; the next step is the security questions."""
    payload, user = _verify(ctx, token, step="link_opened")
    ctx.audit.record(AuditEvent.RECOVERY_LINK_OPENED, realm=ctx.realm, subject=user.user_id,
                     outcome=Outcome.SUCCESS, step="link_opened")
    return _flow(ctx, user, payload, RecoveryStep.QUESTIONS)


def current_flow(ctx: RecoveryContext, token: str, proof: str | None = None) -> RecoveryFlow:
    """Verify the link (and the answers' proof, if any) again, for showing a page."""
    payload, user = _verify(ctx, token, step="page")
    step = RecoveryStep.PASSWORD if proof and _proof_valid(ctx, payload, proof) else RecoveryStep.QUESTIONS
    return _flow(ctx, user, payload, step)


def chosen_questions(secret_key: str, realm: str, nonce_digest: str,
                     stored_ids: list[str]) -> tuple[str, ...]:
    """The questions asked for one link: stable for the link, unpredictable without the key.

    With the usual three stored questions, the HMAC picks the one left out; the other two
    are asked in the order the user stored them.
    """
    if len(stored_ids) <= QUESTIONS_ASKED:
        return tuple(stored_ids)
    digest = hmac.new(secret_key.encode(),
                      f"ispeks:recovery-questions:{realm}:{nonce_digest}".encode(),
                      hashlib.sha256).digest()
    left_out = int.from_bytes(digest[:8], "big") % len(stored_ids)
    kept = [q for i, q in enumerate(stored_ids) if i != left_out]
    return tuple(kept[:QUESTIONS_ASKED])


def answer_questions(ctx: RecoveryContext, token: str, answers: Mapping[str, str],
                     locale: str = DEFAULT_LOCALE) -> AnswersAccepted:
    """Check the answers to this link's two questions; return the proof for the password step.

    ``answers`` maps question id → answer (only this link's questions count). Raises
    WrongAnswers (the count goes up), RecoveryLocked (this was the third wrong
    submission: the account is disabled and the link void), AnswerCheckBusy, a
    LinkError, AccountBlocked or KeycloakUnavailable.
    """
    payload = _read(ctx, token, step="questions")
    claim = f"{PURPOSE}:{ctx.realm}:{payload.sub}:answers"
    if not ctx.claims.claim(claim, ANSWER_CLAIM_SECONDS):
        raise AnswerCheckBusy("another answer check of this account is in progress")
    try:
        user = _current_user(ctx, payload, step="questions")
        stored = user.first(ANSWERS_ATTRIBUTE)
        asked = chosen_questions(ctx.secret_key, ctx.realm, payload.nonce_digest,
                                 stored_question_ids(stored))
        # Every asked answer is checked, right or wrong, so the time says nothing.
        results = {q: verify_answer(stored, q, answers.get(q, ""), ctx.answer_hasher)
                   for q in asked}
        if len(asked) == QUESTIONS_ASKED and all(results.values()):
            return _accept(ctx, payload, user, asked)
        return _refuse(ctx, payload, user, results, locale)
    finally:
        ctx.claims.release(claim)


def _accept(ctx: RecoveryContext, payload: LinkPayload, user: DirectoryUser,
            asked: tuple[str, ...]) -> AnswersAccepted:
    if RECOVERY_FAILURES in user.attributes:
        # Right answers start the count again: "three wrong in a row" locks.
        user = ctx.directory.update_attributes(user.id, {RECOVERY_FAILURES: None})
    ctx.audit.record(AuditEvent.RECOVERY_ANSWERS_ACCEPTED, realm=ctx.realm, subject=user.user_id,
                     outcome=Outcome.SUCCESS, step="questions", question_ids=list(asked))
    return AnswersAccepted(_flow(ctx, user, payload, RecoveryStep.PASSWORD),
                           _proof_serializer(ctx).dumps(_proof_claims(payload)))


def _refuse(ctx: RecoveryContext, payload: LinkPayload, user: DirectoryUser,
            results: Mapping[str, bool], locale: str) -> NoReturn:
    failures = user.recovery_failures + 1
    wrong = [q for q, right in results.items() if not right]
    if failures < RECOVERY_FAILURE_LIMIT:
        ctx.directory.update_attributes(user.id, {RECOVERY_FAILURES: [str(failures)]})
        ctx.audit.record(AuditEvent.RECOVERY_FAILED, realm=ctx.realm, subject=user.user_id,
                         outcome=Outcome.DENIED, step="questions", reason="wrong_answers",
                         failures=failures, wrong_question_ids=wrong)
        raise WrongAnswers(RECOVERY_FAILURE_LIMIT - failures)
    # The third: disabled in the same write that records it and voids the link.
    ctx.directory.set_enabled(user.id, False, {RECOVERY_FAILURES: [str(failures)],
                                               NONCE_ATTRIBUTE: None})
    ctx.audit.record(AuditEvent.RECOVERY_FAILED, realm=ctx.realm, subject=user.user_id,
                     outcome=Outcome.DENIED, step="questions", reason="wrong_answers",
                     failures=failures, wrong_question_ids=wrong)
    notified = notify(ctx.mailer, ctx.tenant, user, "locked", locale, ctx.clock.now(),
                      recovery_url=ctx.request_url())
    ctx.audit.record(AuditEvent.ACCOUNT_LOCKED, realm=ctx.realm, subject=user.user_id,
                     outcome=Outcome.SUCCESS, reason="recovery_wrong_answers", failures=failures,
                     notified=notified)
    raise RecoveryLocked(f"{failures} wrong answers")


def complete(
    ctx: RecoveryContext, token: str, proof: str | None, password: str, confirm: str, *,
    end_other_sessions: bool = True, locale: str = DEFAULT_LOCALE,
) -> RecoveryCompleted:
    """Set the new password; the link is used up. Optionally end every other session.

    Raises AnswersRequired (no valid proof), PasswordRulesFailed, PasswordRejectedByPolicy
    (Keycloak's policy, e.g. a password from the history: the form comes back, the link
    stays usable), a LinkError, AccountBlocked, or KeycloakUnavailable.
    """
    payload, user = _verify(ctx, token, step="password")
    if not proof or not _proof_valid(ctx, payload, proof):
        raise AnswersRequired("password step without the answers' proof")
    failures = check_password(password, confirm, user.user_id)
    if failures:
        raise PasswordRulesFailed(failures)

    # One submission per link at a time, across workers.
    ttl = payload.seconds_left(ctx.clock.now()) + CLAIM_MARGIN_SECONDS
    claim = f"{PURPOSE}:{ctx.realm}:{payload.nonce_digest}"
    if not ctx.claims.claim(claim, ttl):
        _record_failure(ctx, user.user_id, "password", "concurrent_submission")
        raise LinkUsedOrSuperseded(PURPOSE, "another submission of this link is in progress")
    unlocked = False
    try:
        if user.permanently_locked:
            # Only reachable where the state allows it (_verify refuses otherwise).
            unlocked = _unlock(ctx, user)
        try:
            ctx.directory.set_password_and_attributes(
                user.id, password, {NONCE_ATTRIBUTE: None, RECOVERY_FAILURES: None})
        except PasswordRejected as exc:
            reason = keycloak_reason_key(exc.policy_message)
            _record_failure(ctx, user.user_id, "password", "rejected_by_policy", policy=reason)
            raise PasswordRejectedByPolicy(reason) from None
    except BaseException:
        ctx.claims.release(claim)  # the link is still good: let a retry in
        raise
    sessions_ended = _end_sessions(ctx, user) if end_other_sessions else None
    notified = notify(ctx.mailer, ctx.tenant, user, "password_reset", locale, ctx.clock.now(),
                      recovery_url=ctx.request_url())
    ctx.audit.record(AuditEvent.RECOVERY_COMPLETED, realm=ctx.realm, subject=user.user_id,
                     outcome=Outcome.SUCCESS, step="completed", unlocked=unlocked,
                     other_sessions_ended=sessions_ended, notified=notified)
    return RecoveryCompleted(_flow(ctx, user, payload, RecoveryStep.COMPLETED, attempts_left=0),
                             unlocked, sessions_ended)


def _unlock(ctx: RecoveryContext, user: DirectoryUser) -> bool:
    unlocked = ctx.directory.unlock(user.id)
    if not unlocked.enabled:
        raise InternalError("the permanent lockout was not lifted")
    ctx.audit.record(AuditEvent.ACCOUNT_UNLOCKED, realm=ctx.realm, subject=user.user_id,
                     outcome=Outcome.SUCCESS, step="recovery", reason="recovery_may_unlock")
    return True


def _end_sessions(ctx: RecoveryContext, user: DirectoryUser) -> bool:
    """End every Keycloak session of the user; False (and an audit event) if that failed."""
    try:
        ctx.directory.end_sessions(user.id)
    except GatewayError as exc:
        # The password is already the new one; the page says the sessions may live on.
        log.warning("ending the sessions of a recovered account failed: %s", exc)
        _record_failure(ctx, user.user_id, "completed", "sessions_not_ended")
        return False
    return True


# -- helpers ---------------------------------------------------------------------------


def _read(ctx: RecoveryContext, token: str, *, step: str) -> LinkPayload:
    try:
        return ctx.signer().read(token, ctx.realm)
    except LinkError as exc:
        _record_failure(ctx, None, step, exc.suffix)
        raise


def _current_user(ctx: RecoveryContext, payload: LinkPayload, *, step: str) -> DirectoryUser:
    """The link's user, if the link is still the current one and recovery may go on."""
    try:
        user = ctx.directory.get(payload.sub)
    except KeycloakUnavailable:
        raise
    except GatewayError as exc:
        log.info("recovery link for a user Keycloak does not return: %s", exc)
        _record_failure(ctx, None, step, "user_gone")
        raise LinkUsedOrSuperseded(PURPOSE, "user not found") from None
    if user.locked_by_recovery:
        # Said before "link used" (the lock voided the link): the holder of a genuine
        # link learns why, and whom to call.
        _record_failure(ctx, user.user_id, step, "locked_by_recovery")
        raise RecoveryLocked("recovery refused after too many wrong answers")
    try:
        check_current(payload, user.first(NONCE_ATTRIBUTE))
    except LinkError as exc:
        _record_failure(ctx, user.user_id, step, exc.suffix)
        raise
    reason = _ineligible(ctx, user)
    if reason in ("locked", "disabled"):
        _record_failure(ctx, user.user_id, step, reason)
        raise AccountBlocked(f"recovery link of a {reason} account")
    if reason:
        _record_failure(ctx, user.user_id, step, reason)
        raise LinkUsedOrSuperseded(PURPOSE, f"account no longer eligible: {reason}")
    return user


def _verify(ctx: RecoveryContext, token: str, *, step: str) -> tuple[LinkPayload, DirectoryUser]:
    """Return the payload and user of a token that is valid right now, or raise."""
    payload = _read(ctx, token, step=step)
    return payload, _current_user(ctx, payload, step=step)


def _proof_serializer(ctx: RecoveryContext) -> URLSafeSerializer:
    return URLSafeSerializer(ctx.secret_key, salt=f"ispeks:{PURPOSE}:answers-accepted")


def _proof_claims(payload: LinkPayload) -> dict[str, str]:
    # Bound to the link's nonce: it dies with the link (expiry, single use, superseded).
    return {"realm": payload.realm, "sub": payload.sub, "nonce": payload.nonce_digest}


def _proof_valid(ctx: RecoveryContext, payload: LinkPayload, proof: str) -> bool:
    try:
        claims = _proof_serializer(ctx).loads(proof)
    except BadSignature:
        return False
    expected = _proof_claims(payload)
    return isinstance(claims, dict) and all(
        isinstance(claims.get(k), str) and hmac.compare_digest(claims[k], v)
        for k, v in expected.items())


def _record_failure(ctx: RecoveryContext, subject: str | None, step: str, reason: str,
                    **details: Any) -> None:
    ctx.audit.record(AuditEvent.RECOVERY_FAILED, realm=ctx.realm, subject=subject,
                     outcome=Outcome.DENIED, step=step, reason=reason, **details)


def _local(moment: datetime) -> datetime:
    return moment.astimezone(MALAYSIA)


def _flow(ctx: RecoveryContext, user: DirectoryUser, payload: LinkPayload, step: RecoveryStep,
          *, attempts_left: int | None = None) -> RecoveryFlow:
    asked = chosen_questions(ctx.secret_key, ctx.realm, payload.nonce_digest,
                             stored_question_ids(user.first(ANSWERS_ATTRIBUTE)))
    left = (RECOVERY_FAILURE_LIMIT - user.recovery_failures) if attempts_left is None else attempts_left
    return RecoveryFlow(
        realm=payload.realm, user_uuid=user.id, user_id=user.user_id, name=user.name,
        step=step, question_ids=asked, attempts_left=max(0, left),
        expires_at=payload.expires_at,
    )


__all__ = [
    "AccountBlocked", "AnswerCheckBusy", "AnswersAccepted", "AnswersRequired", "LinkMissing",
    "LinkRequested", "MESSAGES", "RecoveryCompleted", "RecoveryContext",
    "RecoveryFlow", "RecoveryLocked", "RecoveryStep", "WrongAnswers", "answer_questions",
    "chosen_questions", "complete", "current_flow", "open_link", "request_link",
]
