"""The activation campaign report in the helpdesk console (issue 13, section 2).

::

    GET  /<realm>/pentadbiran/laporan/                 the report: go-live, deadline, "as of",
                                                        totals, departments, chart, days
    GET  /<realm>/pentadbiran/laporan/jabatan?d=NAME    a department's pending users
    GET  /<realm>/pentadbiran/laporan/csv/<table>.csv   jabatan | harian | belum-aktif (?d=)
    GET  /<realm>/pentadbiran/laporan/peringatan        (fresh login) choose department/state
    POST /<realm>/pentadbiran/laporan/peringatan/semak  (fresh) dry run: how many would go
    POST /<realm>/pentadbiran/laporan/peringatan/hantar (fresh) confirmed: sent in the
                                                        background, paced, audited

Numbers come from the engine (``reporting/``): a summary kept in the shared state with
its age, never a realm listed per request (a stale one is served while a refresh runs
in the services' background work). Reminders run in that background work too (the
engine paces them at the state's ``reminders_per_minute`` and skips users reminded
today); one run per realm and department at a time. Every page is guarded by the
console's guard (``web/console/guard.py``: signed in to THIS realm's console with Meja
Bantuan or Pentadbir Sistem, ``otp`` in the token's ``amr``; reminders need a fresh login).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from flask import Blueprint, Flask, current_app, g, render_template, request
from werkzeug.wrappers import Response

from idp_extension import errors
from idp_extension.audit import AuditEvent, Outcome
from idp_extension.flows.ports import BackgroundWork, OneTimeClaims
from idp_extension.reporting.campaign import MALAYSIA, load_campaign
from idp_extension.reporting.chart import activation_chart
from idp_extension.reporting.remind import ReminderContext, ReminderResult, remind
from idp_extension.reporting.service import ActivationReport
from idp_extension.reporting.summary import department_label
from idp_extension.reporting.tables import (
    daily_rows, department_rows, format_age, pending_rows, to_csv,
)
from idp_extension.web.language import add_messages, current_locale
from idp_extension.web.page_messages import load_page_messages
from idp_extension.web.console.guard import Officer, is_fresh, officer_required
from idp_extension.web.services import current_services, current_settings
from idp_extension.web.tenant import current_context

EXTENSION_KEY = "ispeks.report"
CONSOLE_CLIENT = "console"
# A reminder run holds its (realm, department) this long at least (then its own length).
RUN_CLAIM_MIN_SECONDS = 120

bp = Blueprint("report", __name__, url_prefix="/pentadbiran/laporan")


class DepartmentUnknown(errors.NotFound, code="report.department_unknown"):
    """The report has no department of that name."""


class ReminderRunning(errors.IspeksError, code="report.reminders_running", status=409):
    """A reminder run of the same department (or state) is still under way."""


@dataclass
class ReportWiring:
    """What the pages use; built from the settings on first use, or given by tests."""

    report: ActivationReport
    # (realm, who, locale) -> that realm's reminder context
    reminders: Callable[[str, Mapping[str, str], str], ReminderContext]
    work: BackgroundWork
    claims: OneTimeClaims
    extras: dict[str, Any] = field(default_factory=dict)


def _default_wiring(app: Flask) -> ReportWiring:
    from idp_extension.gateway.connection import sidecar_admin
    from idp_extension.reporting.wiring import activation_report, reminder_context

    ctx = app.extensions["ispeks"]
    settings, services = ctx.settings, ctx.services
    admins: dict[str, Any] = {}

    def admin_for(realm: str) -> Any:
        # The realm's sidecar service account (one client per realm, like the directories).
        if realm not in admins:
            admins[realm] = sidecar_admin(settings, realm)
        return admins[realm]

    def reminders(realm: str, who: Mapping[str, str], locale: str) -> ReminderContext:
        return reminder_context(settings, realm, sidecar_admin(settings, realm),
                                mailer=services.mail, audit=services.audit, who=who,
                                claims=services.claims, clock=services.clock, locale=locale)

    report = activation_report(settings, admin_for, claims=services.claims,
                               clock=services.clock, work=services.work)
    return ReportWiring(report=report, reminders=reminders, work=services.work,
                        claims=services.claims)


def wiring() -> ReportWiring:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get(EXTENSION_KEY)
    if found is None:
        found = app.extensions[EXTENSION_KEY] = _default_wiring(app)
    return found


def set_wiring(app: Flask, value: ReportWiring) -> None:
    """Use ``value`` instead of the settings' wiring (tests)."""
    app.extensions[EXTENSION_KEY] = value


@bp.record_once
def _add_messages(state: Any) -> None:
    add_messages(state.app, load_page_messages("report"))


def _officer() -> Officer | None:
    """The console guard's officer of this request (None outside a guarded view)."""
    return g.get("console_officer")


@bp.context_processor
def _report_context() -> dict[str, Any]:
    officer = _officer()
    fresh_until = None
    if officer is not None:
        fresh_until = datetime.fromtimestamp(officer.fresh_until(), MALAYSIA).strftime("%H:%M")
    return {"myt": MALAYSIA, "officer": officer, "fresh": bool(officer and is_fresh(officer)),
            "fresh_until": fresh_until}


@bp.app_template_filter("thousands")
def _thousands(value: int) -> str:
    return f"{value:,}"


def _realm() -> str:
    return current_context().realm


def _department_arg() -> str:
    """The department named by ``?d=`` ("" is "no department"); must be one of the report's."""
    if "d" not in request.args:
        raise errors.BadRequest("no department")
    return request.args.get("d", "").strip()


def _who(officer: Officer) -> dict[str, str]:
    return {"actor": officer.user_id or officer.sub, "client": CONSOLE_CLIENT}


def _csv(header, rows, name: str) -> Response:
    body = to_csv(header, rows)
    response = current_app.response_class(body, mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _age_words(age: timedelta) -> str:
    ms, en = format_age(age)
    return ms if current_locale() == "ms" else en


# -- pages ------------------------------------------------------------------------------


@bp.get("/")
@officer_required()
def index() -> str:
    view = wiring().report.report(_realm())
    summary = view.summary
    locale = current_locale()
    _, departments = department_rows(summary, locale)
    _, days = daily_rows(summary)
    today = summary.as_of.astimezone(MALAYSIA).date()
    return render_template(
        "report/index.html", view=view, summary=summary,
        departments=list(summary.departments.items()), department_rows=departments,
        days=days, chart=activation_chart(summary),  # drawn by us, its texts escaped: |safe
        age_words=_age_words(view.age), days_left=(summary.deadline - today).days,
        label=lambda name: department_label(name, locale))


@bp.get("/jabatan")
@officer_required()
def department() -> str:
    name = _department_arg()
    report = wiring().report
    view = report.report(_realm())
    if name not in view.summary.departments:
        raise DepartmentUnknown("no such department in the report")
    users = report.pending_users(_realm(), name)
    _, rows = pending_rows(users, name, current_locale())
    return render_template("report/department.html", view=view, summary=view.summary,
                           name=name, label=department_label(name, current_locale()),
                           counts=view.summary.departments[name], rows=rows,
                           age_words=_age_words(view.age))


@bp.get("/csv/<table>.csv")
@officer_required()
def export(table: str) -> Response:
    report, realm, locale = wiring().report, _realm(), current_locale()
    view = report.report(realm)
    stamp = view.summary.as_of.strftime("%Y%m%d-%H%M")
    if table == "jabatan":
        return _csv(*department_rows(view.summary, locale), f"{realm}-jabatan-{stamp}.csv")
    if table == "harian":
        return _csv(*daily_rows(view.summary), f"{realm}-harian-{stamp}.csv")
    if table == "belum-aktif":
        name = _department_arg()
        if name not in view.summary.departments:
            raise DepartmentUnknown("no such department in the report")
        header, rows = pending_rows(report.pending_users(realm, name), name, locale)
        index = list(view.summary.departments).index(name) + 1
        return _csv(header, rows, f"{realm}-belum-aktif-{index}-{stamp}.csv")
    raise errors.NotFound(f"no table {table!r}")


# -- reminders --------------------------------------------------------------------------


def _scope_arg(form: Mapping[str, str], departments: Mapping[str, Any]) -> str | None:
    """The form's scope: None for the whole state, else a department of the report."""
    scope = form.get("scope", "")
    if scope == "negeri":
        return None
    if scope != "jabatan":
        raise errors.BadRequest("no scope")
    name = form.get("d", "").strip()
    if name not in departments:
        raise DepartmentUnknown("no such department in the report")
    return name


def _reminder_page(*, result: ReminderResult | None = None, scope: str | None = None,
                   chosen: bool = False, started: dict[str, Any] | None = None,
                   status: int = 200) -> tuple[str, int]:
    view = wiring().report.report(_realm())
    locale = current_locale()
    campaign_rate = _rate()
    return render_template(
        "report/remind.html", view=view, summary=view.summary, result=result, scope=scope,
        chosen=chosen, started=started, rate=campaign_rate, age_words=_age_words(view.age),
        label=lambda name: department_label(name, locale)), status


def _rate() -> int:
    return load_campaign(current_settings().realm_templates_dir, _realm()).reminders_per_minute


@bp.get("/peringatan")
@officer_required(fresh=True)
def reminder_form() -> tuple[str, int]:
    return _reminder_page()


@bp.post("/peringatan/semak")
@officer_required(fresh=True)
def reminder_dry_run() -> tuple[str, int]:
    view = wiring().report.report(_realm())
    scope = _scope_arg(request.form, view.summary.departments)
    context = wiring().reminders(_realm(), _who(_officer()), current_locale())
    result = remind(context, scope, dry_run=True)
    return _reminder_page(result=result, scope=scope, chosen=True)


def _run_key(realm: str, scope: str | None) -> str:
    tag = "*" if scope is None else hashlib.sha256(scope.encode("utf-8")).hexdigest()[:24]
    return f"report-remind-run:{realm}:{tag}"


@bp.post("/peringatan/hantar")
@officer_required(fresh=True)
def reminder_send() -> tuple[str, int]:
    realm = _realm()
    view = wiring().report.report(realm)
    scope = _scope_arg(request.form, view.summary.departments)
    try:
        expected = max(0, int(request.form.get("expected", "0")))
    except ValueError:
        raise errors.BadRequest("expected is not a number") from None
    who = _who(_officer())
    rate = _rate()
    # Held for as long as the paced run may take, so a second click (or officer) waits.
    minutes = math.ceil(expected / rate) if expected else 0
    hold = RUN_CLAIM_MIN_SECONDS + 60 * minutes
    claims, key = wiring().claims, _run_key(realm, scope)
    if not claims.claim(key, hold):
        raise ReminderRunning("a reminder run of this scope is under way")
    context = wiring().reminders(realm, who, current_locale())
    current_services().audit.record(
        AuditEvent.REMINDERS_RUN, realm=realm, outcome=Outcome.SUCCESS, department=scope,
        started=True, expected=expected, **who)

    def run() -> None:
        try:
            remind(context, scope, dry_run=False)
        finally:
            claims.release(key)

    # Paced sends take minutes: never inside the request (the answer leaves at once).
    wiring().work.run(run, within=0.0)
    return _reminder_page(scope=scope, chosen=True, started={
        "expected": expected, "minutes": minutes, "rate": rate})


@bp.errorhandler(ReminderRunning)
def _running(error: ReminderRunning) -> tuple[str, int]:
    return _reminder_page(started={"running": True}, status=409)
