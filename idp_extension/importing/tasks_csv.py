"""Read a task file (CSV: id, module, level) and plan it against the tasks users hold.

Pure: ``read_task_file`` turns the file into valid rows and rejections (line numbers are
the file's own, the header is line 1); ``plan_tasks`` compares the rows with each user's
current direct tasks and decides what to grant, what is already there, and which rows to
refuse. An import only ever grants: a task missing from the file is not taken away
(``users revoke`` does that), so the same file run again changes nothing.

``module`` is a module code of the state (``ac``, ``PROC``, any case) with ``level``
``penyedia``, ``penyemak`` or ``pelulus``; or ``pentadbir-sistem`` / ``meja-bantuan``
with an empty level. Segregation of duties: a row that would give someone Penyedia and
Pelulus of one module (with what they hold, or with another row) is refused, with the
conflict named, and nothing of it is written.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Protocol, Sequence

from idp_extension.importing.payroll_csv import ParsedRows, Rejection
from idp_extension.importing.run import NoProgress, Progress, SummaryLine
from idp_extension.payroll import InvalidUserId, normalise_mykad
from idp_extension.tasks import EXCLUSIVE_LEVELS, Catalogue, Task, UnknownTask, conflicts

COLUMNS = ("id", "module", "level")
ALIASES = {"id": "id", "user_id": "id", "mykad": "id", "no_kp": "id",
           "no_kad_pengenalan": "id", "module": "module", "modul": "module",
           "level": "level", "tahap": "level", "peringkat": "level", "tugas": "level"}


class TaskFileError(ValueError):
    """The file cannot be read as a task file at all (no header, missing column)."""


def normalise_user_id(raw: str) -> str:
    """A MyKad number as its 12 digits; any other ID (a company's) as written."""
    try:
        return normalise_mykad(raw)
    except InvalidUserId:
        return raw.strip()


@dataclass(frozen=True)
class TaskRow:
    line: int
    user_id: str
    task: Task


class ParsedTasks(ParsedRows[TaskRow]):
    """A task file's rows."""


def read_task_rows(lines: Iterable[str], catalogue: Catalogue) -> ParsedTasks:
    """Parse CSV text lines (header first)."""
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        raise TaskFileError("empty file: expected a header row id,module,level") from None
    names = [ALIASES.get(h.strip().lower().lstrip("\ufeff").replace(" ", "_"), "")
             for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise TaskFileError(f"missing column(s) {', '.join(missing)} in the header "
                            f"(expected id,module,level)")
    index = {c: names.index(c) for c in COLUMNS}
    rows, rejections = [], []
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        value = {c: (cells[i].strip() if i < len(cells) else "") for c, i in index.items()}
        reasons = []
        if not value["id"]:
            reasons.append("missing id")
        if not value["module"]:
            reasons.append("missing module")
        task = None
        if value["module"]:
            try:
                task = catalogue.task(value["module"], value["level"])
            except UnknownTask as exc:
                reasons.append(str(exc))
        if reasons:
            rejections.append(Rejection(line, value["id"], tuple(reasons)))
        else:
            rows.append(TaskRow(line, normalise_user_id(value["id"]), task))
    return ParsedTasks(tuple(rows), tuple(rejections))


def read_task_file(path: Path, catalogue: Catalogue) -> ParsedTasks:
    """Read a UTF-8 CSV task file (a BOM is fine)."""
    try:
        with Path(path).open(encoding="utf-8-sig", newline="") as handle:
            return read_task_rows(handle, catalogue)
    except UnicodeDecodeError as exc:
        raise TaskFileError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None


@dataclass(frozen=True)
class TaskPlan:
    """What a task file means for Keycloak."""

    grant: dict[str, tuple[str, ...]]  # user ID -> task roles to grant
    granted_rows: tuple[TaskRow, ...]
    unchanged: tuple[TaskRow, ...]
    rejected: tuple[Rejection, ...]

    @property
    def assignments(self) -> int:
        return sum(len(v) for v in self.grant.values())


def plan_tasks(rows: Iterable[TaskRow], held: Mapping[str, set[str] | None],
               catalogue: Catalogue | None = None) -> TaskPlan:
    """Sort rows into grants, already held, and refused (unknown user, segregation).

    ``held``: user ID -> the tasks the user holds directly; None or absent: no such user.
    """
    by_user: dict[str, list[TaskRow]] = {}
    for row in rows:
        by_user.setdefault(row.user_id, []).append(row)
    grant: dict[str, tuple[str, ...]] = {}
    granted, unchanged, rejected = [], [], []
    for user_id, user_rows in by_user.items():
        have = held.get(user_id)
        if have is None:
            rejected += [Rejection(r.line, r.user_id, (f"no user {user_id} in this state",))
                         for r in user_rows]
            continue
        wanted = {r.task.role for r in user_rows}
        bad = {c.module: c for c in conflicts(have | wanted, catalogue)}
        new: set[str] = set()
        for row in user_rows:
            task = row.task
            if task.role in have:
                unchanged.append(row)
            elif task.module in bad and task.level in EXCLUSIVE_LEVELS:
                rejected.append(Rejection(row.line, row.user_id,
                                          (bad[task.module].message(user_id),)))
            elif task.role in new:
                unchanged.append(row)  # the same task on two lines: granted once
            else:
                new.add(task.role)
                granted.append(row)
        if new:
            grant[user_id] = tuple(sorted(new))
    return TaskPlan(grant, tuple(granted), tuple(unchanged),
                    tuple(sorted(rejected, key=lambda r: r.line)))


@dataclass(frozen=True)
class TaskImportSummary(SummaryLine):
    realm: str
    rows: int
    granted: int
    unchanged: int
    rejected: tuple[Rejection, ...]
    failed: tuple[Rejection, ...] = ()
    dry_run: bool = False
    seconds: float = 0.0
    users: int = 0

    def _written(self) -> list[tuple[str, int]]:
        return [("granted", self.granted)]

    def problems(self) -> list[str]:
        return [r.message() for r in sorted((*self.rejected, *self.failed),
                                            key=lambda r: r.line)]

    def audit_details(self) -> dict:
        return {"rows": self.rows, "granted": self.granted, "unchanged": self.unchanged,
                "rejected": len(self.rejected), "failed": len(self.failed),
                "users": self.users, "dry_run": self.dry_run}


class TaskStore(Protocol):
    """The verbs an import needs (``gateway.tasks.TaskRoles``)."""

    realm: str

    def users(self, user_ids: Sequence[str], progress: Progress) -> dict[str, str]: ...

    def direct_of_many(self, uuids: Sequence[str], progress: Progress) -> dict[str, set[str]]: ...

    def grant_many(self, grants: Sequence[tuple[str, Sequence[str]]], progress: Progress,
                   failed: Callable[[str, str], None]) -> list[str]: ...


def import_tasks(parsed: ParsedTasks, store: TaskStore, catalogue: Catalogue | None = None, *,
                 dry_run: bool = False, progress: Progress | None = None,
                 granted: Callable[[str, tuple[str, ...]], None] | None = None
                 ) -> TaskImportSummary:
    """Grant the file's new tasks, one request per user; never revoke anything.

    ``granted(user_id, roles)`` is called for each user written (the audit log).
    """
    progress = progress or NoProgress()
    began = time.monotonic()
    uuids = store.users(sorted({r.user_id for r in parsed.rows}), progress)
    by_uuid = store.direct_of_many(sorted(uuids.values()), progress)
    held = {user_id: set(by_uuid.get(uuid, set())) for user_id, uuid in uuids.items()}
    plan = plan_tasks(parsed.rows, held, catalogue)
    rejected = tuple(sorted((*parsed.rejections, *plan.rejected), key=lambda r: r.line))
    if dry_run:
        return TaskImportSummary(store.realm, parsed.total, plan.assignments, len(plan.unchanged),
                                 rejected, dry_run=True, seconds=time.monotonic() - began,
                                 users=len(plan.grant))
    user_of = {uuid: user_id for user_id, uuid in uuids.items()}
    refused: dict[str, str] = {}
    done = store.grant_many([(uuids[u], names) for u, names in plan.grant.items()], progress,
                            lambda uuid, reason: refused.__setitem__(user_of[uuid], reason))
    for uuid in done:
        if granted is not None:
            granted(user_of[uuid], plan.grant[user_of[uuid]])
    failed = tuple(Rejection(row.line, row.user_id, (f"not written: {refused[row.user_id]}",))
                   for row in plan.granted_rows if row.user_id in refused)
    return TaskImportSummary(store.realm, parsed.total,
                             sum(len(plan.grant[user_of[u]]) for u in done), len(plan.unchanged),
                             rejected, failed, seconds=time.monotonic() - began, users=len(done))
