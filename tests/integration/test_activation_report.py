"""The activation campaign report and reminders against the real Keycloak and SMTP.

Each test seeds its own users in departments named uniquely for the test, so other
tests' users in the same realm never change the numbers asserted here.
"""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import timedelta

from click.testing import CliRunner

from idp_extension.cli import main
from idp_extension.gateway.connection import state_it_admin
from idp_extension.gateway.users import ACTIVATION_STATE, ACTIVE, PENDING, REMINDED_AT
from idp_extension.reporting.wiring import activation_report
from tests.support.reporting import department, seed_departments


def _run(settings, *args):
    return CliRunner().invoke(main, list(args), obj=settings, catch_exceptions=False)


def test_report_numbers_match_a_seeded_realm(provisioned_realms, settings):
    a, b = department("Laporan A"), department("Laporan B")
    directory, campaign, users = seed_departments(settings, "pahang", "report-numbers", [
        (a, "pending", ""), (a, "pending", ""), (a, "locked", ""),
        (a, "active", "1"), (a, "active", "1"), (a, "disabled", "3"),
        (b, "pending", ""),
    ])
    service = activation_report(settings, lambda realm: state_it_admin(settings, realm))

    view = service.report("pahang")

    summary = view.summary
    da, db = summary.departments[a], summary.departments[b]
    assert (da.total, da.active, da.pending, da.locked, da.disabled) == (6, 3, 3, 1, 1)
    assert (db.total, db.active, db.pending, db.locked, db.disabled) == (1, 0, 1, 0, 0)
    assert da.percent_active == 50.0
    # 23:00 in Malaysia is 15:00 UTC the same day: counted on the Malaysian day.
    assert summary.activations_by_day[campaign.go_live + timedelta(days=1)] >= 2
    assert summary.activations_by_day[campaign.go_live + timedelta(days=3)] >= 1
    # The state's totals are every payroll user of the realm, as Keycloak counts them.
    pending = directory.search(ACTIVATION_STATE, PENDING)
    active = directory.search(ACTIVATION_STATE, ACTIVE)
    assert (summary.totals.pending, summary.totals.active) == (len(pending), len(active))
    assert summary.totals.total == sum(c.total for c in summary.departments.values())
    assert not view.stale and view.age < timedelta(minutes=5)
    listed = service.pending_users("pahang", a)
    assert [u.user_id for u in listed] == sorted(u.user_id for u in users[:3])
    assert [u.account for u in listed if u.user_id == users[2].user_id] == ["locked"]


def test_cli_prints_the_report_with_its_freshness_and_csv(provisioned_realms, settings):
    a = department("Laporan CLI")
    _, campaign, users = seed_departments(settings, "kelantan", "report-cli", [
        (a, "pending", ""), (a, "pending", ""), (a, "active", "2")])

    whole = _run(settings, "report", "activation", "--state", "kelantan")
    assert whole.exit_code == 0, whole.output
    assert whole.output.startswith("Angka pada / Numbers as of ")
    assert "Jabatan / Department" in whole.output and "JUMLAH / TOTAL" in whole.output
    line = next(l for l in whole.output.splitlines() if l.startswith(a))
    assert line.split()[-6:] == ["3", "1", "2", "33.3", "0", "0"]
    assert (campaign.go_live + timedelta(days=2)).isoformat() in whole.output

    one = _run(settings, "report", "activation", "--state", "kelantan", "--department", a)
    assert one.exit_code == 0, one.output
    assert "Belum aktif / Pending: 2" in one.output
    assert users[0].user_id in one.output and users[2].user_id not in one.output

    pending_csv = _run(settings, "report", "activation", "--state", "kelantan",
                       "--department", a, "--csv")
    rows = list(csv.reader(io.StringIO(pending_csv.output.lstrip("\ufeff"))))
    assert rows[0][0] == "ID Pengguna / User ID"
    assert sorted(r[0] for r in rows[1:]) == sorted(u.user_id for u in users[:2])
    departments_csv = _run(settings, "report", "activation", "--state", "kelantan", "--csv")
    rows = list(csv.reader(io.StringIO(departments_csv.output.lstrip("\ufeff"))))
    assert [a, "3", "1", "2", "33.3", "0", "0"] in rows
    assert rows[-1][0] == "JUMLAH / TOTAL"
    daily_csv = _run(settings, "report", "activation", "--state", "kelantan", "--csv",
                     "--table", "daily")
    rows = list(csv.reader(io.StringIO(daily_csv.output.lstrip("\ufeff"))))
    assert rows[0] == ["Tarikh / Date", "Pengaktifan / Activations", "Kumulatif / Cumulative"]
    assert rows[1][0] == campaign.go_live.isoformat()

    unknown = _run(settings, "report", "activation", "--state", "kelantan",
                   "--department", "Jabatan Yang Tiada")
    assert unknown.exit_code != 0 and "no department" in unknown.output


def _events(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_remind_sends_temporary_passwords_once_a_day_paced_and_audited(
        provisioned_realms, settings, mail_inbox, tmp_path):
    settings = settings.with_overrides(audit_log_path=tmp_path / "audit.jsonl")
    a = department("Peringatan")
    directory, campaign, users = seed_departments(settings, "selangor", "remind-temp", [
        (a, "pending", ""), (a, "pending", ""), (a, "active", "1")])
    mark = mail_inbox.last_id

    dry = _run(settings, "report", "remind", "--state", "selangor", "--department", a,
               "--dry-run", "--actor", "Pegawai Ujian")
    assert dry.exit_code == 0, dry.output
    assert "Dry run: 2 reminder(s) would be sent" in dry.output
    # Sending is synchronous in the CLI: anything sent would be in the inbox already.
    assert mail_inbox.last_id == mark
    assert all(directory.get(u.id).first(REMINDED_AT) is None for u in users)

    began = time.monotonic()
    sent = _run(settings, "report", "remind", "--state", "selangor", "--department", a,
                "--actor", "Pegawai Ujian")
    elapsed = time.monotonic() - began
    assert sent.exit_code == 0, sent.output
    assert "2 reminder(s) sent" in sent.output
    # Paced at the state's 30 a minute: the second email waited 2 s after the first.
    assert elapsed >= 60 / campaign.reminders_per_minute
    received = [m for m in mail_inbox.messages() if m.id > mark]
    assert sorted(m.to[0] for m in received) == sorted(u.email for u in users[:2])
    assert all("/selangor/first-login/continue" in m.text for m in received)
    assert all(directory.get(u.id).first(REMINDED_AT) for u in users[:2])
    assert directory.get(users[2].id).first(REMINDED_AT) is None

    mark = mail_inbox.last_id
    again = _run(settings, "report", "remind", "--state", "selangor", "--department", a)
    assert "0 reminder(s) sent, 2 already reminded today" in again.output
    assert mail_inbox.last_id == mark

    events = _events(tmp_path / "audit.jsonl")
    reminded = [e for e in events if e["event"] == "report:reminder:sent"]
    assert sorted(e["subject"] for e in reminded) == sorted(u.user_id for u in users[:2])
    assert {e["details"]["actor"] for e in reminded} == {"Pegawai Ujian"}
    assert {e["details"]["client"] for e in reminded} == {"ispeks-state-it"}
    runs = [e for e in events if e["event"] == "report:reminders:run"]
    assert [(e["details"]["dry_run"], e["details"]["sent"]) for e in runs] == [
        (True, 0), (False, 2), (False, 0)]
    flow = [e for e in events if e["event"] == "account:temporary_password:sent"]
    assert {e["details"]["actor"] for e in flow} == {"Pegawai Ujian"}


def test_remind_sends_activation_links_in_activation_link_states(
        provisioned_realms, settings, mail_inbox, tmp_path):
    settings = settings.with_overrides(audit_log_path=tmp_path / "audit.jsonl")
    a = department("Pautan")
    directory, _, users = seed_departments(settings, "pahang", "remind-link", [
        (a, "pending", ""), (a, "disabled", "1")])
    mark = mail_inbox.last_id

    result = _run(settings, "report", "remind", "--state", "pahang", "--department", a)

    assert result.exit_code == 0, result.output
    assert "1 reminder(s) sent" in result.output
    message = mail_inbox.wait_for(to=users[0].email, after=mark, timeout=15)
    assert any("/pahang/activation/link/" in link for link in message.links())
    assert [m.id for m in mail_inbox.messages() if m.id > mark] == [message.id]
    assert directory.get(users[0].id).first(REMINDED_AT)
