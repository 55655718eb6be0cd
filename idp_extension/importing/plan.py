"""Compare valid payroll rows with the users Keycloak has: create, update or leave alone.

Only the four payroll fields are compared and ever written: name, email, department and
registration date. Everything else a user has (credentials, enabled, the sidecar's
``ispeks_*`` attributes, lastName unless the name changes) belongs to someone else.
Users absent from the file are never touched: a payroll export is not a list of
everyone who may keep an account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Mapping

from idp_extension.importing.payroll_csv import PayrollRow, squeeze
from idp_extension.payroll import PayrollRecord

NAME, EMAIL, DEPARTMENT, REGISTRATION_DATE = "name", "email", "department", "registration_date"
FIELDS = (NAME, EMAIL, DEPARTMENT, REGISTRATION_DATE)


def stored_date(value: datetime) -> str:
    """Return the registration date as it is stored (what register_pending writes)."""
    return value.isoformat(timespec="seconds")


def payroll_attributes(record: PayrollRecord) -> dict[str, list[str]]:
    """Return the user attributes the payroll owns, as Keycloak stores them."""
    return {
        DEPARTMENT: [record.department],
        REGISTRATION_DATE: [stored_date(record.registration_date)],
    }


@dataclass(frozen=True)
class ExistingUser:
    """The payroll fields of a user already in Keycloak."""

    uuid: str
    user_id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    department: str | None = None
    registration_date: str | None = None

    @property
    def name(self) -> str:
        return squeeze(f"{self.first_name} {self.last_name}")


@dataclass(frozen=True)
class UserUpdate:
    """A user whose payroll fields differ from the file's row."""

    uuid: str
    line: int
    record: PayrollRecord
    changed: tuple[str, ...]


@dataclass(frozen=True)
class ImportPlan:
    """What a file means for Keycloak."""

    create: tuple[PayrollRow, ...]
    update: tuple[UserUpdate, ...]
    unchanged: tuple[PayrollRow, ...]


def _same_date(stored: str | None, wanted: datetime) -> bool:
    try:
        return (stored is not None
                and datetime.fromisoformat(stored).replace(microsecond=0) == wanted)
    except ValueError:
        return False  # unreadable: rewrite it in the stored format


def changed_fields(record: PayrollRecord, user: ExistingUser) -> tuple[str, ...]:
    """Return the payroll fields whose values differ, in FIELDS order."""
    changed = []
    if user.name != record.name:
        changed.append(NAME)
    if (user.email or "").strip().lower() != record.email:
        changed.append(EMAIL)
    if squeeze(user.department) != record.department:
        changed.append(DEPARTMENT)
    if not _same_date(user.registration_date, record.registration_date):
        changed.append(REGISTRATION_DATE)
    return tuple(changed)


def plan_import(rows: Iterable[PayrollRow], existing: Mapping[str, ExistingUser]) -> ImportPlan:
    """Sort rows into users to create, to update and to leave alone."""
    create, update, unchanged = [], [], []
    for row in rows:
        user = existing.get(row.record.user_id)
        if user is None:
            create.append(row)
            continue
        changed = changed_fields(row.record, user)
        if changed:
            update.append(UserUpdate(user.uuid, row.line, row.record, changed))
        else:
            unchanged.append(row)
    return ImportPlan(tuple(create), tuple(update), tuple(unchanged))
