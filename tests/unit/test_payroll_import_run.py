"""Running an import against an in-memory store: counts, re-runs, dry runs, failures."""

from __future__ import annotations

import io
from contextlib import contextmanager
from dataclasses import replace

from idp_extension.importing.payroll_csv import parse_payroll_csv
from idp_extension.importing.plan import ExistingUser, payroll_attributes
from idp_extension.importing.progress import TerminalProgress
from idp_extension.importing.run import (
    CreateOutcome, UpdateOutcome, WriteFailure, import_payroll,
)
from idp_extension.settings import Settings
from idp_extension.tenants import load_tenant

HEADER = "id,name,email,department,registration_date\n"
IDS = ["850101045551", "900215045012", "781130045338", "910101045553"]


class MemoryStore:
    """Users by ID with their payroll fields; records every write."""

    realm = "melaka"

    def __init__(self) -> None:
        self.users: dict[str, ExistingUser] = {}
        self.writes: list[tuple[str, str]] = []
        self.fail_updates: set[str] = set()
        self.appear: set[str] = set()

    def existing(self, user_ids, progress):
        with progress.phase("Reading", len(user_ids)) as advance:
            advance(len(user_ids))
        return {u: self.users[u] for u in user_ids if u in self.users}

    def create_pending(self, records, progress):
        created, appeared = [], []
        for rec in records:
            if rec.user_id in self.appear:
                appeared.append(rec.user_id)
                continue
            attrs = payroll_attributes(rec)
            self.users[rec.user_id] = ExistingUser(
                f"uuid-{rec.user_id}", rec.user_id, rec.name, "", rec.email,
                attrs["department"][0], attrs["registration_date"][0])
            self.writes.append(("create", rec.user_id))
            created.append(rec.user_id)
        return CreateOutcome(tuple(created), tuple(appeared))

    def update_payroll_fields(self, updates, progress):
        updated, failed = [], []
        for update in updates:
            rec = update.record
            if rec.user_id in self.fail_updates:
                failed.append(WriteFailure(rec.user_id, "refused"))
                continue
            attrs = payroll_attributes(rec)
            self.users[rec.user_id] = replace(
                self.users[rec.user_id], first_name=rec.name, last_name="", email=rec.email,
                department=attrs["department"][0],
                registration_date=attrs["registration_date"][0])
            self.writes.append(("update", rec.user_id))
            updated.append(rec.user_id)
        return UpdateOutcome(tuple(updated), tuple(failed))


class CountingProgress:
    def __init__(self) -> None:
        self.phases: list[tuple[str, int, int]] = []

    @contextmanager
    def phase(self, label, total):
        done = []
        yield done.append
        self.phases.append((label, total, sum(done)))


def parsed(text: str):
    tenant = load_tenant(Settings().realm_templates_dir, "melaka")
    return parse_payroll_csv(io.StringIO(text), tenant)


def rows(*lines: str) -> str:
    return HEADER + "".join(line + "\n" for line in lines)


FILE = rows(
    f"{IDS[0]},Aminah,aminah@melaka.gov.my,Jabatan A,2026-01-05",
    f"{IDS[1]},Farid,farid@melaka.gov.my,Jabatan B,05/01/2026 09:00:00 AM",
    "12345,Bad,bad@melaka.gov.my,Jabatan B,2026-01-05",
    f"{IDS[2]},Harlina,harlina@melaka.gov.my,Jabatan C,2026-01-05",
)


def test_first_run_creates_and_second_run_changes_nothing():
    store = MemoryStore()

    first = import_payroll(parsed(FILE), store)
    second = import_payroll(parsed(FILE), store)

    assert (first.created, first.updated, first.unchanged, len(first.rejected)) == (3, 0, 0, 1)
    assert first.line() == "melaka: created 3, updated 0, unchanged 0, rejected 1"
    assert (second.created, second.updated, second.unchanged, len(second.rejected)) == (0, 0, 3, 1)
    assert len(store.writes) == 3
    assert not second.complete
    assert second.problems() == ["line 4 (12345): malformed ID: The number has an invalid length."]


def test_changed_rows_are_updated_and_absent_users_left_alone():
    store = MemoryStore()
    import_payroll(parsed(FILE), store)
    store.writes.clear()
    changed = rows(
        f"{IDS[0]},Aminah binti Abu,aminah@melaka.gov.my,Jabatan Z,2026-01-05",
        f"{IDS[1]},Farid,farid@melaka.gov.my,Jabatan B,2026-01-05T09:00:00",
        f"{IDS[3]},Iskandar,iskandar@melaka.gov.my,Jabatan D,2026-01-05",
    )

    summary = import_payroll(parsed(changed), store)

    assert (summary.created, summary.updated, summary.unchanged) == (1, 1, 1)
    assert summary.complete
    assert summary.changed_fields == {"name": 1, "department": 1}
    assert store.writes == [("create", IDS[3]), ("update", IDS[0])]
    assert IDS[2] in store.users  # not in the second file, still there


def test_a_dry_run_counts_but_writes_nothing():
    store = MemoryStore()

    summary = import_payroll(parsed(FILE), store, dry_run=True)

    assert store.writes == []
    assert summary.created == 3
    assert summary.line() == ("melaka: would be created 3, would be updated 0, unchanged 0, "
                              "rejected 1 (dry run: nothing written)")


def test_rows_keycloak_did_not_take_are_failures_with_their_lines():
    store = MemoryStore()
    import_payroll(parsed(FILE), store)
    store.fail_updates.add(IDS[0])
    store.appear.add(IDS[3])
    text = rows(
        f"{IDS[0]},Aminah Baru,aminah@melaka.gov.my,Jabatan A,2026-01-05",
        f"{IDS[3]},Iskandar,iskandar@melaka.gov.my,Jabatan D,2026-01-05",
    )

    summary = import_payroll(parsed(text), store)

    assert (summary.created, summary.updated) == (0, 0)
    assert [(f.line, f.user_id) for f in summary.failed] == [(2, IDS[0]), (3, IDS[3])]
    assert summary.problems()[0] == f"line 2 ({IDS[0]}): not written: refused"
    assert "run it again" in summary.problems()[1]
    assert summary.line().endswith("rejected 0, failed 2")
    assert not summary.complete


def test_progress_is_reported_per_step():
    progress = CountingProgress()

    import_payroll(parsed(FILE), MemoryStore(), progress=progress)

    assert progress.phases == [("Reading", 3, 3)]


def test_audit_details_hold_counts_and_no_people():
    summary = import_payroll(parsed(FILE), MemoryStore())

    details = summary.audit_details()

    assert details == {"rows": 4, "created": 3, "updated": 0, "unchanged": 0, "rejected": 1,
                       "failed": 0, "dry_run": False, "changed_fields": {}}
    assert not any(user_id in str(details) for user_id in IDS)


class FakeTerminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_a_terminal_gets_a_progress_bar_and_a_redirected_stream_nothing():
    terminal, redirected = FakeTerminal(True), FakeTerminal(False)

    for stream in (terminal, redirected):
        with TerminalProgress(stream).phase("Creating users", 10) as advance:
            advance(4)
            advance(6)

    assert "Creating users" in terminal.getvalue()
    assert "10/10" in terminal.getvalue()
    assert redirected.getvalue() == ""
