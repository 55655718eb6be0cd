"""Security settings pages ("Tetapan Akaun") under ``/<realm>/settings``.

::

    GET  /settings/                not signed in → Keycloak (code flow + PKCE, the sidecar's
                                   confidential client) → /callback; else "Maklumat Pengguna"
    GET  /settings/callback        tokens checked; pending accounts refused; the sign-in kept
    GET  /settings/reauth?next=    Keycloak again with prompt=login and max_age=300 → back
    GET  /settings/password        "Tukar Kata Laluan"         (a login older than 5 minutes:
    POST /settings/password                                     → /reauth first, nothing changed)
    GET  /settings/questions       the three security questions
    POST /settings/questions
    GET  /settings/secret-phrase   "Frasa Rahsia" and "Imej Online" (states that use them)
    POST /settings/secret-phrase
    GET  /settings/totp            "Pengesahan Dua Faktor (TOTP)": on or off, required by a task?
    POST /settings/totp/enable     (fresh login) → Keycloak's CONFIGURE_TOTP action (kc_action)
                                   → /callback → /totp
    POST /settings/totp/disable    (fresh login) the OTP credential deleted, unless a task
                                   requires TOTP (refused, ms/en)
    POST /settings/logout          "Log Keluar": the sidecar's session (revoked server-side),
                                   then Keycloak's (ended from the back channel by its
                                   session id) → /settings/signed-out

The Flask session (a signed cookie) keeps the pending login until the callback, then the
sign-in (``web.sessions``: a new session at login, revoked at logout, so a copied cookie
dies with it): realm issuer, sub, user ID, auth_time and Keycloak's session id (``sid``,
to end that session at logout). Never a token, never a password. If Keycloak's session
cannot be ended from the back channel, the browser goes to Keycloak's logout page (with
``client_id``; Keycloak asks to confirm). The views are thin: ``flows.settings`` decides,
including whether the login is fresh enough.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import wraps
from typing import Any, Callable, Mapping, Sequence

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from idp_extension import errors
from idp_extension.audit import AuditEvent, Outcome
from idp_extension.flows import answers, password_rules, phrases
from idp_extension.flows import settings as flow
from idp_extension.flows.common import (
    PasswordRejectedByPolicy, PasswordRulesFailed, QuestionsInvalid,
)
from idp_extension.i18n import format_page_date, format_page_time
from idp_extension.flows.settings import (
    AccountUnavailable, Change, NotActivated, ReauthenticationRequired, SettingsContext, SignIn,
    SiteKeyInvalid, TotpRequiredByTask,
)
from idp_extension.gallery import GALLERY, image_by_id
from idp_extension.gateway.oidc import OidcClient, OidcError
from idp_extension.gateway.errors import GatewayError
from idp_extension.gateway.users import TOTP_REQUIRED_ROLE
from idp_extension.web import sessions
from idp_extension.web.error_pages import render_error
from idp_extension.web.language import add_messages, current_locale
from idp_extension.web.signin import OidcSignIn
from idp_extension.web.page_messages import load_page_messages
from idp_extension.web.ratelimit import rate_limit
from idp_extension.web.services import current_services
from idp_extension.web.tenant import current_context, current_tenant

log = logging.getLogger(__name__)

bp = Blueprint("settings", __name__, url_prefix="/settings")

PENDING_KEY = "settings.login"
USER_KEY = "settings.user"
NOTICE_KEY = "settings.notice"
# How long the settings stay open after a sign-in (viewing; changes need a fresh login).
SIGNED_IN_SECONDS = 30 * 60
# auth_time may trail the start of the re-authentication by clock skew.
AUTH_TIME_LEEWAY_SECONDS = 30
LOGINS_PER_ADDRESS = "30 per minute"
CHANGES_PER_ADDRESS = "20 per minute"
QUESTION_SLOTS = answers.QUESTIONS_REQUIRED
# Where a sign-in may return to: page name → endpoint (never a URL from the query).
PAGES = {"index": ".index", "password": ".password", "questions": ".questions",
         "site_key": ".site_key", "totp": ".totp"}
# Keycloak's application-initiated action that enrols an authenticator app (issue 12).
CONFIGURE_TOTP = "CONFIGURE_TOTP"


class SettingsLoginFailed(errors.BadRequest, code="settings.login_failed"):
    """The callback could not be turned into a sign-in (stale, forged, refused)."""


@bp.record_once
def _add_messages(state: Any) -> None:
    add_messages(state.app, load_page_messages("settings"), load_page_messages("self_service"))


@bp.errorhandler(NotActivated)
@bp.errorhandler(AccountUnavailable)
def account_refused(error: errors.IspeksError) -> Response:
    """The account may not (or no longer) use the settings: forget the sign-in."""
    sessions.end(USER_KEY)
    return render_error(error)


# -- collaborators ----------------------------------------------------------------------


def _now() -> float:
    return current_services().clock.now().timestamp()


def flow_context() -> SettingsContext:
    """The settings flow's collaborators for the current request's realm."""
    here = current_context()
    return SettingsContext(tenant=here.tenant, recovery_url=here.url("tenant.recovery.request_form"),
                           **here.flow_services())


def oidc_client() -> OidcClient:
    """The realm's sidecar client (confidential, PKCE), on the services' clock."""
    here = current_context()
    return here.services.oidc.sidecar(here.realm, here.url(".callback"), clock=_now)


def _sign_in_door(client: OidcClient | None = None) -> OidcSignIn:
    return OidcSignIn(PENDING_KEY, client or oidc_client(), SettingsLoginFailed, now=_now)


# -- the sign-in ------------------------------------------------------------------------


def _signed_in() -> dict[str, Any] | None:
    """The current realm's sign-in, or None (another realm's never counts)."""
    user = sessions.current(USER_KEY)
    if user is None or user.get("iss") != oidc_client().issuer:
        return None
    if _now() - user.get("at", 0) > SIGNED_IN_SECONDS:
        return None
    return user


def _sign_in(user: Mapping[str, Any]) -> SignIn:
    return SignIn.from_claims(user["sub"], user["user_id"], user["auth_time"],
                              bool(user.get("totp_required")))


def _start_login(page: str, *, reauthenticate: bool, action: str | None = None) -> Response:
    door = _sign_in_door()
    if action:
        # Inside the (fresh) SSO session Keycloak goes straight to the action.
        return door.begin(action=action, next=page, reauth=reauthenticate)
    if reauthenticate:
        # prompt=login: Keycloak asks for the password even inside an SSO session;
        # max_age=300: and the ID token's auth_time is checked against it.
        return door.begin(prompt="login", max_age=flow.FRESH_LOGIN_SECONDS,
                          next=page, reauth=True)
    return door.begin(next=page, reauth=False)


def _reauthenticate(page: str) -> Response:
    return redirect(url_for(".reauth", next=page), 303)


@bp.get("/login")
@rate_limit(LOGINS_PER_ADDRESS, methods=("GET",))
def login() -> Response:
    """Sign in through Keycloak (an SSO session there answers at once)."""
    return _start_login("index", reauthenticate=False)


@bp.get("/reauth")
@rate_limit(LOGINS_PER_ADDRESS, methods=("GET",))
def reauth() -> Response:
    """Log in again at Keycloak (password asked), then back to the page named by ``next``."""
    page = request.args.get("next", "index")
    return _start_login(page if page in PAGES else "index", reauthenticate=True)


@bp.get("/callback")
@rate_limit(LOGINS_PER_ADDRESS, methods=("GET",))
def callback() -> Response:
    """Finish the login; refuse accounts not (or no longer) allowed; keep the sign-in."""
    client = oidc_client()
    finished = _sign_in_door(client).finish()
    tokens, pending, claims = finished.tokens, finished.pending, finished.claims
    auth_time = claims.get("auth_time")
    if not isinstance(auth_time, (int, float)) or isinstance(auth_time, bool):
        raise SettingsLoginFailed("ID token without auth_time")
    if pending.get("reauth") and auth_time + AUTH_TIME_LEEWAY_SECONDS < pending["at"]:
        raise SettingsLoginFailed("not a fresh sign-in (prompt=login ignored?)")
    tasks = claims.get("tugas")
    totp_required = isinstance(tasks, list) and TOTP_REQUIRED_ROLE in tasks
    sign_in = SignIn.from_claims(str(claims["sub"]), str(claims.get("preferred_username", "")),
                                 auth_time, totp_required)
    try:
        flow.signed_in(flow_context(), sign_in)
    except (NotActivated, AccountUnavailable):
        # No Keycloak session may outlive a refusal: a pending account's temporary
        # password must open nothing (the portals refuse it too).
        _end_keycloak_session(client, tokens.refresh_token)
        raise
    enrolled = (pending.get("action") == CONFIGURE_TOTP
                and _after_totp_action(sign_in, request.args.get("kc_action_status")))
    keycloak_session = claims.get("sid")
    sessions.start(USER_KEY, {
        "iss": claims["iss"], "sub": sign_in.sub, "user_id": sign_in.user_id,
        "auth_time": int(auth_time), "at": int(_now()),
        "kc_sid": keycloak_session if isinstance(keycloak_session, str) else None,
        "totp_required": sign_in.totp_required,
    }, SIGNED_IN_SECONDS)
    if enrolled:
        session[NOTICE_KEY] = Change.TOTP_ENABLED.value
    return redirect(url_for(PAGES.get(pending.get("next"), ".index")), 303)


def _end_keycloak_session(client: OidcClient, refresh_token: str | None) -> None:
    if not refresh_token:
        return
    try:
        client.end_session(refresh_token)
    except OidcError as exc:
        log.warning("could not end a refused settings sign-in's session: %s", exc.code)


# -- pages ------------------------------------------------------------------------------


def _page_context(sign_in: SignIn, page: str, **values: Any) -> dict[str, Any]:
    ctx = flow_context()
    fresh = flow.is_fresh(ctx, sign_in)
    return {
        "page": page,
        "fresh": fresh,
        "fresh_until": _clock_time(flow.fresh_until(sign_in)),
        "signed_in_at": _clock_time(sign_in.auth_time),
        **values,
    }


def _clock_time(moment: datetime) -> str:
    return format_page_time(moment)


@bp.get("/")
def index() -> Response | str:
    """"Maklumat Pengguna": ID, name, email, department, registration date (and site key)."""
    sign_in, elsewhere = _signed_in_or_login("index")
    if sign_in is None:
        return elsewhere
    details = flow.account(flow_context(), sign_in)
    image = image_by_id(details.image_id)
    return render_template(
        "settings/index.html", **_page_context(sign_in, "index"), account=details,
        registered=format_page_date(details.registration_date), image=image,
        notice=session.pop(NOTICE_KEY, None),
    )


def _for_change(page: str) -> tuple[SignIn | None, Response | None]:
    """The sign-in for a change page, or where to send the browser first."""
    sign_in, elsewhere = _signed_in_or_login(page)
    if sign_in is not None and not flow.is_fresh(flow_context(), sign_in):
        return None, _reauthenticate(page)
    return sign_in, elsewhere


def _change(page: str, check: Callable[[], None] = lambda: None):
    """A POST that changes the account: after ``check`` (it may refuse the page), the view
    gets the sign-in; without one the browser goes to the login, and a sign-in too old
    for the flow (ReauthenticationRequired) goes to Keycloak again first."""
    def wrap(view: Callable[[SignIn], Any]) -> Callable[[], Any]:
        @wraps(view)
        def changed() -> Any:
            check()
            sign_in, elsewhere = _signed_in_or_login(page)
            if sign_in is None:
                return elsewhere
            try:
                return view(sign_in)
            except ReauthenticationRequired:
                return _reauthenticate(page)
        return changed
    return wrap


def _only_with_site_key() -> None:
    if not current_tenant().uses_secret_phrase:
        raise errors.NotFound(f"{current_tenant().realm} does not use secret phrases")


def _done(change: Change) -> Response:
    session[NOTICE_KEY] = change.value
    return redirect(url_for(".index"), 303)


# "Tukar Kata Laluan"


@bp.get("/password")
def password() -> Response | str:
    sign_in, elsewhere = _for_change("password")
    if elsewhere:
        return elsewhere
    return _password_page(sign_in)


@bp.post("/password")
@rate_limit(CHANGES_PER_ADDRESS)
@_change("password")
def save_password(sign_in: SignIn) -> Response | tuple[str, int]:
    try:
        flow.change_password(flow_context(), sign_in, request.form.get("password", ""),
                             request.form.get("confirm", ""), current_locale())
    except PasswordRulesFailed as exc:
        keys = [failure.message_key for failure in exc.failures]
        return _password_page(sign_in, field_errors=exc.field_errors, error_keys=keys), exc.http_status
    except PasswordRejectedByPolicy as exc:
        return (_password_page(sign_in, field_errors=exc.field_errors, error_keys=[exc.reason_key]),
                exc.http_status)
    return _done(Change.PASSWORD)


def _password_page(sign_in: SignIn, *, field_errors: Mapping[str, str] | None = None,
                   error_keys: Sequence[str] = ()) -> str:
    return render_template(
        "settings/password.html", **_page_context(sign_in, "password"),
        user_id=sign_in.user_id, field_errors=dict(field_errors or {}),
        error_keys=list(dict.fromkeys(error_keys)),
        checklist=[rule for rule in password_rules.RULES if rule.checklist],
        rules=password_rules.rules_as_data(), max_password=password_rules.MAX_LENGTH,
    )


# "Soalan Keselamatan"


@bp.get("/questions")
def questions() -> Response | str:
    sign_in, elsewhere = _for_change("questions")
    if elsewhere:
        return elsewhere
    current = flow.account(flow_context(), sign_in).question_ids
    return _questions_page(sign_in, {f"question_{n}": q for n, q in enumerate(current, start=1)})


@bp.post("/questions")
@rate_limit(CHANGES_PER_ADDRESS)
@_change("questions")
def save_questions(sign_in: SignIn) -> Response | tuple[str, int]:
    choices = [(request.form.get(f"question_{n}", "").strip(), request.form.get(f"answer_{n}", ""))
               for n in range(1, QUESTION_SLOTS + 1)]
    try:
        flow.change_questions(flow_context(), sign_in, choices, current_locale())
    except QuestionsInvalid as exc:
        values = {f"question_{n}": q for n, (q, _) in enumerate(choices, start=1)}
        return _questions_page(sign_in, values, exc.field_errors), exc.http_status
    return _done(Change.QUESTIONS)


def _questions_page(sign_in: SignIn, values: Mapping[str, str],
                    field_errors: Mapping[str, str] | None = None) -> str:
    # Answers are never sent back to the page, not even after an error.
    return render_template(
        "settings/questions.html", **_page_context(sign_in, "questions"),
        questions=current_tenant().security_questions, slots=range(1, QUESTION_SLOTS + 1),
        values=values, field_errors=dict(field_errors or {}),
        max_answer=answers.MAX_ANSWER_LENGTH,
    )


# "Frasa Rahsia" and "Imej Online"


@bp.get("/secret-phrase")
def site_key() -> Response | str:
    _only_with_site_key()
    sign_in, elsewhere = _for_change("site_key")
    if elsewhere:
        return elsewhere
    current = flow.account(flow_context(), sign_in)
    return _site_key_page(sign_in, {"phrase": current.phrase or "", "image": current.image_id or ""})


@bp.post("/secret-phrase")
@rate_limit(CHANGES_PER_ADDRESS)
@_change("site_key", check=_only_with_site_key)
def save_site_key(sign_in: SignIn) -> Response | tuple[str, int]:
    values = {"phrase": request.form.get("phrase", "")[:200], "image": request.form.get("image", "")}
    try:
        changed = flow.change_site_key(flow_context(), sign_in, values["phrase"], values["image"],
                                       current_locale())
    except SiteKeyInvalid as exc:
        return _site_key_page(sign_in, values, exc.field_errors), exc.http_status
    _refresh_login_page_cache(changed)
    return _done(Change.SITE_KEY)


def _site_key_page(sign_in: SignIn, values: Mapping[str, str],
                   field_errors: Mapping[str, str] | None = None) -> str:
    return render_template(
        "settings/site_key.html", **_page_context(sign_in, "site_key"), gallery=GALLERY,
        values=values, field_errors=dict(field_errors or {}),
        min_phrase=phrases.MIN_PHRASE_LENGTH, max_phrase=phrases.MAX_PHRASE_LENGTH,
    )


def _refresh_login_page_cache(changed: flow.Account) -> None:
    """Let this process's login-page answer show the new phrase at once.

    The site-key endpoint keeps answers for a minute per process
    (``flows.site_key.AnswerCache``); other workers catch up when theirs expire.
    """
    from idp_extension.flows.site_key import SiteKey, Source
    from idp_extension.web.site_key import CACHE_KEY

    cache = current_app.extensions.get(CACHE_KEY)
    image = image_by_id(changed.image_id)
    if cache is None or image is None or not changed.phrase:
        return
    cache.put(current_tenant().realm, changed.user_id, SiteKey(changed.phrase, image, Source.REAL))


def _signed_in_or_login(page: str) -> tuple[SignIn | None, Response | None]:
    """The sign-in, or the login that comes back to ``page`` (freshness is checked where a
    change needs it)."""
    user = _signed_in()
    if user is None:
        return None, _start_login(page, reauthenticate=False)
    return _sign_in(user), None


# "Pengesahan Dua Faktor (TOTP)" (issue 12): Keycloak enrols and keeps the credential.


@bp.get("/totp")
def totp() -> Response | str:
    sign_in, elsewhere = _signed_in_or_login("totp")
    return _totp_page(sign_in) if sign_in is not None else elsewhere


def _totp_page(sign_in: SignIn, *, error_key: str | None = None) -> str:
    status = flow.totp_status(flow_context(), sign_in)
    return render_template("settings/totp.html", **_page_context(sign_in, "totp"),
                           status=status, error_key=error_key,
                           notice=session.pop(NOTICE_KEY, None))


@bp.post("/totp/enable")
@rate_limit(CHANGES_PER_ADDRESS)
@_change("totp")
def enable_totp(sign_in: SignIn) -> Response:
    flow.begin_totp_enrolment(flow_context(), sign_in)
    return _start_login("totp", reauthenticate=False, action=CONFIGURE_TOTP)


@bp.post("/totp/disable")
@rate_limit(CHANGES_PER_ADDRESS)
@_change("totp")
def disable_totp(sign_in: SignIn) -> Response | tuple[str, int]:
    try:
        removed = flow.disable_totp(flow_context(), sign_in, current_locale())
    except TotpRequiredByTask as exc:
        return _totp_page(sign_in, error_key=exc.code), exc.http_status
    if removed:
        session[NOTICE_KEY] = Change.TOTP_DISABLED.value
    return redirect(url_for(".totp"), 303)


def _after_totp_action(sign_in: SignIn, status: str | None) -> bool:
    """Keycloak's CONFIGURE_TOTP came back: success is checked against Keycloak itself."""
    return status == "success" and flow.totp_enrolled(flow_context(), sign_in, current_locale())


# "Log Keluar"


@bp.post("/logout")
def logout() -> Response:
    """End the sidecar's sign-in, then Keycloak's session (it returns to /signed-out)."""
    user = _signed_in()
    sessions.end(USER_KEY)
    session.pop(PENDING_KEY, None)
    if user is None:
        return redirect(url_for(".signed_out"), 303)
    current_context().audit.record(AuditEvent.SETTINGS_SIGNED_OUT, subject=user.get("user_id"),
                                   outcome=Outcome.SUCCESS)
    if _end_keycloak_session_by_id(user):
        return redirect(url_for(".signed_out"), 303)
    return redirect(oidc_client().logout_url(current_context().url(".signed_out")), 303)


def _end_keycloak_session_by_id(user: Mapping[str, Any]) -> bool:
    """End the sign-in's Keycloak session from the back channel; False if that failed."""
    keycloak_session = user.get("kc_sid")
    if not isinstance(keycloak_session, str) or not keycloak_session:
        return False
    try:
        flow_context().directory.end_session(user["sub"], keycloak_session)
    except GatewayError as exc:  # KeycloakUnavailable too: Keycloak's page may still work
        log.warning("could not end the settings sign-in's Keycloak session: %s", exc)
        return False
    return True


@bp.get("/signed-out")
def signed_out() -> str:
    """"Anda telah log keluar", with a way back in."""
    return render_template("settings/signed_out.html")
