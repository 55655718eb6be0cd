"""Remind pending users: a new activation link or temporary password, once a day at most.

::

    pending users of the department (or state), live from Keycloak
        │ reminded today already (ispeks_reminded_at, Malaysian day)? ─► skipped
        │ dry run ─► counted as "would send", nothing written, nothing sent
        ▼
    claim "remind:<realm>:<uuid>:<day>" in the shared state (two officers at once: one wins)
        ▼
    pace: at most ``campaign.reminders_per_minute`` (clock.sleep between sends)
        ▼
    the state's onboarding verb: activation.request_link (activation-link states) or
    first_login.request_temporary_password (temporary-password states); each checks the
    account again (still pending, enabled, email in the state's domains) and audits
        ▼
    sent ─► ispeks_reminded_at = now; report:reminder:sent audited with the officer

The flows are reused as they are (the same email, link lifetime, domain guard and
audit events as a user's own request); ``reminder_sender`` builds the one for a state.
A console page calls ``remind(...)`` with the officer's name in ``who``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping

from idp_extension.audit import AuditEvent, AuditLog, Outcome, RealmAudit, for_realm
from idp_extension.flows.ports import Clock, OneTimeClaims, SystemClock
from idp_extension.gateway.users import REMINDED_AT, DirectoryUser
from idp_extension.reporting.campaign import Campaign
from idp_extension.reporting.summary import UserFacts

REMINDER_SENT = AuditEvent.REMINDER_SENT
REMINDER_NOT_SENT = AuditEvent.REMINDER_NOT_SENT
REMINDERS_RUN = AuditEvent.REMINDERS_RUN
CLAIM_SECONDS = 26 * 3600

# What a sender answers: "sent", or why not (the flows' audited reasons).
SendResult = str


@dataclass
class ReminderResult:
    """What one run did (or, dry, would do)."""

    dry_run: bool
    considered: int = 0
    sent: int = 0
    would_send: int = 0
    already_today: int = 0
    not_sent: dict[str, int] = field(default_factory=dict)
    seconds_paced: float = 0.0

    def line(self) -> str:
        """One line for state IT, Malay then English."""
        failed = sum(self.not_sent.values())
        why = ", ".join(f"{k}={v}" for k, v in sorted(self.not_sent.items()))
        if self.dry_run:
            return (f"Cubaan sahaja: {self.would_send} peringatan akan dihantar, "
                    f"{self.already_today} sudah diingatkan hari ini / Dry run: "
                    f"{self.would_send} reminder(s) would be sent, {self.already_today} "
                    f"already reminded today ({self.considered} pending user(s))")
        return (f"{self.sent} peringatan dihantar, {self.already_today} sudah diingatkan hari "
                f"ini, {failed} tidak dihantar / {self.sent} reminder(s) sent, "
                f"{self.already_today} already reminded today, {failed} not sent"
                + (f" ({why})" if why else "") + f" ({self.considered} pending user(s))")


class Pacer:
    """At most ``per_minute`` sends a minute, evenly spaced (``clock.sleep`` between)."""

    def __init__(self, per_minute: int, clock: Clock) -> None:
        self.interval = 60.0 / max(1, per_minute)
        self._clock = clock
        self._next: float | None = None
        self.slept = 0.0

    def wait(self) -> None:
        now = self._clock.monotonic()
        if self._next is not None and now < self._next:
            self._clock.sleep(self._next - now)
            self.slept += self._next - now
            now = self._next
        self._next = now + self.interval


def reminded_on(user: DirectoryUser | UserFacts, campaign: Campaign):
    """The Malaysian day ``user`` was last reminded, or None."""
    facts = user if isinstance(user, UserFacts) else UserFacts.of(user)
    if facts is None or facts.reminded_at is None:
        return None
    return campaign.day_of(facts.reminded_at)


@dataclass
class ReminderContext:
    """One state's reminder run: where users come from, how one is reminded, limits."""

    campaign: Campaign
    # Every pending user of the realm (``UserScan.pending_users``), read live.
    pending: Callable[[], Iterable[DirectoryUser]]
    # Reminds one user by the state's onboarding style; "sent" or why not.
    send: Callable[[DirectoryUser], SendResult]
    # Writes ``ispeks_reminded_at`` (``UserDirectory.update_attributes``).
    update_attributes: Callable[[str, dict[str, list[str] | None]], Any]
    audit: AuditLog | RealmAudit  # bound to the campaign's realm on construction
    claims: OneTimeClaims
    clock: Clock = field(default_factory=SystemClock)
    # Who acts, in every audit event (``actor``, ``client``).
    who: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.audit = for_realm(self.audit, self.realm)

    @property
    def realm(self) -> str:
        return self.campaign.realm


def _eligible(user: DirectoryUser, department: str | None) -> UserFacts | None:
    facts = UserFacts.of(user)
    if facts is None or facts.active:
        return None
    if department is not None and facts.department != department.strip():
        return None
    return facts


def remind(ctx: ReminderContext, department: str | None = None, *,
           dry_run: bool = False) -> ReminderResult:
    """Remind every pending user of ``department`` (None: the whole state)."""
    result = ReminderResult(dry_run=dry_run)
    pacer = Pacer(ctx.campaign.reminders_per_minute, ctx.clock)
    today = ctx.campaign.day_of(ctx.clock.now())
    for user in ctx.pending():
        facts = _eligible(user, department)
        if facts is None:
            continue
        result.considered += 1
        if reminded_on(facts, ctx.campaign) == today:
            result.already_today += 1
            continue
        if dry_run:
            result.would_send += 1
            continue
        claim = f"remind:{ctx.realm}:{user.id}:{today.isoformat()}"
        if not ctx.claims.claim(claim, CLAIM_SECONDS):
            result.already_today += 1  # another run reminds them right now
            continue
        pacer.wait()
        try:
            outcome = ctx.send(user)
        except Exception as exc:  # noqa: BLE001 - one user's failure must not stop the run
            outcome = f"error:{type(exc).__name__}"
        if outcome == "sent":
            result.sent += 1
            _mark(ctx, user)
            ctx.audit.record(REMINDER_SENT, subject=user.user_id,
                             outcome=Outcome.SUCCESS, department=facts.department, **ctx.who)
        else:
            ctx.claims.release(claim)
            result.not_sent[outcome] = result.not_sent.get(outcome, 0) + 1
            ctx.audit.record(REMINDER_NOT_SENT, subject=user.user_id,
                             outcome=Outcome.FAILURE, reason=outcome,
                             department=facts.department, **ctx.who)
    result.seconds_paced = round(pacer.slept, 3)
    ctx.audit.record(REMINDERS_RUN, outcome=Outcome.SUCCESS,
                     department=department, dry_run=dry_run, considered=result.considered,
                     sent=result.sent, would_send=result.would_send,
                     already_today=result.already_today,
                     not_sent=sum(result.not_sent.values()), **ctx.who)
    return result


def _mark(ctx: ReminderContext, user: DirectoryUser) -> None:
    """Record the reminder on the account; the day's claim covers a failed write."""
    try:
        ctx.update_attributes(user.id, {
            REMINDED_AT: [ctx.clock.now().isoformat(timespec="seconds")]})
    except Exception:  # noqa: BLE001 - sent already; the claim still holds for today
        pass


# -- senders: the flows' own verbs -------------------------------------------------------


class _Outcomes:
    """An audit log that passes events on and remembers the last one per subject."""

    def __init__(self, log: AuditLog, who: Mapping[str, str]) -> None:
        self._log = log
        self._who = dict(who)
        self._last: dict[str, tuple[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def record(self, event, *, realm: str, subject: str | None = None,
               outcome=Outcome.SUCCESS, **details: Any) -> None:
        details = {**self._who, "via": "report:remind", **details}
        self._log.record(event, realm=realm, subject=subject, outcome=outcome, **details)
        if subject:
            with self._lock:
                self._last[subject] = (AuditEvent(event).value, details)

    def take(self, subject: str) -> tuple[str, dict[str, Any]]:
        with self._lock:
            return self._last.pop(subject, ("", {}))


def activation_link_sender(context_factory: Callable[[AuditLog], Any], audit: AuditLog,
                           who: Mapping[str, str], locale: str = "ms"
                           ) -> Callable[[DirectoryUser], SendResult]:
    """Remind with a new activation link (``flows.activation.request_link``).

    ``context_factory(audit)`` builds the ActivationContext (inline work, no floor).
    """
    from idp_extension.flows.activation import request_link

    outcomes = _Outcomes(audit, who)
    context = context_factory(outcomes)

    def send(user: DirectoryUser) -> SendResult:
        request_link(context, user.user_id, locale)
        event, details = outcomes.take(user.user_id)
        if event == AuditEvent.ACTIVATION_REQUESTED.value and details.get("result") == "sent":
            return "sent"
        return str(details.get("reason") or details.get("result") or "not_sent")

    return send


def temporary_password_sender(context_factory: Callable[[AuditLog], Any], audit: AuditLog,
                              who: Mapping[str, str], locale: str = "ms"
                              ) -> Callable[[DirectoryUser], SendResult]:
    """Remind with a new temporary password (``flows.first_login.request_temporary_password``,
    with the address payroll holds). ``context_factory(audit)`` builds the
    FirstLoginContext (inline work, no floor)."""
    from idp_extension.flows.first_login import RegistrationRefused, request_temporary_password

    outcomes = _Outcomes(audit, who)
    context = context_factory(outcomes)

    def send(user: DirectoryUser) -> SendResult:
        try:
            request_temporary_password(context, user.user_id, user.email or "", locale)
        except RegistrationRefused:
            pass  # audited by the flow: the registered address is outside the domains
        event, details = outcomes.take(user.user_id)
        if event == AuditEvent.TEMPORARY_PASSWORD_SENT.value:
            return "sent"
        return str(details.get("reason") or details.get("result") or "not_sent")

    return send


def now_iso(clock: Clock) -> str:
    return clock.now().isoformat(timespec="seconds")


def last_reminded(user: DirectoryUser) -> datetime | None:
    facts = UserFacts.of(user)
    return facts.reminded_at if facts else None
