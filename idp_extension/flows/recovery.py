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

import hashlib
import hmac
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Mapping, NoReturn

from itsdangerous import BadSignature, URLSafeSerializer

from idp_extension.audit import AuditEvent, Outcome
from idp_extension.errors import IspeksError
from idp_extension.attributes import NONCE_RECOVERY
from idp_extension.flows import emailed_link
from idp_extension.flows.answers import (
    ANSWERS_ATTRIBUTE, has_answers, stored_question_ids, verify_answer,
)
from idp_extension.flows.common import (  # noqa: F401  (names the web layer and tests use)
    CLAIM_MARGIN_SECONDS, InvalidUserIdError, LinkRequested,
    LinkFlow, LinkStep, PasswordRejectedByPolicy, PasswordRulesFailed, ValidationFailed,
    claim_submission, lift_lockout, link_user, read_link,
)
from idp_extension.flows.emailed_link import EmailedLinkContext
from idp_extension.flows.notifications import notify
from idp_extension.flows.texts import MESSAGES  # noqa: F401  (the web layer merges it)
from idp_extension.flows.password_rules import check_password, keycloak_reason_key
from idp_extension.flows.tokens import (
    LinkError, LinkMissing, LinkPayload, LinkUsedOrSuperseded, check_current,
)
from idp_extension.gateway.errors import GatewayError, KeycloakUnavailable
from idp_extension.gateway.users import (
    ACTIVE, RECOVERY_FAILURE_LIMIT, RECOVERY_FAILURES, DirectoryUser, PasswordRejected,
)
from idp_extension.i18n import DEFAULT_LOCALE, MALAYSIA, format_email_date

log = logging.getLogger(__name__)

PURPOSE = "recovery"
NONCE_ATTRIBUTE = NONCE_RECOVERY
QUESTIONS_ASKED = 2
# One answer check per account at a time, across workers, so that two submissions at once
# cannot both read the same failure count and lose an increment.
ANSWER_CLAIM_SECONDS = 30


RecoveryStep = LinkStep


# -- errors ----------------------------------------------------------------------------


class WrongAnswers(ValidationFailed, code="recovery.wrong_answers"):
    """At least one answer is wrong (or missing); ``attempts_left`` before the lock."""

    def __init__(self, attempts_left: int, field_errors: Mapping[str, str] | None = None) -> None:
        self.attempts_left = attempts_left
        super().__init__(field_errors or {}, f"wrong answers, {attempts_left} attempt(s) left")
        self.params = {"attempts": attempts_left}


class RecoveryLocked(IspeksError, code="recovery.locked", status=403):
    """Too many wrong answers: recovery is refused and the account waits for an administrator."""


class AccountBlocked(IspeksError, code="recovery.account_blocked", status=403):
    """The account is disabled or locked for a reason recovery does not lift."""


class AnswersRequired(IspeksError, code="recovery.answers_required", status=409):
    """The password step was reached without the proof of the answers."""


class AnswerCheckBusy(IspeksError, code="recovery.busy", status=409):
    """Another submission of answers for this account is being checked right now."""


# -- records ---------------------------------------------------------------------------


class RecoveryContext(EmailedLinkContext):
    """Recovery's context: links to ``/<realm>/recovery`` ("Lupa Kata Laluan")."""

    purpose: ClassVar[str] = PURPOSE
    link_endpoint: ClassVar[str] = "tenant.recovery.follow_link"
    request_endpoint: ClassVar[str] = "tenant.recovery.request_form"


@dataclass(frozen=True)
class RecoveryFlow(LinkFlow):
    """Where one user is in the recovery, as the pages show it."""

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
    return emailed_link.request_link(
        ctx, raw_id, locale, event=AuditEvent.RECOVERY_REQUESTED,
        ineligible=lambda user: _ineligible(ctx, user),
        mail_fields=lambda user, issued, locale: {
            "user_id": user.user_id,
            "requested_at": format_email_date(_local(issued.payload.issued_at), locale)})


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


def open_link(ctx: RecoveryContext, token: str) -> RecoveryFlow:
    """Verify the emailed link; the next step is the security questions."""
    payload, user = _verify(ctx, token, step="link_opened")
    ctx.audit.record(AuditEvent.RECOVERY_LINK_OPENED, subject=user.user_id,
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
    payload = read_link(ctx, ctx.signer(), token, step="questions", failed=_record_failure)
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
    ctx.audit.record(AuditEvent.RECOVERY_ANSWERS_ACCEPTED, subject=user.user_id,
                     outcome=Outcome.SUCCESS, step="questions", question_ids=list(asked))
    return AnswersAccepted(_flow(ctx, user, payload, RecoveryStep.PASSWORD),
                           _proof_serializer(ctx).dumps(_proof_claims(payload)))


def _refuse(ctx: RecoveryContext, payload: LinkPayload, user: DirectoryUser,
            results: Mapping[str, bool], locale: str) -> NoReturn:
    failures = user.recovery_failures + 1
    wrong = [q for q, right in results.items() if not right]
    if failures < RECOVERY_FAILURE_LIMIT:
        ctx.directory.update_attributes(user.id, {RECOVERY_FAILURES: [str(failures)]})
        ctx.audit.record(AuditEvent.RECOVERY_FAILED, subject=user.user_id,
                         outcome=Outcome.DENIED, step="questions", reason="wrong_answers",
                         failures=failures, wrong_question_ids=wrong)
        raise WrongAnswers(RECOVERY_FAILURE_LIMIT - failures)
    # The third: disabled in the same write that records it and voids the link.
    ctx.directory.set_enabled(user.id, False, {RECOVERY_FAILURES: [str(failures)],
                                               NONCE_ATTRIBUTE: None})
    ctx.audit.record(AuditEvent.RECOVERY_FAILED, subject=user.user_id,
                     outcome=Outcome.DENIED, step="questions", reason="wrong_answers",
                     failures=failures, wrong_question_ids=wrong)
    notified = notify(ctx.mailer, ctx.tenant, user, "locked", locale, ctx.clock.now(),
                      recovery_url=ctx.request_url())
    ctx.audit.record(AuditEvent.ACCOUNT_LOCKED, subject=user.user_id,
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

    claim, _ = claim_submission(ctx, ctx.claims, payload, PURPOSE, user.user_id,
                                failed=_record_failure)
    unlocked = False
    try:
        if user.permanently_locked:
            # Only reachable where the state allows it (_verify refuses otherwise).
            lift_lockout(ctx, user, step="recovery", reason="recovery_may_unlock")
            unlocked = True
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
    ctx.audit.record(AuditEvent.RECOVERY_COMPLETED, subject=user.user_id,
                     outcome=Outcome.SUCCESS, step="completed", unlocked=unlocked,
                     other_sessions_ended=sessions_ended, notified=notified)
    return RecoveryCompleted(_flow(ctx, user, payload, RecoveryStep.COMPLETED, attempts_left=0),
                             unlocked, sessions_ended)


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


def _current_user(ctx: RecoveryContext, payload: LinkPayload, *, step: str) -> DirectoryUser:
    """The link's user, if the link is still the current one and recovery may go on."""
    user = link_user(ctx, payload, PURPOSE, step=step, failed=_record_failure)
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
    payload = read_link(ctx, ctx.signer(), token, step=step, failed=_record_failure)
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
    ctx.audit.record(AuditEvent.RECOVERY_FAILED, subject=subject,
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
    "LinkRequested", "RecoveryCompleted", "RecoveryContext",
    "RecoveryFlow", "RecoveryLocked", "RecoveryStep", "WrongAnswers", "answer_questions",
    "chosen_questions", "complete", "current_flow", "open_link", "request_link",
]
