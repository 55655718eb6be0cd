"""The activation report's pages through the sidecar's HTTP interface, real Keycloak and SMTP.

An officer of the state (Meja Bantuan, TOTP enrolled, real codes) signs in through the
sidecar's client; the numbers are checked against users seeded in departments named
for the test (other tests' users in the same realm never change them).
"""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import timedelta

import pytest

from tests.integration.test_totp import PASSWORD, person
from tests.support.officer import Officer
from tests.support.inprocess import Stack
from tests.support.reporting import department, seed_departments


@pytest.fixture
def stack(provisioned_realms, mail_inbox, tmp_path) -> Stack:
    return Stack(provisioned_realms, mail_inbox, tmp_path / "audit.jsonl")


def officer(stack: Stack, realm: str, seed: str, task: str = "meja-bantuan") -> Officer:
    """A console officer: task, TOTP enrolled, signed in to the report."""
    who = Officer(stack, realm, f"report-{seed}", task)
    back = who.sign_in(f"/{realm}/pentadbiran/laporan/")
    assert back.status == 303 and back.location == f"/{realm}/pentadbiran/laporan/", (
        back.status, back.location)
    return who


def _rows(page) -> list[list[str]]:
    return list(csv.reader(io.StringIO(page.body.lstrip("\ufeff"))))


def test_report_numbers_csv_and_pending_list_of_a_seeded_realm(stack):
    settings = stack.settings
    a, b = department("Konsol A"), department("Konsol =B")
    directory, campaign, users = seed_departments(settings, "pahang", "report-pages", [
        (a, "pending", ""), (a, "pending", ""), (a, "locked", ""),
        (a, "active", "1"), (a, "active", "1"), (a, "disabled", "3"), (b, "pending", ""),
    ])
    browser = officer(stack, "pahang", "numbers").browser

    page = browser.get("/pahang/pentadbiran/laporan/")
    assert page.status == 200, page.text[:300]
    text = re.sub(r"\s+", " ", page.text)
    for words in ("Laporan Kempen Pengaktifan", campaign.go_live.strftime("%d/%m/%Y"),
                  campaign.deadline.strftime("%d/%m/%Y"), "Angka setakat", "<svg",
                  "kurang seminit lalu"):
        assert words in text, words
    row = re.search(rf'data-department="{re.escape(html.escape(a))}">(.*?)</tr>', page.body, re.S)
    cells = re.findall(r'<td class="num">([^<]*)</td>', row.group(1))
    assert cells == ["6", "3", "3", "50.0", "1", "1"]

    departments = browser.get("/pahang/pentadbiran/laporan/csv/jabatan.csv")
    assert departments.status == 200
    assert departments.headers["Content-Disposition"].startswith('attachment; filename="pahang-')
    rows = _rows(departments)
    assert [a, "6", "3", "3", "50.0", "1", "1"] in rows
    assert ["'" + b if b.startswith("=") else b, "1", "0", "1", "0.0", "0", "0"] in rows
    daily = _rows(browser.get("/pahang/pentadbiran/laporan/csv/harian.csv"))
    day = (campaign.go_live + timedelta(days=1)).isoformat()
    assert any(r[0] == day and int(r[1]) >= 2 for r in daily[1:])

    pending = browser.get(f"/pahang/pentadbiran/laporan/jabatan?d={a}")
    assert pending.status == 200
    for user in users[:3]:
        assert user.user_id in pending.text
    assert users[3].user_id not in pending.text
    listed = _rows(browser.get(f"/pahang/pentadbiran/laporan/csv/belum-aktif.csv?d={a}"))
    assert sorted(r[0] for r in listed[1:]) == sorted(u.user_id for u in users[:3])


def test_reminder_dry_run_then_send_once_a_day_audited(stack):
    settings = stack.settings
    dept = department("Konsol Peringatan")
    _, _, users = seed_departments(settings, "selangor", "report-remind", [
        (dept, "pending", ""), (dept, "pending", ""), (dept, "active", "1")])
    browser = officer(stack, "selangor", "remind", "pentadbir-sistem").browser
    base = "/selangor/pentadbiran/laporan"
    form = browser.get(f"{base}/peringatan?d={dept}")
    assert form.status == 200 and "Semak dahulu" in form.text
    mark = stack.inbox.last_id
    dry = browser.post(f"{base}/peringatan/semak", {
        "scope": "jabatan", "d": dept, "csrf_token": browser.csrf(f"{base}/peringatan")})
    assert dry.status == 200, dry.text[:300]
    assert f"Semakan: 2 peringatan akan dihantar ({dept})" in dry.text
    assert stack.nothing_sent_since(mark)

    sent = browser.post(f"{base}/peringatan/hantar", {
        "scope": "jabatan", "d": dept, "expected": "2",
        "csrf_token": browser.csrf(f"{base}/peringatan")})
    assert sent.status == 200 and "Penghantaran 2 peringatan telah dimulakan" in sent.text
    messages = stack.messages_since(mark)
    assert sorted(a.lower() for m in messages for a in m.to) == sorted(
        u.email.lower() for u in users[:2])
    events = [e for e in stack.events("report:reminder:sent")
              if e["subject"] in {u.user_id for u in users}]
    assert len(events) == 2 and {e["details"]["client"] for e in events} == {"console"}

    again = browser.post(f"{base}/peringatan/semak", {
        "scope": "jabatan", "d": dept, "csrf_token": browser.csrf(f"{base}/peringatan")})
    assert "Semakan: 0 peringatan akan dihantar" in again.text
    assert "2 daripada 2 pengguna belum aktif sudah diingatkan hari ini" in again.text
    # Without the CSRF token nothing is even counted.
    assert browser.post(f"{base}/peringatan/hantar", {
        "scope": "jabatan", "d": dept, "expected": "2"}).status == 400


def test_refused_without_the_task_and_for_another_state(stack):
    record, _ = person(stack, "melaka", "report-no-task")
    browser = stack.browser()
    first = browser.get("/melaka/pentadbiran/laporan/")
    assert first.status == 303 and first.location.startswith("/melaka/pentadbiran/login")
    to_keycloak = browser.get(first.location)
    answer = browser.login_form(browser.get(to_keycloak.location), record.user_id, PASSWORD)
    assert answer.status == 302 and "/melaka/pentadbiran/callback" in answer.location
    refused = browser.get(answer.location)
    assert refused.status == 403 and "Akses Ditolak" in refused.text
    assert browser.get("/melaka/pentadbiran/laporan/").status == 303
    assert browser.get("/melaka/pentadbiran/laporan/csv/jabatan.csv").status == 303

    pahang = officer(stack, "pahang", "cross").browser
    assert pahang.get("/pahang/pentadbiran/laporan/").status == 200
    for path in ("/", "/csv/jabatan.csv", "/jabatan?d=x", "/peringatan"):
        answer = pahang.get(f"/selangor/pentadbiran/laporan{path}")
        assert answer.status == 303, path
        assert answer.location.startswith("/selangor/pentadbiran/login"), answer.location
