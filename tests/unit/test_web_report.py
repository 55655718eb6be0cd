"""The activation report's pages over in-memory services and a stand-in for Keycloak's OIDC.

The real sign-in, numbers and reminders against Keycloak are in
tests/integration/test_report_pages.py; here each decision of the pages is checked.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from idp_extension.flows.activation import ActivationContext
from idp_extension.flows.ports import InlineWork, ManualClock
from idp_extension.gateway.oidc import LoginRequest, OidcError, Tokens
from idp_extension.gateway.users import ACTIVATED_AT, ACTIVATION_STATE, ACTIVE, PENDING
from idp_extension.reporting.campaign import load_campaign
from idp_extension.reporting.remind import ReminderContext, activation_link_sender
from idp_extension.reporting.service import ActivationReport
from idp_extension.reporting.store import MemoryReportStore
from idp_extension.web import report_pages
from idp_extension.web.console import guard, views as console_views
from idp_extension.web.report_pages import ReportWiring, set_wiring
from idp_extension.web.tenant import current_tenant
from idp_extension.flows.ports import public_pages
from tests.support import worlds
from tests.support.worlds import text_of

KEYCLOAK = "https://keycloak.test"
SECRET = "k" * 40
# 2026-11-10 10:00 in Malaysia; Pahang's campaign went live on 2026-11-02.
START = datetime(2026, 11, 10, 2, 0, tzinfo=timezone.utc)
BASE = "/pahang/pentadbiran/laporan"


class FakeClient:
    """Answers the guard's OIDC calls; ``site.signs_in`` decides the next callback."""

    def __init__(self, site: "Site") -> None:
        self.site = site
        self.issuer = f"{KEYCLOAK}/realms/{current_tenant().realm}"

    def begin_login(self, locale=None, prompt=None, max_age=None, scope="openid", action=None):
        self.site.started.append({"prompt": prompt, "max_age": max_age})
        state = f"s{len(self.site.started)}"
        return LoginRequest(f"{self.issuer}/protocol/openid-connect/auth?state={state}",
                            state, "n", "v" * 43, max_age)

    def finish_login(self, request: LoginRequest, query) -> Tokens:
        if query.get("state") != request.state:
            raise OidcError("state_mismatch")
        user_id, tasks, offset, amr = self.site.signs_in
        claims = {"iss": self.issuer, "sub": f"sub-{user_id}", "preferred_username": user_id,
                  "name": "Pegawai Ujian", "tugas": list(tasks), "amr": list(amr),
                  "auth_time": int(self.site.clock.now().timestamp()) + offset}
        return Tokens("id", "access", "refresh", claims, claims)

    def end_session(self, refresh_token: str) -> None:
        pass


class Site(worlds.Site):
    realm = "pahang"
    people_count = 7
    seed = "web-report"

    def __init__(self, monkeypatch) -> None:
        super().__init__("pahang", clock=ManualClock(START))
        self.started: list[dict] = []
        self.signs_in = None
        # The console's door: its guard and its views each name the realm's client.
        for module in (guard, console_views):
            monkeypatch.setattr(module, "oidc_client", lambda: FakeClient(self))
        campaign = load_campaign(self.settings.realm_templates_dir, "pahang")
        self.store = MemoryReportStore(self.clock.monotonic)
        self.report = ActivationReport(
            scan=lambda realm: self.everyone(), campaign=lambda realm: campaign,
            store=self.store, claims=self.claims, clock=self.clock)
        self.wiring = ReportWiring(report=self.report, reminders=self.reminders,
                                   work=InlineWork(), claims=self.claims)
        set_wiring(self.app, self.wiring)
        self.campaign = campaign

    def everyone(self):
        return [*self.directory.search(ACTIVATION_STATE, PENDING),
                *self.directory.search(ACTIVATION_STATE, ACTIVE)]

    def reminders(self, realm, who, locale) -> ReminderContext:
        send = activation_link_sender(lambda log: ActivationContext(
            tenant=self.tenant, secret_key=SECRET,
            urls=public_pages("https://idp.example", self.tenant.realm),
            directory=self.directory, mailer=self.mail, audit=log, claims=self.claims,
            clock=self.clock, min_request_seconds=0.0, work=InlineWork()), self.audit, who)
        return ReminderContext(
            campaign=self.campaign,
            pending=lambda: self.directory.search(ACTIVATION_STATE, PENDING), send=send,
            update_attributes=self.directory.update_attributes, audit=self.audit,
            claims=self.claims, clock=self.clock, who=who)

    def seed_people(self, layout):
        """One user per (department, active?) from the synthetic people."""
        users = []
        for person, (department, active) in zip(self.people, layout):
            user, _ = self.directory.register_pending(replace(person, department=department))
            if active:
                self.directory.update_attributes(user.id, {
                    ACTIVATION_STATE: [ACTIVE],
                    ACTIVATED_AT: ["2026-11-03T02:00:00+00:00"]})
            users.append(self.directory.get(user.id))
        return users

    def sign_in(self, tasks=("meja-bantuan", "totp-wajib"), *, auth_offset=0,
                start=f"{BASE}/", realm="pahang", amr=("pwd", "otp")):
        first = self.client.get(start.replace("/pahang/", f"/{realm}/"))
        assert first.status_code == 303, first.status_code
        to_kc = self.client.get(first.headers["Location"])
        assert to_kc.status_code == 302 and to_kc.headers["Location"].startswith(KEYCLOAK)
        return self.callback(tasks, auth_offset, amr, realm)

    def callback(self, tasks=("meja-bantuan", "totp-wajib"), auth_offset=0,
                 amr=("pwd", "otp"), realm="pahang"):
        self.signs_in = ("910101060001", tasks, auth_offset, amr)
        return self.client.get(f"/{realm}/pentadbiran/callback"
                               f"?state=s{len(self.started)}&code=c")


@pytest.fixture
def site(monkeypatch) -> Site:
    return Site(monkeypatch)


LAYOUT = [("Jabatan Pertanian", False), ("Jabatan Pertanian", False),
          ("Jabatan Pertanian", True), ("Jabatan Kewangan", True),
          ("Jabatan Kewangan", False), ("", False)]


def test_without_a_sign_in_every_page_goes_to_keycloak(site):
    for path in ("/", "/jabatan?d=X", "/csv/jabatan.csv", "/peringatan"):
        answer = site.client.get(BASE + path)
        assert answer.status_code == 303, path
        assert answer.headers["Location"].startswith("/pahang/pentadbiran/login")
    answer = site.client.post(BASE + "/peringatan/semak", data={"scope": "negeri"})
    assert answer.status_code == 303


@pytest.mark.parametrize("tasks, amr, refusal", [
    ((), ("pwd", "otp"), "Akses Ditolak"), (("ac:penyedia",), ("pwd",), "Akses Ditolak"),
    (("ac:pelulus", "totp-wajib"), ("pwd", "otp"), "Akses Ditolak"),
    (("meja-bantuan", "totp-wajib"), ("pwd",), "TOTP Diperlukan")])
def test_an_officer_without_the_task_or_totp_is_refused(site, tasks, amr, refusal):
    site.seed_people(LAYOUT)
    back = site.sign_in(tasks, amr=amr)
    if back.status_code == 303:  # no OTP step: the console asks once more (prompt=login)
        assert "/pahang/pentadbiran/reauth" in back.headers["Location"]
        assert site.client.get(back.headers["Location"]).status_code == 302
        back = site.callback(tasks, 0, amr)
    assert back.status_code == 403
    assert refusal in text_of(back)
    assert site.client.get(f"{BASE}/").status_code == 303  # still not signed in


def test_the_report_shows_the_campaign_and_its_numbers(site):
    site.seed_people(LAYOUT)
    back = site.sign_in()
    assert back.status_code == 303 and back.headers["Location"] == f"{BASE}/"
    page = site.client.get(f"{BASE}/")
    assert page.status_code == 200
    body = text_of(page)
    for words in ("Laporan Kempen Pengaktifan", "02/11/2026", "29/01/2027", "80 hari lagi",
                  "Angka setakat 10/11/2026 10:00", "kurang seminit lalu",
                  "Jabatan Pertanian", "Jabatan Kewangan", "(tiada jabatan)", "<svg",
                  "Pengaktifan sehari", "Muat turun CSV"):
        assert words in body, words
    assert 'data-figure="pending">4<' in body and 'data-figure="active">2<' in body
    assert 'data-figure="total">6<' in body and "33.3%" in body
    # Departments with pending users link to their list.
    assert f'{BASE}/jabatan?d=Jabatan+Pertanian' in page.get_data(as_text=True)
    english = text_of(site.client.get(f"{BASE}/?lang=en"))
    assert "Activation Campaign Report" in english and "80 days left" in english


def test_another_states_sign_in_does_not_open_its_report(site):
    site.seed_people(LAYOUT)
    site.sign_in()
    assert site.client.get(f"{BASE}/").status_code == 200
    for path in ("/", "/csv/jabatan.csv", "/jabatan?d=Jabatan+Pertanian"):
        answer = site.client.get(f"/selangor/pentadbiran/laporan{path}")
        assert answer.status_code == 303, path
        assert answer.headers["Location"].startswith("/selangor/pentadbiran/login")


def test_a_departments_pending_users_and_unknown_departments(site):
    users = site.seed_people(LAYOUT)
    site.sign_in()
    body = text_of(site.client.get(f"{BASE}/jabatan?d=Jabatan Pertanian"))
    assert "Pengguna belum aktif: Jabatan Pertanian" in body
    assert users[0].user_id in body and users[1].user_id in body
    assert users[2].user_id not in body and users[4].user_id not in body
    none = text_of(site.client.get(f"{BASE}/jabatan?d="))
    assert users[5].user_id in none
    assert site.client.get(f"{BASE}/jabatan?d=Jabatan Tiada").status_code == 404
    assert site.client.get(f"{BASE}/jabatan").status_code == 400


def _rows(answer):
    return list(csv.reader(io.StringIO(answer.get_data(as_text=True).lstrip("\ufeff"))))


def test_every_table_exports_as_csv_with_formulas_defused(site):
    people = site.people
    site.people = [replace(people[0], name="=HYPERLINK(\"http://x\")"), *people[1:]]
    site.seed_people([("+Jabatan Formula", False), *LAYOUT[1:]])
    site.sign_in()
    departments = site.client.get(f"{BASE}/csv/jabatan.csv")
    assert departments.status_code == 200
    assert departments.headers["Content-Type"].startswith("text/csv")
    assert departments.headers["Content-Disposition"].startswith('attachment; filename="pahang-')
    rows = _rows(departments)
    assert rows[0][0] == "Jabatan / Department"
    assert ["'+Jabatan Formula", "1", "0", "1", "0.0", "0", "0"] in rows
    assert rows[-1][:4] == ["JUMLAH / TOTAL", "6", "2", "4"]
    daily = _rows(site.client.get(f"{BASE}/csv/harian.csv"))
    assert daily[0][0] == "Tarikh / Date" and ["2026-11-03", "2", "2"] in daily
    pending = site.client.get(f"{BASE}/csv/belum-aktif.csv?d=%2BJabatan Formula")
    assert pending.headers["Content-Disposition"].startswith("attachment")
    assert '"' not in pending.headers["Content-Disposition"].split('filename="')[1][:-1]
    assert _rows(pending)[1][1] == "'=HYPERLINK(\"http://x\")"
    assert site.client.get(f"{BASE}/csv/nothing.csv").status_code == 404
    assert site.client.get(f"{BASE}/csv/belum-aktif.csv?d=Tiada").status_code == 404


def test_reminders_need_a_fresh_login(site):
    site.seed_people(LAYOUT)
    site.sign_in(auth_offset=-600)
    assert site.client.get(f"{BASE}/").status_code == 200
    form = site.client.get(f"{BASE}/peringatan")
    assert form.status_code == 303
    assert form.headers["Location"].startswith("/pahang/pentadbiran/reauth")
    dry = site.client.post(f"{BASE}/peringatan/semak",
                           data={"scope": "negeri", "next": f"{BASE}/peringatan"})
    assert dry.status_code == 303 and "/pentadbiran/reauth" in dry.headers["Location"]
    assert site.mail.sent == []
    again = site.client.get(form.headers["Location"])
    assert site.started[-1] == {"prompt": "login", "max_age": guard.FRESH_LOGIN_SECONDS}
    assert again.status_code == 302
    back = site.callback()
    assert back.status_code == 303 and back.headers["Location"] == f"{BASE}/peringatan"
    assert site.client.get(f"{BASE}/peringatan").status_code == 200


def test_dry_run_then_confirm_sends_once_a_day_audited_with_the_officer(site):
    users = site.seed_people(LAYOUT)
    site.sign_in()
    form = text_of(site.client.get(f"{BASE}/peringatan?d=Jabatan Pertanian"))
    assert "Semak dahulu" in form and "Jabatan Pertanian (2)" in form

    dry = text_of(site.client.post(f"{BASE}/peringatan/semak",
                                   data={"scope": "jabatan", "d": "Jabatan Pertanian"}))
    assert "Semakan: 2 peringatan akan dihantar (Jabatan Pertanian)" in dry
    assert "Sahkan: hantar 2 peringatan" in dry
    assert site.mail.sent == []

    sent = site.client.post(f"{BASE}/peringatan/hantar",
                            data={"scope": "jabatan", "d": "Jabatan Pertanian", "expected": "2"})
    assert sent.status_code == 200
    assert "Penghantaran 2 peringatan telah dimulakan" in text_of(sent)
    assert sorted(m.to for m in site.mail.sent) == sorted([users[0].email, users[1].email])
    done = site.events("report:reminder:sent")
    assert len(done) == 2 and {e["details"]["actor"] for e in done} == {"910101060001"}
    assert {e["details"]["client"] for e in done} == {"console"}
    runs = site.events("report:reminders:run")
    assert [(r["details"].get("started"), r["details"].get("dry_run")) for r in runs] == [
        (None, True), (True, None), (None, False)]
    assert runs[2]["details"]["sent"] == 2 and runs[2]["details"]["actor"] == "910101060001"

    again = text_of(site.client.post(f"{BASE}/peringatan/semak",
                                     data={"scope": "jabatan", "d": "Jabatan Pertanian"}))
    assert "Semakan: 0 peringatan akan dihantar" in again
    assert "2 daripada 2 pengguna belum aktif sudah diingatkan hari ini" in again
    state = text_of(site.client.post(f"{BASE}/peringatan/semak", data={"scope": "negeri"}))
    assert "Semakan: 2 peringatan akan dihantar (Semua pengguna belum aktif" in state


def test_a_run_under_way_is_not_started_twice_and_bad_scopes_are_refused(site):
    site.seed_people(LAYOUT)
    site.sign_in()
    assert site.claims.claim(report_pages._run_key("pahang", None), 600)
    busy = site.client.post(f"{BASE}/peringatan/hantar", data={"scope": "negeri", "expected": "4"})
    assert busy.status_code == 409
    assert "sedang dihantar" in text_of(busy)
    assert site.mail.sent == []
    assert site.client.post(f"{BASE}/peringatan/semak", data={"scope": "x"}).status_code == 400
    assert site.client.post(f"{BASE}/peringatan/semak",
                            data={"scope": "jabatan", "d": "Tiada"}).status_code == 404


def test_the_report_comes_from_the_stored_summary_and_says_how_old(site):
    site.seed_people(LAYOUT)
    site.sign_in()
    site.client.get(f"{BASE}/")
    site.directory.register_pending(replace(site.people[6], department="Jabatan Baru"))
    site.clock.advance(seconds=180)
    body = text_of(site.client.get(f"{BASE}/"))
    assert "3 minit lalu" in body and "Jabatan Baru" not in body


def test_every_message_exists_in_both_languages():
    from idp_extension.web.page_messages import MESSAGES_DIR

    ms = json.loads((MESSAGES_DIR / "report" / "ms.json").read_text("utf-8"))
    en = json.loads((MESSAGES_DIR / "report" / "en.json").read_text("utf-8"))
    assert set(ms) == set(en)
    templates = report_pages.bp.root_path + "/templates/report"
    import pathlib
    import re

    used = set()
    for path in pathlib.Path(templates).glob("*.html"):
        used |= set(re.findall(r"t\('(report\.[a-z_.]+)'", path.read_text("utf-8")))
    for error in (report_pages.DepartmentUnknown, report_pages.ReminderRunning):
        used |= {error.code, error.code + ".title"}
    assert used <= set(ms), used - set(ms)
