"""Run a payroll import against a user store and sum it up.

The store (``BulkUserStore``) does the batching; this module decides what to write and
counts what happened. A second run of the same file finds every row unchanged and
writes nothing.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

from idp_extension.importing.payroll_csv import ParsedFile, Rejection, terminal_safe
from idp_extension.importing.plan import ExistingUser, ImportPlan, UserUpdate, plan_import
from idp_extension.payroll import PayrollRecord

Advance = Callable[[int], None]


class Progress(Protocol):
    """Shows how far a long step is (a progress bar on a terminal, nothing otherwise)."""

    def phase(self, label: str, total: int) -> AbstractContextManager[Advance]: ...


class NoProgress:
    """Shows nothing."""

    def phase(self, label: str, total: int) -> AbstractContextManager[Advance]:
        return nullcontext(lambda done: None)


@dataclass(frozen=True)
class WriteFailure:
    """A valid row Keycloak did not take, and why."""

    user_id: str
    reason: str


@dataclass(frozen=True)
class CreateOutcome:
    created: tuple[str, ...] = ()
    # Usernames that appeared in Keycloak between the read and the write.
    appeared: tuple[str, ...] = ()
    failed: tuple[WriteFailure, ...] = ()


@dataclass(frozen=True)
class UpdateOutcome:
    updated: tuple[str, ...] = ()
    failed: tuple[WriteFailure, ...] = ()


class BulkUserStore(Protocol):
    """The user verbs an import needs (``gateway.bulk_users.BulkUsers``)."""

    realm: str

    def existing(self, user_ids: Sequence[str], progress: Progress) -> dict[str, ExistingUser]:
        """Return the users among ``user_ids`` that exist, keyed by user ID."""
        ...

    def create_pending(self, records: Sequence[PayrollRecord], progress: Progress) -> CreateOutcome:
        """Create pre-registered users; skip any that exist by now."""
        ...

    def update_payroll_fields(self, updates: Sequence[UserUpdate],
                              progress: Progress) -> UpdateOutcome:
        """Write the changed payroll fields, keeping everything else of each user."""
        ...


@dataclass(frozen=True)
class RowFailure:
    line: int
    user_id: str
    reason: str

    def message(self) -> str:
        return f"line {self.line} ({self.user_id}): not written: {self.reason}"


class SummaryLine:
    """What an import's summary (users, tasks) says the same way: whether it is complete,
    and its one line. A summary names what it wrote in ``_written``."""

    realm: str
    unchanged: int
    rejected: tuple[Rejection, ...]
    failed: tuple[Any, ...]
    dry_run: bool

    def _written(self) -> list[tuple[str, int]]:
        raise NotImplementedError

    @property
    def complete(self) -> bool:
        """True when every row of the file is now in Keycloak as written."""
        return not self.rejected and not self.failed

    def line(self) -> str:
        """Return e.g. ``kelantan: created 2, updated 1, unchanged 4, rejected 5``."""
        would = "would be " if self.dry_run else ""
        written = ", ".join(f"{would}{what} {count}" for what, count in self._written())
        text = (f"{self.realm}: {written}, unchanged {self.unchanged}, "
                f"rejected {len(self.rejected)}")
        if self.failed:
            text += f", failed {len(self.failed)}"
        return text + (" (dry run: nothing written)" if self.dry_run else "")


@dataclass(frozen=True)
class ImportSummary(SummaryLine):
    """What one import did (or, in a dry run, would do)."""

    realm: str
    rows: int
    created: int
    updated: int
    unchanged: int
    rejected: tuple[Rejection, ...]
    failed: tuple[RowFailure, ...] = ()
    dry_run: bool = False
    seconds: float = 0.0
    changed_fields: dict[str, int] = field(default_factory=dict)

    def _written(self) -> list[tuple[str, int]]:
        return [("created", self.created), ("updated", self.updated)]

    def problems(self) -> list[str]:
        """One line per rejected or failed row, in file order, safe to print."""
        items = [(r.line, r.message()) for r in self.rejected]
        items += [(f.line, f.message()) for f in self.failed]
        # Keycloak's refusals may quote the row back: escaped like the file's own text.
        return [terminal_safe(text) for _, text in sorted(items)]

    def audit_details(self) -> dict[str, Any]:
        """Counts only: an audit line never lists people."""
        return {
            "rows": self.rows, "created": self.created, "updated": self.updated,
            "unchanged": self.unchanged, "rejected": len(self.rejected),
            "failed": len(self.failed), "dry_run": self.dry_run,
            "changed_fields": dict(self.changed_fields),
        }


def _count_fields(updates: Sequence[UserUpdate]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for update in updates:
        for name in update.changed:
            counts[name] = counts.get(name, 0) + 1
    return counts


def import_payroll(parsed: ParsedFile, store: BulkUserStore, *, dry_run: bool = False,
                   progress: Progress | None = None) -> ImportSummary:
    """Create new users, update changed ones, skip the rest; never delete anyone."""
    progress = progress or NoProgress()
    began = time.monotonic()
    existing = store.existing([row.record.user_id for row in parsed.rows], progress)
    plan: ImportPlan = plan_import(parsed.rows, existing)
    if dry_run:
        return ImportSummary(
            store.realm, parsed.total, len(plan.create), len(plan.update), len(plan.unchanged),
            parsed.rejections, dry_run=True, seconds=time.monotonic() - began,
            changed_fields=_count_fields(plan.update),
        )
    created = store.create_pending([row.record for row in plan.create], progress)
    updated = store.update_payroll_fields(plan.update, progress)
    line_of = {row.record.user_id: row.line for row in parsed.rows}
    failed = [RowFailure(line_of[f.user_id], f.user_id, f.reason)
              for f in (*created.failed, *updated.failed)]
    failed += [RowFailure(line_of[user_id], user_id,
                          "created by someone else during the import; run it again")
               for user_id in created.appeared]
    not_written = {f.user_id for f in updated.failed}
    written = [u for u in plan.update if u.record.user_id not in not_written]
    return ImportSummary(
        store.realm, parsed.total, len(created.created), len(updated.updated),
        len(plan.unchanged), parsed.rejections, tuple(sorted(failed, key=lambda f: f.line)),
        seconds=time.monotonic() - began,
        changed_fields=_count_fields(written),
    )
