"""The console's pages: find a user, the user card and its actions (each confirmed).

::

    GET  /pentadbiran/?q=                   find by ID (with or without dashes) or name
    GET  /pentadbiran/api/users?q=          the same as JSON (officers only; 401 otherwise)
    GET  /pentadbiran/pengguna/<id>         the user card and its audit trail
    GET  /pentadbiran/daftar                register one new user (fresh login)
    POST /pentadbiran/daftar
    POST /pentadbiran/pengguna/<id>/<action>  (fresh login) betulkan, hantar-semula, buka-kunci,
                                            nyahaktif, aktifkan, tetapkan-semula-totp,
                                            tugas/tambah, tugas/tarik

Every POST carries the CSRF token, ``confirm=yes`` (the "I confirm" box) and a reason.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from flask import jsonify, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from idp_extension.flows import console as flow
from idp_extension.gateway.tasks import TaskRoles
from idp_extension.i18n import format_page_time
from idp_extension.reporting.wiring import reminder_context
from idp_extension.tasks import catalogue_for
from idp_extension.web.console.guard import current_officer, is_fresh, officer_required
from idp_extension.web.console.views import bp
from idp_extension.web.language import current_locale
from idp_extension.web.ratelimit import rate_limit
from idp_extension.web.services import current_services, current_settings
from idp_extension.web.tenant import current_context

NOTICE_KEY = "console.notice"
ACTIONS_PER_ADDRESS = "60 per minute"


def console_context() -> flow.ConsoleContext:
    here = current_context()
    settings, services = current_settings(), current_services()
    officer = current_officer()
    directory = here.directory
    urls = here.urls  # bound now: the links of a mail sent later come from the app's routes

    def send(user):
        who = {"actor": officer.user_id, "client": flow.CLIENT}
        reminder = reminder_context(settings, here.realm, directory.admin, mailer=services.mail,
                                    audit=services.audit, who=who, clock=services.clock,
                                    locale=current_locale(), urls=urls)
        return reminder.send(user)

    return flow.ConsoleContext(
        tenant=here.tenant, directory=directory, audit=here.audit, raw_audit=services.audit,
        actor=flow.Actor(officer.user_id, officer.tasks),
        catalogue=catalogue_for(str(settings.realm_templates_dir), here.realm),
        task_roles=lambda: TaskRoles(directory.admin, here.realm), send_onboarding=send)


def page_context(**values: Any) -> dict[str, Any]:
    officer = current_officer()
    return {"officer": officer, "fresh": is_fresh(officer),
            "fresh_until": format_page_time(datetime.fromtimestamp(officer.fresh_until(),
                                                                   timezone.utc)),
            "notice": session.pop(NOTICE_KEY, None), **values}


@bp.get("/")
@officer_required()
def index() -> str:
    """The console's home: find a user."""
    return search_page()


def search_page() -> str:
    query = request.args.get("q", "")
    results = flow.search(console_context(), query) if query.strip() else None
    return render_template("console/search.html", **page_context(query=query, results=results))


@bp.get("/api/users")
@officer_required(api=True)
def api_users() -> Response:
    found = flow.search(console_context(), request.args.get("q", ""))
    return jsonify({"realm": current_context().realm,
                    "users": [{"user_id": f.user_id, "name": f.name, "department": f.department,
                               "status": f.status} for f in found]})


def _card_page(user_id: str, *, error: flow.ConsoleRefused | None = None,
               status: int = 200) -> tuple[str, int]:
    ctx = console_context()
    card = flow.card(ctx, user_id)
    tasks = [(role, ctx.catalogue.describe(role, current_locale())) for role in card.tasks]
    grantable = [(role, ctx.catalogue.describe(role, current_locale()))
                 for role in ctx.catalogue.role_names()
                 if flow.may_change_task(ctx.actor, role) and role not in card.tasks]
    return render_template(
        "console/card.html", **page_context(
            card=card, tasks=tasks, grantable=grantable, onboarding=ctx.tenant.onboarding.value,
            error_key=error.code if error else None,
            error_details=error.details if error else [])), status


@bp.get("/pengguna/<user_id>")
@officer_required()
def card(user_id: str) -> tuple[str, int]:
    try:
        return _card_page(user_id)
    except flow.UserNotFound as exc:
        return render_template("console/search.html", **page_context(
            query=user_id, results=[], error_key=exc.code)), exc.http_status


ACTIONS: dict[str, tuple[str, Callable[..., Any]]] = {
    "betulkan": ("correct", lambda ctx, uid, form, why, ok: flow.correct(
        ctx, uid, name=form.get("name"), email=form.get("email"),
        department=form.get("department"), reason=why, confirmed=ok)),
    "hantar-semula": ("resend", lambda ctx, uid, form, why, ok: flow.resend(ctx, uid, why, ok)),
    "buka-kunci": ("unlock", lambda ctx, uid, form, why, ok: flow.unlock(ctx, uid, why, ok)),
    "nyahaktif": ("disable", lambda ctx, uid, form, why, ok: flow.disable(ctx, uid, why, ok)),
    "aktifkan": ("enable", lambda ctx, uid, form, why, ok: flow.enable(ctx, uid, why, ok)),
    "tetapkan-semula-totp": ("reset_totp",
                             lambda ctx, uid, form, why, ok: flow.reset_totp(ctx, uid, why, ok)),
    "tugas-tambah": ("assign_task", lambda ctx, uid, form, why, ok: flow.assign_task(
        ctx, uid, form.get("task", ""), why, ok)),
    "tugas-tarik": ("revoke_task", lambda ctx, uid, form, why, ok: flow.revoke_task(
        ctx, uid, form.get("task", ""), why, ok)),
}


@bp.post("/pengguna/<user_id>/<action>")
@rate_limit(ACTIONS_PER_ADDRESS)
@officer_required(fresh=True)
def act(user_id: str, action: str) -> Response | tuple[str, int]:
    if action not in ACTIONS:
        return _card_page(user_id, error=flow.ConsoleRefused("unknown action"), status=404)
    name, verb = ACTIONS[action]
    ctx = console_context()
    form = request.form
    try:
        verb(ctx, user_id, form, form.get("reason", ""), form.get("confirm") == "yes")
    except flow.ConsoleRefused as exc:
        flow.refused(ctx, name, user_id, exc)
        if isinstance(exc, flow.UserNotFound):
            return render_template("console/search.html", **page_context(
                query=user_id, results=[], error_key=exc.code)), exc.http_status
        return _card_page(user_id, error=exc, status=exc.http_status)
    session[NOTICE_KEY] = f"console.done.{name}"
    return redirect(url_for(".card", user_id=flow.normalise_id(user_id) or user_id), 303)


REGISTER_FIELDS = ("id", "name", "email", "department", "registration_date")


@bp.get("/daftar")
@officer_required(fresh=True)
def register_form() -> str:
    return render_template("console/register.html", **page_context(
        values={}, error_key=None, error_details=[]))


@bp.post("/daftar")
@rate_limit(ACTIONS_PER_ADDRESS)
@officer_required(fresh=True)
def register() -> Response | tuple[str, int]:
    ctx = console_context()
    values = {key: request.form.get(key, "")[:200] for key in REGISTER_FIELDS}
    try:
        user = flow.register(ctx, values, request.form.get("reason", ""),
                             request.form.get("confirm") == "yes")
    except flow.ConsoleRefused as exc:
        flow.refused(ctx, "register", flow.normalise_id(values["id"]), exc)
        return render_template("console/register.html", **page_context(
            values=values, error_key=exc.code, error_details=exc.details)), exc.http_status
    session[NOTICE_KEY] = "console.done.register"
    return redirect(url_for(".card", user_id=user.user_id), 303)
