"""The helpdesk console's verbs (issue 13): find, show and act on one realm's users.

No Flask here: the views hand in the realm's directory (the sidecar's service account),
the tenant, the audit log bound to the realm and the officer (``Actor``). Every change
names the officer and the reason in its audit event (``console:action``); a refusal is
audited too (``console:action:refused``). Security answers, phrases and passwords are
never read into what a page shows: ``UserCard`` has no field for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

from idp_extension.attributes import ACTIVATED_AT, DEPARTMENT
from idp_extension.audit import AuditEvent, Outcome, RealmAudit, trail
from idp_extension.errors import IspeksError
from idp_extension.gateway.users import ACTIVE, PENDING, DirectoryUser
from idp_extension.importing.payroll_csv import (
    check_department, check_email, check_name, check_one,
)
from idp_extension.payroll import InvalidUserId, normalise_mykad
from idp_extension.tasks import (
    APPROVER, SYSTEM_ADMIN, Catalogue, UnknownTask, conflicts, parse_role,
)
from idp_extension.tenants import Tenant

MAX_QUERY = 100
MIN_NAME_QUERY = 3
MAX_RESULTS = 50
MAX_REASON = 500
TRAIL_LENGTH = 50
CLIENT = "ispeks-sidecar"


class ConsoleRefused(IspeksError, code="console.refused", status=400):
    """An action the console refuses; ``code`` is a message key, ``details`` say more."""

    def __init__(self, message: str, details: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.details = list(details)


class ReasonRequired(ConsoleRefused, code="console.reason_required"):
    """The action needs a reason (it goes to the audit log) and none was given."""


class NotConfirmed(ConsoleRefused, code="console.not_confirmed"):
    """The officer did not tick the confirmation the action asks for."""


class UserNotFound(ConsoleRefused, code="console.user_not_found", status=404):
    """No user of this state has that ID."""


class InvalidDetails(ConsoleRefused, code="console.invalid_details"):
    """The name, email or payroll fields are not valid; ``details`` says which."""


class EmailOutsideDomains(ConsoleRefused, code="console.email_outside_domains"):
    """The email is not in one of the state's mail domains."""


class AlreadyRegistered(ConsoleRefused, code="console.already_registered", status=409):
    """A user with that ID exists already in the state."""


class GrantNotAllowed(ConsoleRefused, code="console.grant_not_allowed", status=403):
    """Meja Bantuan may not grant or revoke Pelulus or Pentadbir tasks."""


class SegregationOfDuties(ConsoleRefused, code="console.segregation", status=409):
    """The task would give one user two tasks that must stay apart."""


class NothingToDo(ConsoleRefused, code="console.nothing_to_do", status=409):
    """Nothing would change: the user is so already, holds the task, or the same details."""


class NotSent(ConsoleRefused, code="console.not_sent", status=409):
    """The activation link or temporary password was not sent; ``details`` says why."""


@dataclass(frozen=True)
class Actor:
    """The officer acting (from the token at sign-in)."""

    user_id: str
    tasks: tuple[str, ...]

    @property
    def system_admin(self) -> bool:
        return SYSTEM_ADMIN in self.tasks


@dataclass(frozen=True)
class Found:
    user_id: str
    name: str
    department: str | None
    status: str


@dataclass(frozen=True)
class UserCard:
    """What the console shows of a user: never an answer, phrase or password."""

    uuid: str
    user_id: str
    name: str
    email: str
    department: str | None
    status: str  # pending, active, locked, disabled
    locked_by: str | None  # passwords, answers
    registered: str | None
    activated: str | None
    last_login: str | None
    tasks: tuple[str, ...]
    totp: bool
    trail: tuple[dict[str, Any], ...] = field(default=())


@dataclass
class ConsoleContext:
    tenant: Tenant
    directory: Any  # gateway.users.UserDirectory of the realm
    audit: RealmAudit
    raw_audit: Any  # the unbound log (for the trail and the reminder senders)
    actor: Actor
    catalogue: Catalogue
    task_roles: Callable[[], Any]  # -> gateway.tasks.TaskRoles
    send_onboarding: Callable[[DirectoryUser], str]  # -> "sent" or why not

    @property
    def realm(self) -> str:
        return self.tenant.realm


def normalise_id(raw: str) -> str | None:
    try:
        return normalise_mykad(raw)
    except InvalidUserId:
        return None


def status_of(user: DirectoryUser, brute_force_locked: bool = False) -> tuple[str, str | None]:
    if user.permanently_locked or brute_force_locked:
        return "locked", "passwords"
    if user.locked_by_recovery:
        return "locked", "answers"
    if not user.enabled:
        return "disabled", None
    return (PENDING if user.activation_state == PENDING else ACTIVE), None


def search(ctx: ConsoleContext, query: str) -> list[Found]:
    """By ID (with or without dashes) or by part of the name."""
    query = re.sub(r"\s+", " ", (query or "").strip())[:MAX_QUERY]
    if not query:
        return []
    user_id = normalise_id(query)
    if user_id is not None:
        user = ctx.directory.find(user_id)
        users = [user] if user else []
    elif re.fullmatch(r"[\d\-\s]+", query) or len(query) < MIN_NAME_QUERY:
        users = []
    else:
        users = ctx.directory.search_text(query, MAX_RESULTS)
    return [Found(u.user_id, u.name, u.department, status_of(u)[0]) for u in users]


def _user(ctx: ConsoleContext, user_id: str) -> DirectoryUser:
    normalised = normalise_id(user_id) or (user_id or "").strip()
    user = ctx.directory.find(normalised) if normalised else None
    if user is None:
        raise UserNotFound(f"no user {user_id!r} in {ctx.realm}")
    return user


def _date(value: str | None) -> str | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment.strftime("%d/%m/%Y %I:%M %p") if moment.tzinfo is None else \
        moment.astimezone(timezone.utc).strftime("%d/%m/%Y %H:%M UTC")


def card(ctx: ConsoleContext, user_id: str) -> UserCard:
    user = _user(ctx, user_id)
    status = ctx.directory.failed_logins(user.id) or {}
    # Keycloak's brute-force status says "disabled" while failures lock the account.
    state, locked_by = status_of(user, bool(status.get("disabled"))
                                 and bool(status.get("numFailures")))
    sessions = ctx.directory.sessions(user.id)
    starts = [s.get("start") for s in sessions if isinstance(s.get("start"), (int, float))]
    last_login = (datetime.fromtimestamp(max(starts) / 1000, timezone.utc)
                  .strftime("%d/%m/%Y %H:%M UTC") if starts else None)
    roles = ctx.task_roles()
    tasks = tuple(sorted(roles.direct(user.id)))
    return UserCard(
        uuid=user.id, user_id=user.user_id, name=user.name, email=user.email,
        department=user.department, status=state, locked_by=locked_by,
        registered=_date(user.registration_date), activated=_date(user.first(ACTIVATED_AT)),
        last_login=last_login, tasks=tasks,
        totp=ctx.directory.otp_credential_count(user.id) > 0,
        trail=tuple(trail(ctx.raw_audit, ctx.realm, user.user_id, TRAIL_LENGTH)))


# -- actions ----------------------------------------------------------------------------


def _reason(reason: str) -> str:
    reason = re.sub(r"\s+", " ", (reason or "").strip())
    if not reason:
        raise ReasonRequired("a reason is required")
    return reason[:MAX_REASON]


def _confirmed(confirmed: bool) -> None:
    if not confirmed:
        raise NotConfirmed("the action was not confirmed")


def _done(ctx: ConsoleContext, action: str, subject: str, reason: str, **details: Any) -> None:
    ctx.audit.record(AuditEvent.CONSOLE_ACTION, subject=subject, action=action,
                     actor=ctx.actor.user_id, officer=ctx.actor.user_id, client=CLIENT,
                     reason=reason, **details)


def refused(ctx: ConsoleContext, action: str, subject: str | None, error: ConsoleRefused) -> None:
    ctx.audit.record(AuditEvent.CONSOLE_ACTION_REFUSED, subject=subject, action=action,
                     outcome=Outcome.DENIED, actor=ctx.actor.user_id,
                     officer=ctx.actor.user_id, client=CLIENT, refusal=error.code)


def _begin(ctx: ConsoleContext, user_id: str, reason: str, confirmed: bool
           ) -> tuple[DirectoryUser, str]:
    why = _reason(reason)
    _confirmed(confirmed)
    return _user(ctx, user_id), why


def register(ctx: ConsoleContext, values: Mapping[str, str], reason: str, confirmed: bool
             ) -> DirectoryUser:
    """One new user from the payroll fields, checked by the import's rules."""
    why = _reason(reason)
    _confirmed(confirmed)
    record, reasons = check_one(dict(values), ctx.tenant)
    if record is None:
        if any("outside" in r for r in reasons):
            raise EmailOutsideDomains("email outside the state's domains", reasons)
        raise InvalidDetails("the payroll fields are not valid", reasons)
    user, created = ctx.directory.register_pending(record)
    if not created:
        raise AlreadyRegistered(f"{record.user_id} is already registered")
    _done(ctx, "register", record.user_id, why, department=record.department)
    return user


def correct(ctx: ConsoleContext, user_id: str, *, name: str | None = None,
            email: str | None = None, department: str | None = None, reason: str = "",
            confirmed: bool = False) -> list[str]:
    """Correct name, email (inside the state's domains) and department; the fields changed."""
    user, why = _begin(ctx, user_id, reason, confirmed)
    changed: list[str] = []
    new_name = new_email = None
    if name is not None and name.strip() and re.sub(r"\s+", " ", name.strip()) != user.name:
        problems = check_name(name)
        if problems:
            raise InvalidDetails("invalid name", problems)
        new_name = re.sub(r"\s+", " ", name.strip())
        changed.append("name")
    if email is not None and email.strip() and email.strip().lower() != (user.email or "").lower():
        problems = check_email(email, ctx.tenant)
        if problems:
            if any("outside" in p for p in problems):
                raise EmailOutsideDomains("email outside the state's domains", problems)
            raise InvalidDetails("invalid email", problems)
        new_email = email.strip().lower()
        changed.append("email")
    if department is not None and department.strip() and \
            re.sub(r"\s+", " ", department.strip()) != (user.department or ""):
        problems = check_department(department)
        if problems:
            raise InvalidDetails("invalid department", problems)
        changed.append("department")
    if not changed:
        raise NothingToDo("nothing to change")
    if new_name is not None or new_email is not None:
        ctx.directory.update_profile(user.id, name=new_name, email=new_email)
    if "department" in changed:
        ctx.directory.update_attributes(
            user.id, {DEPARTMENT: [re.sub(r"\s+", " ", department.strip())]})
    _done(ctx, "correct", user.user_id, why, fields=changed)
    return changed


def resend(ctx: ConsoleContext, user_id: str, reason: str, confirmed: bool) -> str:
    """A new activation link or temporary password, by the state's onboarding style."""
    user, why = _begin(ctx, user_id, reason, confirmed)
    if user.activation_state != PENDING:
        raise NothingToDo(f"{user.user_id} is already active")
    result = ctx.send_onboarding(user)
    if result != "sent":
        raise NotSent(f"nothing sent: {result}", [result])
    _done(ctx, "resend", user.user_id, why, onboarding=ctx.tenant.onboarding.value)
    return result


def unlock(ctx: ConsoleContext, user_id: str, reason: str, confirmed: bool) -> None:
    user, why = _begin(ctx, user_id, reason, confirmed)
    ctx.directory.unlock(user.id)
    _done(ctx, "unlock", user.user_id, why)


def disable(ctx: ConsoleContext, user_id: str, reason: str, confirmed: bool) -> None:
    user, why = _begin(ctx, user_id, reason, confirmed)
    if not user.enabled:
        raise NothingToDo(f"{user.user_id} is already disabled")
    ctx.directory.set_enabled(user.id, False)
    ctx.directory.end_sessions(user.id)
    _done(ctx, "disable", user.user_id, why)


def enable(ctx: ConsoleContext, user_id: str, reason: str, confirmed: bool) -> None:
    user, why = _begin(ctx, user_id, reason, confirmed)
    if user.enabled:
        raise NothingToDo(f"{user.user_id} is already enabled")
    if user.permanently_locked or user.locked_by_recovery:
        raise NothingToDo(f"{user.user_id} is locked: unlock instead")
    ctx.directory.set_enabled(user.id, True)
    _done(ctx, "enable", user.user_id, why)


def reset_totp(ctx: ConsoleContext, user_id: str, reason: str, confirmed: bool) -> int:
    user, why = _begin(ctx, user_id, reason, confirmed)
    removed = ctx.directory.delete_otp_credentials(user.id, enrol_again=True)
    _done(ctx, "reset_totp", user.user_id, why, removed=removed)
    return removed


def may_change_task(actor: Actor, role: str) -> bool:
    """Pentadbir Sistem: any task; Meja Bantuan: no Pelulus, no Pentadbir/Meja Bantuan."""
    if actor.system_admin:
        return True
    task = parse_role(role)
    return task is not None and task.module is not None and task.level != APPROVER


def _task(ctx: ConsoleContext, raw: str) -> str:
    module, _, level = (raw or "").strip().lower().partition(":")
    try:
        return ctx.catalogue.task(module, level or None).role
    except UnknownTask as exc:
        raise InvalidDetails(str(exc), [str(exc)]) from None


def _begin_task_change(ctx: ConsoleContext, user_id: str, raw_task: str, reason: str,
                       confirmed: bool, verb: str) -> tuple[DirectoryUser, str, str, Any]:
    """The user, the reason, the task's role and the role store, once the officer may
    ``verb`` (grant, revoke) that task."""
    user, why = _begin(ctx, user_id, reason, confirmed)
    role = _task(ctx, raw_task)
    if not may_change_task(ctx.actor, role):
        raise GrantNotAllowed(f"{ctx.actor.user_id} may not {verb} {role}")
    return user, why, role, ctx.task_roles()


def assign_task(ctx: ConsoleContext, user_id: str, raw_task: str, reason: str,
                confirmed: bool) -> str:
    user, why, role, roles = _begin_task_change(ctx, user_id, raw_task, reason, confirmed,
                                                "grant")
    held = roles.direct(user.id)
    if role in held:
        raise NothingToDo(f"{user.user_id} already holds {role}")
    found = conflicts(held | {role}, ctx.catalogue)
    if found:
        raise SegregationOfDuties("segregation of duties",
                                  [c.message(user.user_id) for c in found])
    roles.grant(user.id, [role])
    _done(ctx, "assign_task", user.user_id, why, task=role)
    ctx.audit.record(AuditEvent.TASK_ASSIGNED, subject=user.user_id, task=role,
                     actor=ctx.actor.user_id, client=CLIENT)
    return role


def revoke_task(ctx: ConsoleContext, user_id: str, raw_task: str, reason: str,
                confirmed: bool) -> str:
    user, why, role, roles = _begin_task_change(ctx, user_id, raw_task, reason, confirmed,
                                                "revoke")
    if role not in roles.direct(user.id):
        raise NothingToDo(f"{user.user_id} does not hold {role}")
    roles.revoke(user.id, [role])
    _done(ctx, "revoke_task", user.user_id, why, task=role)
    ctx.audit.record(AuditEvent.TASK_REVOKED, subject=user.user_id, task=role,
                     actor=ctx.actor.user_id, client=CLIENT)
    return role
