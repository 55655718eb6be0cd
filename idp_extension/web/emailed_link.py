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

from flask import Response, current_app, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer

from idp_extension import errors
from idp_extension.flows.common import InvalidUserIdError, LinkRequested
from idp_extension.flows.emailed_link import EmailedLinkContext
from idp_extension.flows.ports import Clock
from idp_extension.flows.tokens import LinkMissing, LinkTampered
from idp_extension.gateway.errors import KeycloakUnavailable
from idp_extension.web.language import current_locale
from idp_extension.web.security import is_https
from idp_extension.web.services import current_settings

log = logging.getLogger(__name__)

Context = TypeVar("Context", bound=EmailedLinkContext)
Opened = TypeVar("Opened")


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
