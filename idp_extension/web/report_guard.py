"""MINIMAL STAND-IN GUARD for the report pages, until the console's guard lands.

INTEGRATOR: the helpdesk console (issue 13, section 1, branch ``console``) owns the
real guard (``idp_extension/web/console/``: OIDC sign-in, Meja Bantuan / Pentadbir
Sistem, TOTP checked from the token). Swap this module for it: ``web/report_pages.py``
uses only ``officer_required(fresh=...)``, ``current_officer()`` and
``OFFICER_TASKS``; delete this file, ``GUARD_CALLBACK_PATH`` in realms/render.py and
the ``report_guard.bp`` line in web/app.py.

What it does meanwhile (deliberately small):

* sign-in through the realm's sidecar client (code + PKCE, ``web.signin.OidcSignIn``);
  the record lives in ``web.sessions`` (revocable, one realm: another state's sign-in
  never counts, the ``iss`` must match);
* admits only holders of ``meja-bantuan`` or ``pentadbir-sistem`` in the verified
  ``tugas`` claim. Both tasks contain ``totp-wajib``, so the realm's browser flow asked
  for the code; this stand-in additionally requires the marker in the token, but it
  does NOT read ``acr``/``amr`` (the console's guard does);
* ``fresh=True``: the sign-in must be younger than ``FRESH_SECONDS`` (``auth_time``),
  else Keycloak is asked again with ``prompt=login`` and ``max_age``.
"""

from __future__ import annotations

import time
from functools import wraps
from typing import Any, Callable, TypeVar

from flask import Blueprint, redirect, request, url_for
from werkzeug.wrappers import Response

from idp_extension import errors
from idp_extension.gateway.oidc import OidcClient
from idp_extension.tasks import HELPDESK, SYSTEM_ADMIN
from idp_extension.web import sessions
from idp_extension.web.ratelimit import rate_limit
from idp_extension.web.signin import OidcSignIn
from idp_extension.web.tenant import current_context

OFFICER_TASKS = (HELPDESK, SYSTEM_ADMIN)
PENDING_KEY = "report.login"
OFFICER_KEY = "report.officer"
SIGNED_IN_SECONDS = 30 * 60
FRESH_SECONDS = 300
AUTH_TIME_LEEWAY_SECONDS = 30
LOGINS_PER_ADDRESS = "30 per minute"

bp = Blueprint("report_guard", __name__, url_prefix="/pentadbiran/laporan/masuk")

View = TypeVar("View", bound=Callable[..., Any])


class ReportLoginFailed(errors.BadRequest):
    """The callback could not be turned into a sign-in (stale, forged, refused)."""

    code = "report.login_failed"


class NotAnOfficer(errors.IspeksError):
    """Signed in, but without the Meja Bantuan or Pentadbir Sistem task (or TOTP)."""

    code = "report.forbidden"
    http_status = 403


def _client() -> OidcClient:
    here = current_context()
    return here.services.oidc.sidecar(here.realm, here.url(".callback"))


def _door(client: OidcClient | None = None) -> OidcSignIn:
    return OidcSignIn(PENDING_KEY, client or _client(), ReportLoginFailed)


def current_officer() -> dict[str, Any] | None:
    """The current realm's signed-in officer, or None."""
    officer = sessions.current(OFFICER_KEY)
    if officer is None or officer.get("iss") != _client().issuer:
        return None
    if time.time() - officer.get("at", 0) > SIGNED_IN_SECONDS:
        return None
    return officer


def is_fresh(officer: dict[str, Any]) -> bool:
    return time.time() - officer.get("auth_time", 0) <= FRESH_SECONDS


def _safe_next(value: str | None) -> str:
    """Only a path of this realm's report pages is a place to come back to."""
    prefix = url_for("tenant.report.index")
    if value and value.startswith(prefix) and "//" not in value and "\\" not in value:
        return value
    return prefix


def officer_required(fresh: bool = False) -> Callable[[View], View]:
    """Admit only a signed-in officer of this realm (recently signed in if ``fresh``)."""
    def decorate(view: View) -> View:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            officer = current_officer()
            if officer is None:
                return redirect(url_for("tenant.report_guard.login", next=request.full_path.rstrip("?")
                                        if request.method == "GET" else request.path), 303)
            if fresh and not is_fresh(officer):
                return redirect(url_for("tenant.report_guard.reauth", next=request.path), 303)
            return view(*args, **kwargs)
        return guarded  # type: ignore[return-value]
    return decorate


@bp.get("/")
@rate_limit(LOGINS_PER_ADDRESS, methods=("GET",))
def login() -> Response:
    return _door().begin(next=_safe_next(request.args.get("next")), reauth=False)


@bp.get("/semula")
@rate_limit(LOGINS_PER_ADDRESS, methods=("GET",))
def reauth() -> Response:
    return _door().begin(prompt="login", max_age=FRESH_SECONDS,
                         next=_safe_next(request.args.get("next")), reauth=True)


@bp.get("/callback")
@rate_limit(LOGINS_PER_ADDRESS, methods=("GET",))
def callback() -> Response:
    finished = _door().finish()
    claims, tokens, pending = finished.claims, finished.tokens, finished.pending
    auth_time = claims.get("auth_time")
    if not isinstance(auth_time, (int, float)) or isinstance(auth_time, bool):
        raise ReportLoginFailed("ID token without auth_time")
    if pending.get("reauth") and auth_time + AUTH_TIME_LEEWAY_SECONDS < pending["at"]:
        raise ReportLoginFailed("not a fresh sign-in")
    tasks = [task for task in tokens.tasks if task in OFFICER_TASKS]
    if not tasks or not tokens.totp_required:
        sessions.end(OFFICER_KEY)
        raise NotAnOfficer("neither Meja Bantuan nor Pentadbir Sistem")
    sessions.start(OFFICER_KEY, {
        "iss": claims["iss"], "sub": claims["sub"],
        "user_id": claims.get("preferred_username") or "",
        "name": claims.get("name") or claims.get("preferred_username") or "",
        "tasks": tasks, "auth_time": int(auth_time), "at": int(time.time()),
    }, SIGNED_IN_SECONDS)
    return redirect(_safe_next(pending.get("next")), 303)


@bp.post("/keluar")
def logout() -> Response:
    sessions.end(OFFICER_KEY)
    return redirect(url_for("tenant.landing"), 303)
