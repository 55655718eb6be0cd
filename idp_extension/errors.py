"""The error tree every layer raises (DESIGN.md convention 7).

Each class carries a ``code`` that is also the message key the web layer looks up
(``error.not_found`` → the sentence, ``error.not_found.title`` → the heading) and the
HTTP status it answers with. ``detail`` is for logs only: users see the message of the
code, never the detail, so it may name internals but must never hold secrets.
"""

from __future__ import annotations

from typing import Any, ClassVar


class IspeksError(Exception):
    """Base of every error the sidecar shows to users as a page."""

    code: ClassVar[str] = "error.internal"
    http_status: ClassVar[int] = 500
    # Shown in Malay and English together, for pages where the user's choice of
    # language cannot be trusted yet (e.g. a mistyped state in the URL).
    bilingual: ClassVar[bool] = False

    def __init__(self, detail: str | None = None, **params: Any) -> None:
        super().__init__(detail or self.code)
        self.detail = detail
        # Values the message may interpolate, e.g. {"minutes": 30}.
        self.params = params


class InternalError(IspeksError):
    """Something unexpected failed; the user sees a generic page."""


class BadRequest(IspeksError):
    """The request is malformed or incomplete."""

    code = "error.bad_request"
    http_status = 400


class CsrfFailed(BadRequest):
    """A form was posted without a valid CSRF token (expired page or forged post)."""

    code = "error.csrf_failed"


class NotFound(IspeksError):
    """The page does not exist."""

    code = "error.not_found"
    http_status = 404


class UnknownRealm(NotFound):
    """The URL names a state that is not configured."""

    code = "error.unknown_realm"
    bilingual = True


class MethodNotAllowed(IspeksError):
    """The page exists but not for this HTTP method."""

    code = "error.method_not_allowed"
    http_status = 405


class RequestTooLarge(IspeksError):
    """The request body is larger than any form of ours needs."""

    code = "error.request_too_large"
    http_status = 413


class RateLimited(IspeksError):
    """Too many attempts from this client in a short time."""

    code = "error.rate_limited"
    http_status = 429


class ServiceUnavailable(IspeksError):
    """A service we depend on (Keycloak, SMTP) cannot be reached; retry later."""

    code = "error.service_unavailable"
    http_status = 503
    # Users meet it mid-flow (a Keycloak node lost, a restart): say it in both
    # languages whatever the page's language, and offer to try again.
    bilingual = True
