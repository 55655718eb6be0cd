"""Page pieces the two emailed-link flows (activation, recovery) share.

The link's token leaves the URL at the first GET (so it is in no later Referer, history
entry or access-log line) and lives in a signed, HttpOnly cookie scoped to the flow's
pages until the link expires; every later request hands it back to the flow, which
verifies it again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, TypeVar

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer

from idp_extension import errors
from idp_extension.flows.common import InvalidUserIdError, LinkRequested, id_rate_limit_key
from idp_extension.flows.emailed_link import EmailedLinkContext
from idp_extension.flows.ports import Clock
from idp_extension.flows.tokens import LinkMissing, LinkTampered
from idp_extension.gateway.errors import KeycloakUnavailable
from idp_extension.web.language import current_locale
from idp_extension.web.ratelimit import PerIdLimits, limit_per_id, rate_limit
from idp_extension.web.security import is_https
from idp_extension.web.services import current_settings
from idp_extension.web.tenant import current_context, current_tenant

log = logging.getLogger(__name__)

Context = TypeVar("Context", bound=EmailedLinkContext)
Opened = TypeVar("Opened")

# Asking for a link: a person needs one or two; a department behind one NAT address on
# launch morning needs more; a script walking through ID numbers gets stopped.
REQUESTS_PER_ADDRESS = "10 per minute; 60 per hour"
# Per ID, shared by activation and recovery (one mailbox): a few from one network (what
# a stranger who knows the ID can use up, for that network only), a larger ceiling from
# everywhere that still keeps the mailbox from a flood.
REQUESTS_PER_ID = PerIdLimits("link-request", per_network="3 per 15 minutes; 10 per day",
                              overall="20 per hour; 50 per day")
LINKS_PER_ADDRESS = "30 per minute"
STEPS_PER_ADDRESS = "20 per minute"


def link_flow_context(context: type[Context]) -> Context:
    """An emailed-link flow's collaborators for the current request's realm."""
    here = current_context()
    return context.from_settings(here.settings, here.tenant, claims=here.services.claims,
                                 work=here.services.work, **here.flow_services())


def login_url() -> str:
    """Where "Kembali Ke Log Masuk" and "Log Masuk" go: the realm's sign-in."""
    settings = current_settings()
    if settings.demo_portal:
        # Signing in to the (demo) portal starts at the realm's themed login page.
        return url_for("tenant.portal.start")
    return f"{settings.keycloak_url.rstrip('/')}/realms/{current_tenant().realm}/account/"


def _id_rate_limit_key() -> str:
    # One key for both flows: one mailbox gets a few emails, whichever flow sends them.
    return id_rate_limit_key(
        current_settings().secret_key, current_tenant().realm, request.form.get("user_id", ""))


@dataclass(frozen=True)
class LinkCookie:
    """One flow's cookie: what it keeps of the opened link, signed, for its own pages."""

    name: str
    salt: str
    purpose: str

    def _serializer(self) -> URLSafeSerializer:
        return URLSafeSerializer(current_app.secret_key, salt=self.salt)

    def _options(self) -> dict[str, Any]:
        # Scoped to the flow's pages: the blueprint's request form is their root.
        return {"path": url_for(".request_form"),
                "secure": is_https(current_settings().sidecar_public_url),
                "httponly": True, "samesite": "Lax"}

    def keep(self, response: Response, value: Any, expires_at: datetime, clock: Clock) -> None:
        """Store ``value`` until the link expires."""
        seconds = int((expires_at - clock.now()).total_seconds())
        response.set_cookie(self.name, self._serializer().dumps(value), max_age=max(1, seconds),
                            **self._options())

    def forget(self, response: Response) -> None:
        response.delete_cookie(self.name, **self._options())

    def read(self) -> Any:
        """The stored value; LinkMissing without a cookie, LinkTampered if it was changed."""
        raw = request.cookies.get(self.name)
        if not raw:
            raise LinkMissing(self.purpose, f"no {self.purpose} cookie")
        try:
            return self._serializer().loads(raw)
        except BadSignature:
            raise LinkTampered(self.purpose, f"{self.purpose} cookie with a bad signature") from None


def answer_link_request(
    request_link: Callable[[Context, str, str], LinkRequested], ctx: Context, pages: str,
    **page_values: Any,
) -> tuple[str, int] | str:
    """Ask the flow for a link for the posted ID; show ``<pages>/sent.html`` whatever the ID.

    The page is the same for every valid ID, byte for byte but for the CSRF token: it
    names no address.

    Only a malformed ID is told at once (``<pages>/request.html``): the format is
    public, so saying so gives nothing away.
    """
    raw_id = request.form.get("user_id", "")
    try:
        request_link(ctx, raw_id, current_locale())
    except InvalidUserIdError as exc:
        page = render_template(f"{pages}/request.html", user_id=raw_id[:32],
                               field_errors=exc.field_errors, **page_values)
        return page, exc.http_status
    return render_template(f"{pages}/sent.html", **page_values)


def open_emailed_link(open_link: Callable[[Context, str], Opened], ctx: Context,
                      token: str) -> Opened:
    """Open the link, never letting an unexpected error log the URL (it holds the token)."""
    try:
        return open_link(ctx, token)
    except (errors.IspeksError, KeycloakUnavailable):
        raise
    except Exception as exc:
        # The generic handler would log this request's path, and the path holds the token.
        log.exception("opening %s link failed", ctx.purpose)
        raise errors.InternalError(f"opening a link: {type(exc).__name__}") from None


def add_link_pages(bp: Blueprint, *, pages: str, flow_context: Callable[[], Context],
                   request_link: Callable[[Context, str, str], LinkRequested],
                   open_link: Callable[[Context, str], Opened], next_page: str,
                   keep: Callable[[Response, str, Opened, Context], None]) -> None:
    """Add to ``bp`` the pages every emailed-link flow begins with::

        GET  ""              the ID form (``<pages>/request.html``)
        POST ""              request_link → one confirmation for every valid ID
        GET  /link/<token>   open_link → ``keep`` the token in the flow's cookie → 303 next_page
    """

    def request_form() -> str:
        """Ask for the user ID."""
        return render_template(f"{pages}/request.html", user_id="", field_errors={},
                               login_url=login_url())

    @rate_limit(REQUESTS_PER_ADDRESS)
    @limit_per_id(REQUESTS_PER_ID, _id_rate_limit_key)
    def request_submit() -> tuple[str, int] | str:
        """Email a link to an eligible user; show the same confirmation for every valid ID."""
        return answer_link_request(request_link, flow_context(), pages, login_url=login_url())

    @rate_limit(LINKS_PER_ADDRESS, methods=("GET",))
    def follow_link(token: str) -> Response:
        """Check the emailed link, keep its token in the flow's cookie, go to the next page."""
        ctx = flow_context()
        opened = open_emailed_link(open_link, ctx, token)
        response = redirect(url_for(next_page), 303)
        keep(response, token, opened, ctx)
        return response

    for view in (request_form, request_submit, follow_link):
        # Named as if written in the flow's module, as before: Flask-Limiter files a view's
        # limits under its module and name (the counters themselves are per endpoint).
        view.__module__, view.__qualname__ = bp.import_name, view.__name__
    bp.add_url_rule("", view_func=request_form, methods=["GET"])
    bp.add_url_rule("", view_func=request_submit, methods=["POST"])
    bp.add_url_rule("/link/<token>", view_func=follow_link, methods=["GET"])
