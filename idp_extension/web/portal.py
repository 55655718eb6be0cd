"""A demo Portal iSPEKS under ``/<realm>/portal/``: what a downstream portal does.

::

    /portal/ ──(not signed in)──► Keycloak login ──► /portal/callback ──► /portal/dashboard
        ▲                                                                     │ Log Keluar
        └─── Keycloak logout (client_id; it asks to confirm) ◄── POST /portal/logout ◄┘

Served only when ``settings.demo_portal`` is on (dev stack and tests). It signs in with
the realm's public client ``portal-ispeks`` (PKCE) through ``gateway.oidc``. The Flask
session (a signed cookie) keeps the pending login until the callback, then one realm's
sign-in (``web.sessions``: a new session at login, revoked server-side at logout): a few
claims, never a token. Logout names the client instead of passing an ID token, so
Keycloak shows its own "Log keluar?" confirmation.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, redirect, render_template, url_for
from werkzeug.wrappers import Response

from idp_extension import errors
from idp_extension.gateway.oidc import OidcClient
from idp_extension.tenants import PORTAL_CLIENT_ID
from idp_extension.tasks import catalogue_for, dashboard as dashboard_for
from idp_extension.web import sessions
from idp_extension.web.ratelimit import rate_limit
from idp_extension.web.services import current_settings
from idp_extension.web.signin import OidcSignIn
from idp_extension.web.tenant import current_context

# The portal's own session; Keycloak's SSO session may outlive it.
SIGNED_IN_SECONDS = 30 * 60
PENDING_KEY = "portal.login"
SIGNED_IN_KEY = "portal.user"

bp = Blueprint("portal", __name__, url_prefix="/portal")


class PortalLoginFailed(errors.BadRequest, code="portal.login_failed"):
    """The callback could not be turned into a sign-in (stale, forged or refused)."""


@bp.before_request
def only_when_enabled() -> None:
    """Hide the portal unless the settings turn it on."""
    if not current_settings().demo_portal:
        raise errors.NotFound("the demo portal is off")


def oidc_client() -> OidcClient:
    """The portal client of the current realm (JWKS and discovery cached process-wide)."""
    here = current_context()
    return here.services.oidc.public(here.realm, PORTAL_CLIENT_ID, here.url(".callback"))


def _sign_in() -> OidcSignIn:
    return OidcSignIn(PENDING_KEY, oidc_client(), PortalLoginFailed)


def signed_in_user() -> dict[str, Any] | None:
    """The current realm's signed-in user, or None (another realm's sign-in never counts)."""
    user = sessions.current(SIGNED_IN_KEY)
    if user is None:
        return None
    if user.get("iss") != oidc_client().issuer:
        return None
    return user if time.time() - user.get("at", 0) <= SIGNED_IN_SECONDS else None


@bp.get("/")
def start() -> Response:
    """Go to the dashboard if signed in, else send the browser to Keycloak's login."""
    if signed_in_user():
        return redirect(url_for(".dashboard"))
    return _sign_in().begin()


@bp.get("/callback")
@rate_limit("60 per minute", methods=("GET",))
def callback() -> Response:
    """Finish the login Keycloak sends back; keep who signed in; go to the dashboard."""
    tokens = _sign_in().finish().tokens
    claims = tokens.id_claims
    sessions.start(SIGNED_IN_KEY, {
        "iss": claims["iss"],
        "sub": claims["sub"],
        "name": claims.get("name") or claims.get("preferred_username"),
        "username": claims.get("preferred_username"),
        "department": claims.get("department") or tokens.access_claims.get("department"),
        # The tugas claim (README "Tasks"): what the dashboard may show.
        "tasks": list(tokens.tasks),
        "at": int(time.time()),
    }, SIGNED_IN_SECONDS)
    return redirect(url_for(".dashboard"))


@bp.get("/dashboard")
def dashboard() -> Response | str:
    """Show the signed-in user's Dashboard, as Portal iSPEKS does."""
    user = signed_in_user()
    if user is None:
        return redirect(url_for(".start"))
    board = dashboard_for(catalogue_for(str(current_settings().realm_templates_dir),
                                        current_context().realm), user.get("tasks") or [])
    return render_template("portal/dashboard.html", user=user, board=board)


@bp.post("/logout")
def logout() -> Response:
    """End the portal's session, then Keycloak's (it returns the browser to /portal/)."""
    user = signed_in_user()
    sessions.end(SIGNED_IN_KEY)
    if user is None:
        return redirect(url_for(".start"))
    return redirect(oidc_client().logout_url(current_context().url(".start")))
