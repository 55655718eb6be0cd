"""Payroll records: the people state IT registers before they activate an account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from stdnum.my import nric


class InvalidUserId(ValueError):
    """The ID is not a valid 12-digit MyKad number."""


def normalise_mykad(raw: str) -> str:
    """Return the 12 digits of a MyKad number, or raise InvalidUserId.

    python-stdnum checks the length, the birth date and the place-of-birth code; the
    last digit (sex) is never inspected or exposed.
    """
    try:
        return nric.validate(raw)
    except Exception as exc:  # stdnum raises several ValidationError subclasses
        raise InvalidUserId(str(exc)) from None


@dataclass(frozen=True)
class PayrollRecord:
    """One person as the payroll export knows them."""

    user_id: str
    name: str
    email: str
    department: str
    registration_date: datetime
