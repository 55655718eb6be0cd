"""The activation campaign's numbers, summarised from one pass over a realm's users.

Pure: it takes users (``DirectoryUser``), a campaign and a time, and returns a
``Summary`` (counts overall and by department, activations per Malaysian day since
go-live) and each department's pending users. Both are plain data that go to JSON and
back (``to_json``/``from_json``), so they can be kept in the shared state.

How an account is counted (what the flows and the gateway write today):

* **active** / **pending**: ``ispeks_activation_state`` (activation, first login set
  ``active``; the payroll import creates ``pending``). Users without it (service
  accounts, anything not from payroll) are not counted at all.
* **locked**: 3 wrong passwords (Keycloak's ``disabledReason=permanentLockout``) or 3
  wrong security answers in recovery (``ispeks_recovery_failures``); **disabled**: turned
  off by state IT. Both are also counted as active or pending.
* **activation day**: ``ispeks_activated_at`` (written with ``active`` since the report
  exists); active users activated before that are counted as "date not recorded".
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Iterable, Mapping

from idp_extension.gateway.users import ACTIVATED_AT, ACTIVE, PENDING, REMINDED_AT, DirectoryUser
from idp_extension.reporting.campaign import Campaign

OK, LOCKED, DISABLED = "ok", "locked", "disabled"
# The department key of users whose payroll record names none.
NO_DEPARTMENT = ""
NO_DEPARTMENT_LABEL = {"ms": "(tiada jabatan)", "en": "(no department)"}
FORMAT_VERSION = 1


def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 timestamp as timezone-aware UTC, or None if absent or unreadable."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None  # the flows always write an offset; anything else is not theirs
    return moment


@dataclass(frozen=True)
class UserFacts:
    """What the report needs of one payroll user, and nothing else."""

    uuid: str
    user_id: str
    name: str
    email: str
    department: str
    active: bool
    account: str  # OK, LOCKED or DISABLED
    enabled: bool
    activated_at: datetime | None
    registration_date: str | None
    reminded_at: datetime | None

    @classmethod
    def of(cls, user: DirectoryUser) -> "UserFacts | None":
        """The facts of ``user``, or None for an account that is not a payroll user."""
        state = user.activation_state
        if state not in (ACTIVE, PENDING):
            return None
        if user.enabled:
            account = OK
        elif user.permanently_locked or user.locked_by_recovery:
            account = LOCKED
        else:
            account = DISABLED
        return cls(
            uuid=user.id, user_id=user.user_id, name=user.name, email=user.email or "",
            department=(user.department or NO_DEPARTMENT).strip(), active=state == ACTIVE,
            account=account, enabled=user.enabled,
            activated_at=parse_time(user.first(ACTIVATED_AT)),
            registration_date=user.registration_date,
            reminded_at=parse_time(user.first(REMINDED_AT)),
        )


@dataclass
class Counts:
    """Users of one department (or of the state): activated or not, locked, disabled."""

    total: int = 0
    active: int = 0
    pending: int = 0
    locked: int = 0
    disabled: int = 0

    def add(self, facts: UserFacts) -> None:
        self.total += 1
        if facts.active:
            self.active += 1
        else:
            self.pending += 1
        if facts.account == LOCKED:
            self.locked += 1
        elif facts.account == DISABLED:
            self.disabled += 1

    @property
    def percent_active(self) -> float:
        """Share of activated users, 0-100 (0 for an empty department), one decimal."""
        return round(100.0 * self.active / self.total, 1) if self.total else 0.0


@dataclass(frozen=True)
class PendingUser:
    """One not-yet-activated user, as the department's pending list shows them."""

    user_id: str
    name: str
    email: str
    registration_date: str | None
    account: str
    reminded_at: str | None


@dataclass(frozen=True)
class Summary:
    """A state's campaign numbers at ``as_of``."""

    realm: str
    as_of: datetime
    go_live: date
    deadline: date
    totals: Counts
    # Department name -> counts, sorted by name ("" is "no department").
    departments: dict[str, Counts]
    # Every Malaysian day from go-live to the day of ``as_of`` (zeros included).
    activations_by_day: dict[date, int]
    activated_before_go_live: int = 0
    activated_after_as_of: int = 0
    activated_undated: int = 0
    # How long the scan behind these numbers took.
    scan_seconds: float = 0.0
    # Names this summary's pending lists in the store (one refresh = one generation).
    generation: str = ""

    def age(self, now: datetime) -> timedelta:
        """How old the numbers are at ``now`` (never negative)."""
        return max(timedelta(0), now - self.as_of)

    def to_json(self) -> str:
        data = {
            "version": FORMAT_VERSION, "realm": self.realm,
            "as_of": self.as_of.isoformat(), "go_live": self.go_live.isoformat(),
            "deadline": self.deadline.isoformat(), "totals": asdict(self.totals),
            "departments": {name: asdict(c) for name, c in self.departments.items()},
            "activations_by_day": {d.isoformat(): n for d, n in self.activations_by_day.items()},
            "activated_before_go_live": self.activated_before_go_live,
            "activated_after_as_of": self.activated_after_as_of,
            "activated_undated": self.activated_undated,
            "scan_seconds": self.scan_seconds, "generation": self.generation,
        }
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> "Summary":
        data = json.loads(text)
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"summary format {data.get('version')!r} is not {FORMAT_VERSION}")
        return cls(
            realm=data["realm"], as_of=datetime.fromisoformat(data["as_of"]),
            go_live=date.fromisoformat(data["go_live"]),
            deadline=date.fromisoformat(data["deadline"]), totals=Counts(**data["totals"]),
            departments={name: Counts(**c) for name, c in data["departments"].items()},
            activations_by_day={date.fromisoformat(d): n
                                for d, n in data["activations_by_day"].items()},
            activated_before_go_live=data["activated_before_go_live"],
            activated_after_as_of=data["activated_after_as_of"],
            activated_undated=data["activated_undated"],
            scan_seconds=data["scan_seconds"], generation=data["generation"],
        )


@dataclass
class Summariser:
    """Add users one at a time (a paged scan never holds a whole realm), then finish."""

    campaign: Campaign
    as_of: datetime
    totals: Counts = field(default_factory=Counts)
    departments: dict[str, Counts] = field(default_factory=dict)
    pending: dict[str, list[PendingUser]] = field(default_factory=dict)
    by_day: dict[date, int] = field(default_factory=dict)
    before: int = 0
    after: int = 0
    undated: int = 0

    def add(self, user: DirectoryUser | UserFacts) -> None:
        facts = user if isinstance(user, UserFacts) else UserFacts.of(user)
        if facts is None:
            return
        self.totals.add(facts)
        self.departments.setdefault(facts.department, Counts()).add(facts)
        if not facts.active:
            self.pending.setdefault(facts.department, []).append(PendingUser(
                user_id=facts.user_id, name=facts.name, email=facts.email,
                registration_date=facts.registration_date, account=facts.account,
                reminded_at=facts.reminded_at.isoformat() if facts.reminded_at else None))
            return
        if facts.activated_at is None:
            self.undated += 1
            return
        day = self.campaign.day_of(facts.activated_at)
        if day < self.campaign.go_live:
            self.before += 1
        elif day > self.campaign.day_of(self.as_of):
            self.after += 1
        else:
            self.by_day[day] = self.by_day.get(day, 0) + 1

    def finish(self, *, scan_seconds: float = 0.0, generation: str = ""
               ) -> tuple[Summary, dict[str, list[PendingUser]]]:
        """Return the summary and each department's pending users (sorted by ID)."""
        first, last = self.campaign.go_live, self.campaign.day_of(self.as_of)
        days = {}
        day = first
        while day <= last:
            days[day] = self.by_day.get(day, 0)
            day += timedelta(days=1)
        summary = Summary(
            realm=self.campaign.realm, as_of=self.as_of, go_live=self.campaign.go_live,
            deadline=self.campaign.deadline, totals=self.totals,
            departments=dict(sorted(self.departments.items())), activations_by_day=days,
            activated_before_go_live=self.before, activated_after_as_of=self.after,
            activated_undated=self.undated, scan_seconds=round(scan_seconds, 3),
            generation=generation,
        )
        pending = {name: sorted(users, key=lambda u: u.user_id)
                   for name, users in self.pending.items()}
        return summary, pending


def summarise(users: Iterable[DirectoryUser | UserFacts], campaign: Campaign,
              as_of: datetime, **finish: Any) -> tuple[Summary, dict[str, list[PendingUser]]]:
    """Summarise ``users`` for ``campaign`` as of ``as_of`` (see ``Summariser``)."""
    summariser = Summariser(campaign, as_of)
    for user in users:
        summariser.add(user)
    return summariser.finish(**finish)


def pending_to_json(users: Iterable[PendingUser]) -> str:
    return json.dumps([asdict(u) for u in users], ensure_ascii=False, separators=(",", ":"))


def pending_from_json(text: str | bytes) -> list[PendingUser]:
    return [PendingUser(**item) for item in json.loads(text)]


def department_label(name: str, locale: str = "ms") -> str:
    """How a department key reads on a page or in a CSV ("" has a label of its own)."""
    return name if name else NO_DEPARTMENT_LABEL.get(locale, NO_DEPARTMENT_LABEL["ms"])

