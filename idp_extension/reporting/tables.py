"""The report's tables as rows with Malay/English headers, and as CSV.

Every table a page shows has a CSV of the same rows: ``department_rows``,
``daily_rows`` and ``pending_rows`` return (header, rows); ``to_csv`` writes them
(UTF-8 with a BOM so that spreadsheet programs read Malay names right; a cell that
starts like a formula is prefixed with ``'`` so it is never run as one).
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Iterable, Sequence

from idp_extension.reporting.summary import (
    DISABLED, LOCKED, OK, Counts, PendingUser, Summary, department_label,
)

Row = Sequence[object]

DEPARTMENT_HEADER = ("Jabatan / Department", "Jumlah / Total", "Aktif / Active",
                     "Belum aktif / Pending", "% aktif / % active", "Dikunci / Locked",
                     "Disekat / Disabled")
DAILY_HEADER = ("Tarikh / Date", "Pengaktifan / Activations", "Kumulatif / Cumulative")
PENDING_HEADER = ("ID Pengguna / User ID", "Nama / Name", "Emel / Email",
                  "Jabatan / Department", "Tarikh pendaftaran / Registration date",
                  "Status akaun / Account", "Peringatan terakhir / Last reminder")
TOTAL_LABEL = "JUMLAH / TOTAL"
ACCOUNT_LABELS = {OK: "Biasa / Normal", LOCKED: "Dikunci / Locked",
                  DISABLED: "Disekat / Disabled"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _counts_row(label: str, counts: Counts) -> list[object]:
    return [label, counts.total, counts.active, counts.pending,
            f"{counts.percent_active:.1f}", counts.locked, counts.disabled]


def department_rows(summary: Summary, locale: str = "ms") -> tuple[Row, list[Row]]:
    """One row per department, then the state's total."""
    rows = [_counts_row(department_label(name, locale), counts)
            for name, counts in summary.departments.items()]
    rows.append(_counts_row(TOTAL_LABEL, summary.totals))
    return DEPARTMENT_HEADER, rows


def daily_rows(summary: Summary) -> tuple[Row, list[Row]]:
    """One row per day since go-live: activations that day and the running total.

    The running total starts with the activations before go-live (a pilot, state IT's
    own accounts); activations without a recorded date are not in it.
    """
    total = summary.activated_before_go_live
    rows: list[Row] = []
    for day, count in summary.activations_by_day.items():
        total += count
        rows.append([day.isoformat(), count, total])
    return DAILY_HEADER, rows


def pending_rows(users: Iterable[PendingUser], department: str,
                 locale: str = "ms") -> tuple[Row, list[Row]]:
    """One row per pending user of ``department``."""
    label = department_label(department, locale)
    rows = [[u.user_id, u.name, u.email, label, u.registration_date or "",
             ACCOUNT_LABELS.get(u.account, u.account), u.reminded_at or ""] for u in users]
    return PENDING_HEADER, rows


def _safe(cell: object) -> object:
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def to_csv(header: Row, rows: Iterable[Row]) -> str:
    """The table as CSV text (CRLF lines, a BOM first)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_safe(cell) for cell in row])
    return "\ufeff" + out.getvalue()


def format_age(age: timedelta) -> tuple[str, str]:
    """How old the numbers are, in Malay and English ("5 minit lalu", "5 minutes ago")."""
    seconds = int(age.total_seconds())
    if seconds < 60:
        return "kurang seminit lalu", "less than a minute ago"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} minit lalu", f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} jam lalu", f"{hours} hour{'s' if hours != 1 else ''} ago"
    days = hours // 24
    return f"{days} hari lalu", f"{days} days ago"
