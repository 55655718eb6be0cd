"""The activation campaign report without Keycloak: campaign values, summary, cache,
tables, CSV and the SVG chart."""

from __future__ import annotations

import csv
import io
import shutil
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta, timezone

import pytest

from idp_extension.flows.ports import ManualClock, MemoryClaims
from idp_extension.gateway.users import (
    ACTIVATED_AT, ACTIVATION_STATE, ACTIVE, DISABLED_REASON, PENDING, PERMANENT_LOCKOUT,
    RECOVERY_FAILURES, REMINDED_AT, DirectoryUser,
)
from idp_extension.reporting.campaign import Campaign, campaign_from_values, load_campaign
from idp_extension.reporting.chart import activation_chart
from idp_extension.reporting.service import ActivationReport, ReportNotReady
from idp_extension.reporting.store import MemoryReportStore
from idp_extension.reporting.summary import LOCKED, Summary, summarise
from idp_extension.reporting.tables import (
    daily_rows, department_rows, format_age, pending_rows, to_csv,
)
from idp_extension.settings import load_settings
from idp_extension.tenants import ValuesError, list_states

SVG = "{http://www.w3.org/2000/svg}"
CAMPAIGN = Campaign(realm="pahang", go_live=date(2026, 11, 2), deadline=date(2027, 1, 29),
                    reminders_per_minute=30)
# 2026-11-05 09:00 in Malaysia.
AS_OF = datetime(2026, 11, 5, 1, 0, tzinfo=timezone.utc)


def user(n: int, *, state: str | None = PENDING, department: str | None = "Jabatan A",
         enabled: bool = True, activated_at: str | None = None, **attributes: str
         ) -> DirectoryUser:
    attrs: dict[str, list[str]] = {k: [v] for k, v in attributes.items()}
    if state:
        attrs[ACTIVATION_STATE] = [state]
    if department is not None:
        attrs["department"] = [department]
    if activated_at:
        attrs[ACTIVATED_AT] = [activated_at]
    return DirectoryUser(id=f"uuid-{n}", user_id=f"90010106{n:04d}", name=f"ORANG {n}",
                         email=f"orang{n}@pahang.gov.my", enabled=enabled, attributes=attrs)


def seeded() -> list[DirectoryUser]:
    return [
        user(1), user(2), user(3, department="Jabatan B"),
        # Locked by 3 wrong passwords; disabled by state IT; locked by recovery answers.
        user(4, enabled=False, **{DISABLED_REASON: PERMANENT_LOCKOUT}),
        user(5, enabled=False, department="Jabatan B"),
        user(6, state=ACTIVE, enabled=False, **{RECOVERY_FAILURES: "3"}),
        # Activated: on go-live day (late evening in Malaysia = still that day in UTC? no:
        # 2026-11-02T17:30Z is 3 Nov 01:30 in Malaysia), on 4 Nov, before go-live, undated.
        user(7, state=ACTIVE, activated_at="2026-11-02T17:30:00+00:00"),
        user(8, state=ACTIVE, activated_at="2026-11-04T02:00:00+00:00", department="Jabatan B"),
        user(9, state=ACTIVE, activated_at="2026-11-02T03:00:00+00:00"),
        user(10, state=ACTIVE, activated_at="2026-10-20T03:00:00+00:00"),
        user(11, state=ACTIVE, department=None),
        # Not payroll users: a service account, anything without an activation state.
        user(12, state=None, department=None),
    ]


# -- campaign values -------------------------------------------------------------------


def test_every_state_has_a_valid_campaign():
    templates = load_settings().realm_templates_dir
    for state in list_states(templates):
        campaign = load_campaign(templates, state)
        assert campaign.go_live < campaign.deadline
        assert campaign.reminders_per_minute == 30


@pytest.mark.parametrize("campaign, message", [
    ({}, "go_live must be a date"),
    ({"go_live": date(1970, 1, 1), "deadline": date(2027, 1, 1)}, "placeholder"),
    ({"go_live": date(2027, 1, 2), "deadline": date(2027, 1, 1)}, "must come after"),
    ({"go_live": "2026-11-02", "deadline": date(2027, 1, 1)}, "go_live must be a date"),
    ({"go_live": date(2026, 11, 2), "deadline": date(2027, 1, 1),
      "reminders_per_minute": 0}, "reminders_per_minute"),
])
def test_a_bad_campaign_names_the_file_and_key(campaign, message):
    values = {"realm": "pahang", "_values_file": "values/pahang.toml", "campaign": campaign}
    with pytest.raises(ValuesError, match=message) as caught:
        campaign_from_values(values)
    assert "values/pahang.toml" in str(caught.value)


def test_a_values_file_without_its_own_dates_is_refused(tmp_path):
    templates = load_settings().realm_templates_dir
    shutil.copytree(templates, tmp_path / "t")
    path = tmp_path / "t" / "values" / "pahang.toml"
    text = path.read_text()
    start = text.index("[campaign]")
    path.write_text(text[:start] + text[text.index("\n[", start + 1):])
    with pytest.raises(ValuesError, match=r"\[campaign\] go_live is not set"):
        load_campaign(tmp_path / "t", "pahang")


# -- summary ---------------------------------------------------------------------------


def test_summary_counts_pending_active_locked_disabled_overall_and_by_department():
    summary, pending = summarise(seeded(), CAMPAIGN, AS_OF)

    t = summary.totals
    assert (t.total, t.active, t.pending, t.locked, t.disabled) == (11, 6, 5, 2, 1)
    a, b, none = (summary.departments[k] for k in ("Jabatan A", "Jabatan B", ""))
    assert (a.total, a.active, a.pending, a.locked, a.disabled) == (7, 4, 3, 2, 0)
    assert (b.total, b.active, b.pending, b.locked, b.disabled) == (3, 1, 2, 0, 1)
    assert (none.total, none.active) == (1, 1)
    assert a.percent_active == pytest.approx(57.1)
    assert [u.user_id for u in pending["Jabatan A"]] == [
        "900101060001", "900101060002", "900101060004"]
    assert pending["Jabatan A"][2].account == LOCKED
    assert "Jabatan C" not in summary.departments


def test_activations_are_counted_per_malaysian_day_from_go_live():
    summary, _ = summarise(seeded(), CAMPAIGN, AS_OF)

    assert summary.activations_by_day == {
        date(2026, 11, 2): 1, date(2026, 11, 3): 1, date(2026, 11, 4): 1, date(2026, 11, 5): 0}
    assert summary.activated_before_go_live == 1
    assert summary.activated_undated == 2  # no date recorded (and the recovery-locked one)


def test_summary_survives_json():
    summary, _ = summarise(seeded(), CAMPAIGN, AS_OF, scan_seconds=1.5, generation="g1")
    again = Summary.from_json(summary.to_json())
    assert again == summary


# -- tables and CSV --------------------------------------------------------------------


def test_tables_have_malay_then_english_headers_and_a_total_row():
    summary, pending = summarise(seeded(), CAMPAIGN, AS_OF)
    header, rows = department_rows(summary)
    assert header[0] == "Jabatan / Department"
    assert rows[-1][:4] == ["JUMLAH / TOTAL", 11, 6, 5]
    assert rows[0][0] == "(tiada jabatan)"
    _, days = daily_rows(summary)
    assert days[-1] == ["2026-11-05", 0, 4]  # 3 since go-live + 1 before it
    p_header, p_rows = pending_rows(pending["Jabatan B"], "Jabatan B")
    assert p_header[0] == "ID Pengguna / User ID"
    assert [r[0] for r in p_rows] == ["900101060003", "900101060005"]


def test_csv_reads_back_and_never_starts_a_cell_with_a_formula():
    text = to_csv(("Nama / Name", "n"), [["=HYPERLINK(\"x\")", 1], ["AMINAH, BINTI", 2]])
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows == [["Nama / Name", "n"], ["'=HYPERLINK(\"x\")", "1"], ["AMINAH, BINTI", "2"]]


def test_age_is_said_in_malay_and_english():
    assert format_age(timedelta(seconds=30)) == ("kurang seminit lalu", "less than a minute ago")
    assert format_age(timedelta(minutes=5)) == ("5 minit lalu", "5 minutes ago")
    assert format_age(timedelta(hours=3)) == ("3 jam lalu", "3 hours ago")


# -- chart -----------------------------------------------------------------------------


def test_chart_is_a_scalable_accessible_svg_without_script():
    summary, _ = summarise(seeded(), CAMPAIGN, AS_OF)
    svg = activation_chart(summary)
    root = ET.fromstring(svg)

    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox") == "0 0 400 250" and root.get("width") == "100%"
    assert root.get("height") is None
    assert root.get("role") == "img"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title.text.startswith("Pengaktifan sehari") and "Activations per day" in title.text
    assert desc.text.startswith("3 pengaktifan dari 2 Nov 2026") and "3 activations" in desc.text
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    bars = root.findall(f"{SVG}rect")
    assert [b.find(f"{SVG}title").text for b in bars] == [
        "2026-11-02: 1", "2026-11-03: 1", "2026-11-04: 1"]
    assert "<script" not in svg and "http" not in svg.replace("http://www.w3.org/2000/svg", "")
    assert "Tarikh akhir / Deadline" in svg


def test_chart_of_a_campaign_without_activations_has_no_bars():
    summary, _ = summarise([user(1)], CAMPAIGN, AS_OF)
    root = ET.fromstring(activation_chart(summary))
    assert root.findall(f"{SVG}rect") == []
    assert root.find(f"{SVG}desc").text.startswith("0 pengaktifan")


# -- the cached report -----------------------------------------------------------------


class Realm:
    """A fake realm whose scans are counted."""

    def __init__(self, users: list[DirectoryUser]) -> None:
        self.users = users
        self.scans = 0

    def scan(self, realm: str):
        self.scans += 1
        return iter(list(self.users))


def service(realm: Realm, clock: ManualClock, **kw) -> ActivationReport:
    return ActivationReport(scan=realm.scan, campaign=lambda r: CAMPAIGN,
                            store=kw.pop("store", MemoryReportStore(clock.monotonic)),
                            claims=kw.pop("claims", MemoryClaims(clock.monotonic)),
                            clock=clock, max_age=timedelta(minutes=10), **kw)


def test_report_is_served_from_the_summary_until_it_is_too_old():
    clock = ManualClock(AS_OF)
    realm = Realm(seeded())
    report = service(realm, clock)

    first = report.report("pahang")
    assert realm.scans == 1 and first.as_of == AS_OF and not first.stale
    realm.users.append(user(20))
    clock.advance(minutes=9)
    again = report.report("pahang")
    assert realm.scans == 1, "a fresh summary is served without reading Keycloak"
    assert again.summary.totals.total == 11 and again.age == timedelta(minutes=9)

    clock.advance(minutes=2)
    newer = report.report("pahang")
    assert realm.scans == 2
    assert newer.summary.totals.total == 12 and newer.age == timedelta(0)


def test_another_workers_store_serves_without_a_scan():
    clock = ManualClock(AS_OF)
    store = MemoryReportStore(clock.monotonic)
    realm = Realm(seeded())
    service(realm, clock, store=store).report("pahang")
    other = Realm([])
    view = service(other, clock, store=store).report("pahang")
    assert other.scans == 0 and view.summary.totals.total == 11


def test_pending_users_of_a_department_come_from_the_same_summary():
    clock = ManualClock(AS_OF)
    report = service(Realm(seeded()), clock)
    assert [u.user_id for u in report.pending_users("pahang", "Jabatan B")] == [
        "900101060003", "900101060005"]
    assert report.pending_users("pahang", "Jabatan Tiada") == []


class LaterWork:
    """Background work that runs only when told (what ThreadedWork does, later)."""

    def __init__(self) -> None:
        self.tasks = []

    def run(self, task, within: float) -> None:
        self.tasks.append(task)


def test_a_stale_summary_is_served_while_one_refresh_runs_in_the_background():
    clock = ManualClock(AS_OF)
    realm = Realm(seeded())
    work = LaterWork()
    report = service(realm, clock, work=work)
    report.report("pahang")
    clock.advance(minutes=11)

    first, second = report.report("pahang"), report.report("pahang")
    assert first.stale and first.refreshing and second.refreshing
    assert len(work.tasks) == 1, "one refresh at a time"
    assert realm.scans == 1
    work.tasks[0]()
    assert realm.scans == 2
    assert not report.report("pahang").stale


def test_without_a_summary_a_second_worker_waits_for_the_first_ones_scan():
    clock = ManualClock(AS_OF)
    claims = MemoryClaims(clock.monotonic)
    claims.claim("report-refresh:pahang", 600)  # another worker is scanning
    report = service(Realm(seeded()), clock, claims=claims)
    report.wait_for_other_seconds = 5
    with pytest.raises(ReportNotReady):
        report.report("pahang")
    assert sum(clock.slept) >= 5


def test_the_summarys_maximum_age_is_a_setting():
    from idp_extension.reporting.wiring import activation_report

    settings = load_settings({"ISPEKS_REPORT_MAX_AGE_SECONDS": "120"})
    assert settings.report_max_age_seconds == 120
    report = activation_report(settings, lambda realm: None)
    assert report.max_age == timedelta(minutes=2)
    assert load_settings({}).report_max_age_seconds == 600


def test_a_page_need_not_wait_for_the_first_scan():
    clock = ManualClock(AS_OF)
    realm = Realm(seeded())
    work = LaterWork()
    report = service(realm, clock, work=work)
    with pytest.raises(ReportNotReady):
        report.report("pahang", wait_if_missing=False)
    assert realm.scans == 0 and len(work.tasks) == 1
    work.tasks[0]()
    assert report.report("pahang", wait_if_missing=False).summary.totals.total == 11
    assert realm.scans == 1
