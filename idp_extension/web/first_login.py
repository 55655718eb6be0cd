"""First login pages (manuals 003 and 004) under ``/<realm>/first-login``.

::

    GET  /first-login            "Pengaktifan ID Pengguna": ID + email (Hantar, Isi Semula, Keluar)
    POST /first-login            request_temporary_password → 303 /sent whatever the ID
                                 (sent or not); the form again for malformed input or
                                 an address outside the state's domains
    GET  /first-login/sent       "if ID and email match, a temporary password was sent",
                                 the helpdesk contacts → Log Masuk
    GET  /first-login/continue   code flow + PKCE, the sidecar's confidential client,
                                 prompt=login → Keycloak's themed login page (the
                                 temporary password is typed there, and checked there)
    GET  /first-login/callback   tokens; Keycloak's session ended at once; signed_in
                                 → the sign-in kept in the Flask session → 303 /register
    GET  /first-login/register   "Maklumat Pendaftaran Baru"
    POST /first-login/register   complete ("Aktif") → 303 /done
    GET  /first-login/done       "Pendaftaran telah berjaya" → Log Masuk (the portal)

Only states that onboard with a temporary password have these pages (404 elsewhere).
The views are thin: ``flows.first_login`` decides. Each takes the request's
``TenantContext`` once (the tenant, settings, services and URLs) and hands it on. The Flask session (a signed cookie)
holds the pending login until the callback, then the sign-in: sub, user ID, auth_time,
realm and the request's issue id, never a token or a password. The sign-in starts a new
session and is revoked server-side once used (``web.sessions``). Keycloak's session from
signing in with the temporary password is ended at the callback, so that the portal
really asks for the new password afterwards.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Mapping

from flask import (
    Blueprint, Response, current_app, redirect, render_template, request, session, url_for,
)

from idp_extension import errors
from idp_extension.flows import answers, first_login as flow, password_rules
from idp_extension.flows.first_login import (
    FirstLoginContext, FlowProblem, InvalidEmailError, InvalidLoginIdError,
    RegistrationInvalid, RegistrationRefused, Registration,
)
from idp_extension.flows.common import PasswordRejectedByPolicy
from idp_extension.gallery import GALLERY
from idp_extension.gateway.oidc import OidcClient, OidcError
from idp_extension.i18n import SUPPORTED_LOCALES
from idp_extension.tenants import Onboarding
from idp_extension.web import sessions, site_key
from idp_extension.web.language import add_messages, catalog, current_locale
from idp_extension.web.page_messages import load_page_messages
from idp_extension.web.ratelimit import PerIdLimits, limit_per_id, rate_limit
from idp_extension.web.signin import OidcSignIn
from idp_extension.web.tenant import TenantContext, current_context

log = logging.getLogger(__name__)

bp = Blueprint("first_login", __name__, url_prefix="/first-login")

PENDING_KEY = "first_login.login"
USER_KEY = "first_login.user"
DONE_KEY = "first_login.done"
# Tests may shorten the padding of requests: app.config[MIN_SECONDS_KEY].
MIN_SECONDS_KEY = "ISPEKS_FIRST_LOGIN_MIN_SECONDS"
# The completion page stays open this long after signing in (then sign in again).
SIGNED_IN_SECONDS = 30 * 60
DONE_SECONDS = 10 * 60
# auth_time may trail the start of the login by clock skew between Keycloak and us.
AUTH_TIME_LEEWAY_SECONDS = 30

# Asking for a temporary password: a person needs one or two; a department behind one
# NAT address on launch morning needs more; a script pairing IDs with emails is stopped.
REQUESTS_PER_ADDRESS = "10 per minute; 60 per hour"
# Per ID: a few from one network (a stranger who knows ID and email uses up only that
# network's), a larger ceiling from everywhere that keeps the mailbox from a flood.
REQUESTS_PER_ID = PerIdLimits("first-login", per_network="3 per 15 minutes; 10 per day",
                              overall="20 per hour; 50 per day")
LOGINS_PER_ADDRESS = "30 per minute"
SAVES_PER_ADDRESS = "20 per minute"
QUESTION_SLOTS = 3


class FirstLoginFailed(errors.BadRequest, code="first_login.login_failed"):
    """The callback could not be turned into a sign-in (stale, forged, refused, cancelled)."""


class SessionMissing(FlowProblem, code="first_login.session_missing", status=401,
                     next_action="continue"):
    """The completion page was opened without a current sign-in."""


@bp.record_once
def _register_messages(state) -> None:
    add_messages(state.app, load_page_messages("first_login"))


@bp.before_request
def only_temporary_password_states() -> None:
    """Serve only states whose manual has "Login Kali Pertama" / "Pendaftaran"."""
    if current_context().tenant.onboarding is not Onboarding.TEMPORARY_PASSWORD:
        raise errors.NotFound("this state onboards by activation link")


@bp.errorhandler(FlowProblem)
def flow_problem(error: FlowProblem) -> tuple[str, int]:
    """Say what went wrong and offer the one next step that helps."""
    return render_template("first_login/problem.html", error=error,
                           login_url=portal_url(current_context())), error.http_status


@bp.app_context_processor
def first_login_helpers() -> dict[str, Any]:
    return {"first_login_name": service_name}


# -- helpers -------------------------------------------------------------------------------


def service_name(locale: str | None = None) -> str:
    """What this state calls the service ("Login Kali Pertama", Melaka "Pendaftaran")."""
    locale = locale or current_locale()
    messages = catalog()
    own = f"first_login.name.{current_context().realm}"
    return messages.text(own if messages.has(own, locale) else "first_login.name", locale)


def _context(here: TenantContext) -> FirstLoginContext:
    return FirstLoginContext(
        tenant=here.tenant, claims=here.services.claims, work=here.services.work,
        continue_url=here.url(".continue_login"), **here.flow_services(),
        min_request_seconds=current_app.config.get(
            MIN_SECONDS_KEY, flow.DEFAULT_MIN_REQUEST_SECONDS),
        service_names={locale: service_name(locale) for locale in SUPPORTED_LOCALES},
    )


def _oidc_client(here: TenantContext) -> OidcClient:
    """The sidecar's own confidential client of this realm (bound to the plain login flow)."""
    return here.services.oidc.sidecar(here.realm, here.url(".callback"))


def _sign_in(client: OidcClient) -> OidcSignIn:
    # The wall clock: Keycloak dates the tokens, and the temporary password's expiry
    # (the services' clock, which tests move) is the flow's business, not the sign-in's.
    return OidcSignIn(PENDING_KEY, client, FirstLoginFailed, now=time.time)


def portal_url(here: TenantContext) -> str:
    """Where "Log Masuk" leads once the account is active: Portal iSPEKS of this state."""
    if here.settings.demo_portal:
        return url_for("tenant.portal.start")
    return here.tenant.portal_root or url_for("tenant.landing")


def _id_key() -> str:
    here = current_context()
    return flow.id_rate_limit_key(here.settings.secret_key, here.realm,
                                  request.form.get("user_id", ""))


def _signed_in(here: TenantContext) -> dict[str, Any]:
    """The current realm's sign-in from the callback, or raise SessionMissing."""
    user = sessions.current(USER_KEY)
    if (user is None or user.get("realm") != here.realm
            or time.time() - user.get("at", 0) > SIGNED_IN_SECONDS):
        raise SessionMissing("no current first-login sign-in")
    return user


def _form_values() -> dict[str, str]:
    return {key: request.form.get(key, "") for key in (
        "user_id", "email", "image", "phrase",
        *(f"question_{n}" for n in range(1, QUESTION_SLOTS + 1)),
        *(f"answer_{n}" for n in range(1, QUESTION_SLOTS + 1)))}


# -- ID and email --------------------------------------------------------------------------


def _request_page(here: TenantContext, status: int = 200, *,
                  values: Mapping[str, str] | None = None,
                  field_errors: Mapping[str, str] | None = None,
                  refused: bool = False) -> tuple[str, int]:
    return render_template(
        "first_login/request.html", values=values or {}, field_errors=field_errors or {},
        refused=refused, exit_url=portal_url(here),
        domains=", ".join(f"@{d}" for d in here.tenant.email_domains),
    ), status


@bp.get("")
def form() -> tuple[str, int]:
    """Show the ID and email form."""
    return _request_page(current_context())


@bp.post("")
@rate_limit(REQUESTS_PER_ADDRESS)
@limit_per_id(REQUESTS_PER_ID, _id_key)
def request_password() -> Response | tuple[str, int]:
    """Send a temporary password if ID and email match; the same 303 whatever the ID."""
    here = current_context()
    values = {"user_id": request.form.get("user_id", "")[:64],
              "email": request.form.get("email", "")[:flow.MAX_EMAIL_LENGTH]}
    try:
        flow.request_temporary_password(_context(here), values["user_id"], values["email"],
                                        current_locale())
    except (InvalidLoginIdError, InvalidEmailError) as exc:
        return _request_page(here, 400, values=values, field_errors=exc.field_errors)
    except RegistrationRefused:
        return _request_page(here, 400, values=values, refused=True)
    return redirect(url_for(".sent"), code=303)


@bp.get("/sent")
def sent() -> str:
    """Tell the user to read their email and log in with the temporary password."""
    minutes = current_context().tenant.temporary_password_minutes
    return render_template("first_login/sent.html", hours=flow.lifetime_hours(minutes))


# -- signing in with the temporary password --------------------------------------------------


@bp.get("/continue")
@rate_limit(LOGINS_PER_ADDRESS, methods=("GET",))
def continue_login() -> Response:
    """Send the browser to Keycloak's login page, always asking for a password."""
    sessions.end(USER_KEY)
    # prompt=login: someone else's SSO session on a shared computer must not be reused.
    return _sign_in(_oidc_client(current_context())).begin(prompt="login")


@bp.get("/callback")
@rate_limit(LOGINS_PER_ADDRESS, methods=("GET",))
def callback() -> Response:
    """Finish the login; end Keycloak's session; keep who signed in; go to the form."""
    here = current_context()
    client = _oidc_client(here)
    finished = _sign_in(client).finish()
    tokens, pending, claims = finished.tokens, finished.pending, finished.claims
    auth_time = claims.get("auth_time")
    if not isinstance(auth_time, (int, float)) or (
            auth_time + AUTH_TIME_LEEWAY_SECONDS < pending["at"]):
        raise FirstLoginFailed("not a fresh sign-in (prompt=login ignored?)")
    # The sidecar keeps its own record of the sign-in; Keycloak's session would only let
    # the portal in later without asking for the new password.
    if tokens.refresh_token:
        try:
            client.end_session(tokens.refresh_token)
        except OidcError as exc:
            raise errors.ServiceUnavailable(f"could not end Keycloak's session: {exc.code}") from None
    signed = flow.signed_in(_context(here), str(claims["sub"]),
                            str(claims.get("preferred_username")))
    sessions.start(USER_KEY, {
        "realm": here.realm, "sub": signed.user_uuid, "user_id": signed.user_id,
        "auth_time": int(auth_time), "issue": signed.issue, "at": int(time.time()),
    }, SIGNED_IN_SECONDS)
    return redirect(url_for(".register"), code=303)


# -- "Maklumat Pendaftaran Baru" -------------------------------------------------------------


def _register_page(here: TenantContext, registration_flow: flow.FirstLoginFlow,
                   status: int = 200, *,
                   values: Mapping[str, str] | None = None,
                   field_errors: Mapping[str, str] | None = None,
                   error_keys: list[str] | None = None) -> tuple[str, int]:
    locale = current_locale()
    return render_template(
        "first_login/register.html", flow=registration_flow, values=values or {},
        field_errors=field_errors or {}, error_keys=error_keys or [],
        questions=here.tenant.security_questions, gallery=GALLERY,
        slots=range(1, QUESTION_SLOTS + 1), rules=password_rules.rules_as_data(),
        checklist=[r for r in password_rules.RULES if r.checklist],
        max_password=password_rules.MAX_LENGTH, max_answer=answers.MAX_ANSWER_LENGTH,
        min_phrase=flow.MIN_PHRASE_LENGTH, max_phrase=flow.MAX_PHRASE_LENGTH,
        expires=flow.format_expiry(registration_flow.expires_at, locale),
    ), status


@bp.get("/register")
def register() -> tuple[str, int]:
    """Show the completion form to the user who signed in with the temporary password."""
    here = current_context()
    user = _signed_in(here)
    return _register_page(here, flow.current_flow(_context(here), user["sub"], user["issue"]))


@bp.post("/register")
@rate_limit(SAVES_PER_ADDRESS)
def save() -> Response | tuple[str, int]:
    """"Aktif": save everything in one write, or show the form again with what is wrong."""
    here = current_context()
    user = _signed_in(here)
    ctx = _context(here)
    values = _form_values()
    registration = Registration(
        password=request.form.get("password", ""), confirm=request.form.get("confirm", ""),
        choices=[(values[f"question_{n}"], values[f"answer_{n}"])
                 for n in range(1, QUESTION_SLOTS + 1)],
        image_id=values["image"], phrase=values["phrase"],
    )
    try:
        done = flow.complete(ctx, user["sub"], user["issue"], registration)
    except RegistrationInvalid as exc:
        keys = list(dict.fromkeys(exc.field_errors.values()))
        return _register_page(here, flow.current_flow(ctx, user["sub"], user["issue"]), 400,
                              values=values, field_errors=exc.field_errors, error_keys=keys)
    except PasswordRejectedByPolicy as exc:
        return _register_page(here, flow.current_flow(ctx, user["sub"], user["issue"]), 400,
                              values=values, field_errors={"password": exc.reason_key},
                              error_keys=[exc.reason_key])
    _forget_site_key(here, done.flow.user_id)
    sessions.end(USER_KEY)
    session[DONE_KEY] = {"realm": here.realm, "user_id": done.flow.user_id,
                         "name": done.flow.name, "at": int(time.time())}
    return redirect(url_for(".done_page"), code=303)


def _forget_site_key(here: TenantContext, user_id: str) -> None:
    """Drop the login page's cached answer for this ID: it was a pending account's decoy."""
    cache = current_app.extensions.get(site_key.CACHE_KEY)
    if cache is not None:
        cache.forget(here.realm, user_id)


@bp.get("/done")
def done_page() -> str:
    """"Pendaftaran telah berjaya": log in again, with the new password, at the portal."""
    here = current_context()
    done = session.get(DONE_KEY)
    if (not isinstance(done, dict) or done.get("realm") != here.realm
            or time.time() - done.get("at", 0) > DONE_SECONDS):
        done = None
    return render_template("first_login/done.html", done=done, login_url=portal_url(here))
