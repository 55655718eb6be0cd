"""The report's web pages over a big realm, served from the stored summary (no Keycloak).

``bench/activation_report.py`` times the refresh against a real Keycloak and the
engine's tables; this one times what an officer's browser gets from the sidecar:
the report page (tables, inline SVG chart), the department CSV, and the largest
department's pending list (HTML and CSV), through the Flask app with a signed-in
officer (the guard's OIDC client is stubbed: only its issuer is read). The summary of
N synthetic users (12 departments, 40 % active) is made once, in memory, then
``--requests`` rounds are timed.

Run: ``python -m bench.report_pages [--users 100000] [--requests 20]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

from idp_extension.audit import MemoryAuditLog
from idp_extension.flows.ports import InlineWork, ManualClock, MemoryClaims
from idp_extension.mail.sender import MemoryMailSender
from idp_extension.reporting.campaign import load_campaign
from idp_extension.reporting.service import ActivationReport
from idp_extension.reporting.store import MemoryReportStore
from idp_extension.reporting.summary import OK, UserFacts
from idp_extension.settings import load_settings
from idp_extension.web import report_guard
from idp_extension.web.app import create_app
from idp_extension.web.report_pages import ReportWiring, set_wiring
from idp_extension.web.services import Services

BUDGET_SECONDS = 2.0
DEPARTMENTS = [f"Jabatan Penanda Aras {i:02d}" for i in range(12)]


def people(count: int, go_live: date):
    start = datetime.combine(go_live, datetime.min.time(), timezone.utc)
    for n in range(count):
        active = n % 5 < 2
        yield UserFacts(
            uuid=f"u{n}", user_id=f"{900101060000 + n:012d}", name=f"Pengguna Ujian {n}",
            email=f"pengguna{n}@pahang.gov.my", department=DEPARTMENTS[n % 12], active=active,
            account=OK, enabled=True,
            activated_at=start + timedelta(hours=n % (24 * 28)) if active else None,
            registration_date="2026-10-01", reminded_at=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--state", default="pahang")
    args = parser.parse_args()

    settings = load_settings({}).with_overrides(secret_key="b" * 40,
                                                sidecar_public_url="http://sidecar.bench")
    campaign = load_campaign(settings.realm_templates_dir, args.state)
    clock = ManualClock(datetime.combine(campaign.go_live + timedelta(days=28),
                                         datetime.min.time(), timezone.utc))
    claims = MemoryClaims(clock.monotonic)
    app = create_app(settings, services=Services(
        audit=MemoryAuditLog(), mail=MemoryMailSender(), directories=lambda realm: None,
        claims=claims, clock=clock, work=InlineWork()))
    report = ActivationReport(scan=lambda realm: people(args.users, campaign.go_live),
                              campaign=lambda realm: campaign, store=MemoryReportStore(),
                              claims=claims, clock=clock)
    set_wiring(app, ReportWiring(report=report, reminders=None, work=InlineWork(),
                                 claims=claims))
    issuer = f"{settings.keycloak_url}/realms/{args.state}"
    report_guard._client = lambda: SimpleNamespace(issuer=issuer)  # the bench's stub

    began = time.perf_counter()
    summary = report.refresh(args.state)
    print(f"summary of {summary.totals.total} users made in memory in "
          f"{time.perf_counter() - began:.1f} s (pending {summary.totals.pending})", flush=True)

    client = app.test_client()
    claims.claim("sidecar-session:bench", 3600)
    with client.session_transaction() as session:
        session[report_guard.OFFICER_KEY] = {
            "iss": issuer, "sub": "bench", "user_id": "bench", "name": "Bench", "tasks":
            ["meja-bantuan"], "auth_time": int(time.time()), "at": int(time.time()),
            "sid": "bench"}
    base = f"/{args.state}/pentadbiran/laporan"
    biggest = DEPARTMENTS[0]
    paths = {"report page": f"{base}/", "department CSV": f"{base}/csv/jabatan.csv",
             "pending list (HTML)": f"{base}/jabatan?d={biggest}",
             "pending list (CSV)": f"{base}/csv/belum-aktif.csv?d={biggest}"}
    worst_all = 0.0
    for name, path in paths.items():
        times = []
        for _ in range(args.requests):
            began = time.perf_counter()
            answer = client.get(path)
            times.append(time.perf_counter() - began)
            assert answer.status_code == 200, (path, answer.status_code)
        size = len(answer.get_data())
        worst_all = max(worst_all, max(times))
        print(f"{name}: median {1000 * statistics.median(times):.0f} ms, worst "
              f"{1000 * max(times):.0f} ms, {size // 1024} KiB", flush=True)
    print(f"budget {BUDGET_SECONDS:.0f} s: {'PASS' if worst_all < BUDGET_SECONDS else 'FAIL'}")


if __name__ == "__main__":
    main()
