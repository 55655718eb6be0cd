"""Read a payroll export (CSV) into valid rows and rejections with their line numbers.

Columns (header row, any order, case and spaces ignored; extra columns are ignored):
``id`` (MyKad, with or without dashes), ``name``, ``email``, ``department``,
``registration_date``. Malay headers work too (``no_kp``, ``nama``, ``emel``,
``jabatan``, ``tarikh_pendaftaran``).

A row is rejected, with every reason found, when its ID is not a valid MyKad number, a
value is missing, the email is malformed or outside the state's domains, the name holds
characters the realm's user profile refuses, a value is longer than the profile allows,
or the registration date cannot be read. **Duplicates**: an ID on more than one line is
rejected on *every* such line, because nothing tells which line is right (keeping the
first would let a line order decide whose mailbox receives the activation link); the
user already in Keycloak, if any, is left as it is until the file is fixed.

Line numbers are the file's own (the header is line 1), so state IT can open the file
at the reported line.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Generic, Iterable, TypeVar

from idp_extension.addresses import is_single_addr_spec
from idp_extension.payroll import InvalidUserId, PayrollRecord, normalise_mykad
from idp_extension.realms.profile import (
    PAYROLL_ATTRIBUTES, PERSON_NAME_PATTERN, PROHIBITED_NAME_CHARS, user_profile_config,
)
from idp_extension.tenants import Tenant

COLUMNS = ("id", "name", "email", "department", "registration_date")
ALIASES = {
    "id": "id", "user_id": "id", "mykad": "id", "no_kp": "id", "no_kad_pengenalan": "id",
    "name": "name", "nama": "name",
    "email": "email", "official_email": "email", "emel": "email", "emel_rasmi": "email",
    "department": "department", "jabatan": "department",
    "registration_date": "registration_date", "tarikh_pendaftaran": "registration_date",
    "tarikh_daftar": "registration_date",
}
# Stored registration dates are Malaysian local time without an offset (as the
# manuals show them); an offset in the file is converted to it.
MALAYSIA = timezone(timedelta(hours=8))
# The manuals' own format ("14/09/2020 11:50:04 AM") and its near relatives.
DMY_FORMATS = ("%d/%m/%Y %I:%M:%S %p", "%d/%m/%Y %I:%M %p", "%d/%m/%Y %H:%M:%S",
               "%d/%m/%Y %H:%M", "%d/%m/%Y")
DATE_HINT = "use 2026-01-31, 2026-01-31T09:00:00 or 31/01/2026 09:00:00 AM"


class PayrollFileError(ValueError):
    """The file cannot be read as a payroll export at all (no header, missing column)."""


@dataclass(frozen=True)
class PayrollRow:
    """One valid row and the line it came from."""

    line: int
    record: PayrollRecord


@dataclass(frozen=True)
class Rejection:
    """One skipped row: its line, the ID as written, and every reason."""

    line: int
    raw_id: str
    reasons: tuple[str, ...]

    def message(self) -> str:
        """Return e.g. ``line 7 (900101-06-1234): missing name; email outside ...``.

        Safe to print: the file's own text (an ID cell holding an ANSI escape, a bidi
        override, a line break) comes out escaped, never acted on by the terminal.
        """
        shown = f" ({terminal_safe(self.raw_id)})" if self.raw_id else ""
        return terminal_safe(f"line {self.line}{shown}: {'; '.join(self.reasons)}")


Row = TypeVar("Row")


@dataclass(frozen=True)
class ParsedRows(Generic[Row]):
    """Every data row of a file (payroll, tasks), either valid or rejected."""

    rows: tuple[Row, ...]
    rejections: tuple[Rejection, ...]

    @property
    def total(self) -> int:
        return len(self.rows) + len(self.rejections)


class ParsedFile(ParsedRows[PayrollRow]):
    """A payroll file's rows."""


def _max_length(name: str) -> int:
    for attribute in user_profile_config()["attributes"]:
        if attribute["name"] == name:
            return attribute["validations"]["length"]["max"]
    return PAYROLL_ATTRIBUTES[name][0]


MAX_NAME = _max_length("firstName")
MAX_EMAIL = _max_length("email")
MAX_DEPARTMENT = _max_length("department")
# The user profile's name pattern (realms/profile.py): a name it refuses could be
# created by partial import, which skips validation, but every later update of that
# user (activation too) would fail.
NAME_RULE = re.compile(PERSON_NAME_PATTERN)


def terminal_safe(text: str) -> str:
    """Return ``text`` with every unprintable character written as a Python escape.

    Control characters (ESC starts ANSI sequences, CR rewrites a line, C1's CSI), bidi
    overrides and other invisible format characters become ``\\x1b``, ``\\u202e``, ...;
    letters of any script and plain spaces stay as they are.
    """
    return "".join(c if c == " " or c.isprintable() else _escape(c) for c in text)


def _escape(character: str) -> str:
    code = ord(character)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def squeeze(value: str | None) -> str:
    """Return ``value`` trimmed, with inner runs of whitespace made one space."""
    return " ".join((value or "").split())


def parse_registration_date(raw: str) -> datetime:
    """Read an ISO date/datetime or the manuals' ``dd/mm/yyyy hh:mm:ss AM``; raise ValueError."""
    text = squeeze(raw)
    if not text:
        raise ValueError("empty")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        for pattern in DMY_FORMATS:
            try:
                value = datetime.strptime(text.upper(), pattern)
                break
            except ValueError:
                continue
        else:
            raise ValueError(text) from None
    if value.tzinfo is not None:
        value = value.astimezone(MALAYSIA).replace(tzinfo=None)
    return value.replace(microsecond=0)


def _check_id(raw: str, reasons: list[str]) -> str | None:
    if not raw:
        reasons.append("missing ID")
        return None
    try:
        return normalise_mykad(raw)
    except InvalidUserId as exc:
        digits = re.sub(r"\D", "", raw)
        hint = " (a leading zero lost in a spreadsheet?)" if len(digits) == 11 else ""
        reasons.append(f"malformed ID: {exc}{hint}")
        return None


def _check_name(name: str, reasons: list[str]) -> None:
    if not name:
        reasons.append("missing name")
    elif len(name) > MAX_NAME:
        reasons.append(f"name longer than {MAX_NAME} characters")
    elif not NAME_RULE.fullmatch(name):
        bad = sorted({c for c in name if c in PROHIBITED_NAME_CHARS or not c.isprintable()})
        reasons.append(f"name contains characters Keycloak refuses: {' '.join(map(_shown, bad))}")
    elif not all(c == " " or c.isprintable() for c in name):
        # C1 controls, bidi overrides, zero-width characters: Keycloak's pattern lets them
        # through, but they would change how the name reads on pages and terminals.
        bad = sorted({c for c in name if c != " " and not c.isprintable()})
        reasons.append(f"name contains invisible or control characters: "
                       f"{' '.join(map(_shown, bad))}")


def _shown(character: str) -> str:
    return character if character.isprintable() else repr(character)


def _check_email(email: str, tenant: Tenant, reasons: list[str]) -> None:
    if not email:
        reasons.append("missing email")
    elif len(email) > MAX_EMAIL or not is_single_addr_spec(email):
        # Exactly one plain address: "boss,x@pahang.gov.my" would be two recipients.
        reasons.append(f"malformed email {email!r}: not exactly one plain address "
                       f"(name@domain, no commas, spaces, display names or quotes)")
    elif not tenant.allows_email(email):
        domains = ", ".join(tenant.email_domains)
        reasons.append(f"email {email!r} outside {tenant.realm}'s domains ({domains})")


def _check_department(department: str, reasons: list[str]) -> None:
    if not department:
        reasons.append("missing department")
    elif len(department) > MAX_DEPARTMENT:
        reasons.append(f"department longer than {MAX_DEPARTMENT} characters")


def _check_date(raw: str, reasons: list[str]) -> datetime | None:
    if not squeeze(raw):
        reasons.append("missing registration date")
        return None
    try:
        return parse_registration_date(raw)
    except ValueError:
        reasons.append(f"unreadable registration date {squeeze(raw)!r} ({DATE_HINT})")
        return None


def _header(fields: list[str]) -> dict[str, int]:
    """Map each known column to its index; raise PayrollFileError if one is missing."""
    positions: dict[str, int] = {}
    for index, field in enumerate(fields):
        key = re.sub(r"[\s\-]+", "_", field.strip().lower())
        column = ALIASES.get(key)
        if column and column not in positions:
            positions[column] = index
    missing = [c for c in COLUMNS if c not in positions]
    if missing:
        raise PayrollFileError(
            f"line 1: missing column(s) {', '.join(missing)}; the header must name "
            f"{', '.join(COLUMNS)}"
        )
    return positions


def _rows(lines: Iterable[str]) -> Iterable[tuple[int, list[str]]]:
    """Yield (first line number, fields) of every non-empty record, header included."""
    reader = csv.reader(lines)
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise PayrollFileError(f"line {start}: not readable as CSV: {exc}") from None
        if any(f.strip() for f in fields):
            yield start, fields


def parse_payroll_csv(lines: Iterable[str], tenant: Tenant) -> ParsedFile:
    """Read CSV ``lines`` (header first) into valid rows and rejections."""
    records = _rows(lines)
    try:
        _, header = next(records)
    except StopIteration:
        raise PayrollFileError("the file is empty: no header row") from None
    positions = _header(header)
    candidates: list[tuple[int, str, str | None, list[str], PayrollRecord | None]] = []
    for line, fields in records:
        value = {c: (fields[i] if i < len(fields) else "") for c, i in positions.items()}
        raw_id = value["id"].strip()
        reasons: list[str] = []
        user_id = _check_id(raw_id, reasons)
        name, email = squeeze(value["name"]), squeeze(value["email"]).lower()
        department = squeeze(value["department"])
        _check_name(name, reasons)
        _check_email(email, tenant, reasons)
        _check_department(department, reasons)
        registered = _check_date(value["registration_date"], reasons)
        record = None
        if not reasons:
            record = PayrollRecord(user_id, name, email, department, registered)
        candidates.append((line, raw_id, user_id, reasons, record))
    return _without_duplicates(candidates)


def check_one(values: dict[str, str], tenant: Tenant) -> tuple[PayrollRecord | None, list[str]]:
    """One person typed in (the console's "register one user"): the import's own rules.

    ``values`` has the ``COLUMNS`` keys; returns the record, or None and every reason.
    """
    reasons: list[str] = []
    user_id = _check_id((values.get("id") or "").strip(), reasons)
    name, email = squeeze(values.get("name")), squeeze(values.get("email")).lower()
    department = squeeze(values.get("department"))
    _check_name(name, reasons)
    _check_email(email, tenant, reasons)
    _check_department(department, reasons)
    registered = _check_date(values.get("registration_date") or "", reasons)
    if reasons:
        return None, reasons
    return PayrollRecord(user_id, name, email, department, registered), reasons


def check_name(name: str) -> list[str]:
    reasons: list[str] = []
    _check_name(squeeze(name), reasons)
    return reasons


def check_email(email: str, tenant: Tenant) -> list[str]:
    reasons: list[str] = []
    _check_email(squeeze(email).lower(), tenant, reasons)
    return reasons


def check_department(department: str) -> list[str]:
    reasons: list[str] = []
    _check_department(squeeze(department), reasons)
    return reasons


def _without_duplicates(candidates) -> ParsedFile:
    """Reject every line whose ID appears on another line too."""
    lines_of: dict[str, list[int]] = defaultdict(list)
    for line, _, user_id, _, _ in candidates:
        if user_id:
            lines_of[user_id].append(line)
    rows, rejections = [], []
    for line, raw_id, user_id, reasons, record in candidates:
        others = [n for n in lines_of.get(user_id or "", []) if n != line]
        if others:
            listed = ", ".join(str(n) for n in others)
            plural = "s" if len(others) > 1 else ""
            reasons = reasons + [f"duplicate ID {user_id}: also on line{plural} {listed}"]
        if reasons:
            rejections.append(Rejection(line, raw_id, tuple(reasons)))
        else:
            rows.append(PayrollRow(line, record))
    return ParsedFile(tuple(rows), tuple(rejections))


def read_payroll_file(path: Path | str, tenant: Tenant) -> ParsedFile:
    """Read a payroll CSV file (UTF-8, with or without Excel's byte-order mark)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return parse_payroll_csv(handle, tenant)
    except UnicodeDecodeError as exc:
        raise PayrollFileError(
            f"{path}: not UTF-8 text ({exc.reason}); save the export as CSV UTF-8"
        ) from None
