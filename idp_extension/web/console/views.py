"""The helpdesk console ("Pentadbiran Pengguna") under ``/<realm>/pentadbiran/``.

::

    GET  /pentadbiran/login?next=     Keycloak (code + PKCE, the sidecar's client) → /callback
    GET  /pentadbiran/reauth?next=    Keycloak again: prompt=login, max_age=300 (password and
                                      TOTP asked again) → /callback → next
    GET  /pentadbiran/callback        the ID token checked (guard.officer_from_claims): a console
                                      task in ``tugas``, ``otp`` in ``amr``; the sign-in kept
    POST /pentadbiran/logout          the console's session, then Keycloak's (back channel)
    GET  /pentadbiran/signed-out

The pages (search, user card, actions) are in ``pages.py``; who may see them is
``guard.officer_required``.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from idp_extension.audit import AuditEvent, Outcome
from idp_extension.gateway.errors import GatewayError
from idp_extension.gateway.oidc import OidcClient, OidcError
from idp_extension.web import sessions
from idp_extension.web.console.guard import (  # noqa: F401 (oidc_client: the pages' door)
    _now, oidc_client,
    FRESH_LOGIN_SECONDS, OFFICER_KEY, PENDING_KEY, SIGNED_IN_SECONDS, ConsoleLoginFailed,
    NotAnOfficer, TotpNotPassed, officer_from_claims, safe_next, signed_in_officer,
)
from idp_extension.web.error_pages import render_error
from idp_extension.web.language import add_messages
from idp_extension.web.page_messages import load_page_messages
from idp_extension.web.ratelimit import rate_limit
from idp_extension.web.signin import OidcSignIn
from idp_extension.web.tenant import current_context

log = logging.getLogger(__name__)

bp = Blueprint("console", __name__, url_prefix="/pentadbiran")

LOGINS_PER_ADDRESS = "30 per minute"
# auth_time may trail the start of the re-authentication by clock skew.
AUTH_TIME_LEEWAY_SECONDS = 30


@bp.record_once
def _add_messages(state: Any) -> None:
    add_messages(state.app, load_page_messages("console"))




def _door(client: OidcClient | None = None) -> OidcSignIn:
    return OidcSignIn(PENDING_KEY, client or oidc_client(), ConsoleLoginFailed, now=_now)


@bp.get("/login")
@rate_limit(LOGINS_PER_ADDRESS, methods=("GET",))
def login() -> Response:
    """Sign in through Keycloak (an SSO session there answers at once)."""
    return _door().begin(next=safe_next(request.args.get("next")), reauth=False)


@bp.get("/reauth")
@rate_limit(LOGINS_PER_ADDRESS, methods=("GET",))
def reauth() -> Response:
    """Log in again at Keycloak (password and code asked), then back to ``next``."""
    return _door().begin(prompt="login", max_age=FRESH_LOGIN_SECONDS,
                         next=safe_next(request.args.get("next")), reauth=True)


@bp.get("/callback")
@rate_limit(LOGINS_PER_ADDRESS, methods=("GET",))
def callback() -> Response | tuple[str, int]:
    """Finish the login; only officers with TOTP passed are kept signed in."""
    client = oidc_client()
    finished = _door(client).finish()
    claims, pending = finished.claims, finished.pending
    audit = current_context().audit
    try:
        officer = officer_from_claims(claims)
    except (NotAnOfficer, TotpNotPassed) as refused:
        audit.record(AuditEvent.CONSOLE_SIGN_IN_REFUSED, subject=claims.get("preferred_username"),
                     outcome=Outcome.DENIED, reason=refused.code)
        sessions.end(OFFICER_KEY)
        if isinstance(refused, TotpNotPassed) and not pending.get("reauth"):
            # An SSO session (or the login that enrolled the app) without the OTP form:
            # once, log in again with prompt=login, where Keycloak asks for the code.
            return redirect(url_for(".reauth", next=safe_next(pending.get("next"))), 303)
        # No Keycloak session of a refused sign-in is left to the sidecar's client.
        _end_keycloak_session(client, finished.tokens.refresh_token)
        return render_error(refused)
    if pending.get("reauth") and officer.auth_time + AUTH_TIME_LEEWAY_SECONDS < pending["at"]:
        raise ConsoleLoginFailed("not a fresh sign-in (prompt=login ignored?)")
    keycloak_session = claims.get("sid")
    sessions.start(OFFICER_KEY, {
        **officer.record(), "at": int(_now()),
        "kc_sid": keycloak_session if isinstance(keycloak_session, str) else None,
    }, SIGNED_IN_SECONDS)
    audit.record(AuditEvent.CONSOLE_SIGNED_IN, subject=officer.user_id,
                 officer=officer.user_id, tasks=list(officer.tasks),
                 reauth=bool(pending.get("reauth")))
    return redirect(safe_next(pending.get("next")) or url_for(".index"), 303)


def _end_keycloak_session(client: OidcClient, refresh_token: str | None) -> None:
    if not refresh_token:
        return
    try:
        client.end_session(refresh_token)
    except (OidcError, GatewayError) as exc:
        log.warning("could not end a refused console sign-in's session: %s", exc)


@bp.post("/logout")
def logout() -> Response:
    """End the console's sign-in, then its Keycloak session."""
    officer = signed_in_officer(oidc_client().issuer)
    record = sessions.end(OFFICER_KEY) or {}
    if officer is None:
        return redirect(url_for(".signed_out"), 303)
    current_context().audit.record(AuditEvent.CONSOLE_SIGNED_OUT, subject=officer.user_id,
                                   officer=officer.user_id)
    keycloak_session = record.get("kc_sid")
    if isinstance(keycloak_session, str) and keycloak_session:
        try:
            current_context().directory.end_session(officer.sub, keycloak_session)
            return redirect(url_for(".signed_out"), 303)
        except GatewayError as exc:
            log.warning("could not end the console sign-in's Keycloak session: %s", exc)
    return redirect(oidc_client().logout_url(current_context().url(".signed_out")), 303)


@bp.get("/signed-out")
def signed_out() -> str:
    return render_template("console/signed_out.html")
