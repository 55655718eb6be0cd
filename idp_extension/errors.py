"""The error tree every layer raises (DESIGN.md convention 7).

Each class carries a ``code`` that is also the message key the web layer looks up
(``error.not_found`` → the sentence, ``error.not_found.title`` → the heading) and the
HTTP status it answers with. A subclass declares them in its header and inherits what
it leaves out: ``class NotFound(IspeksError, code="error.not_found", status=404)``.
``detail`` is for logs only: users see the message of the code, never the detail, so it
may name internals but must never hold secrets.
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

    def __init_subclass__(cls, *, status: int | None = None, **attributes: Any) -> None:
        """Set the class attributes named in the header: ``status`` is ``http_status``,
        any other keyword (``code``, ``bilingual``, a subclass's own) must exist already."""
        super().__init_subclass__()
        if status is not None:
            cls.http_status = status
        for name, value in attributes.items():
            if not hasattr(cls, name):
                raise TypeError(f"{cls.__name__} has no class attribute {name!r} to set")
            setattr(cls, name, value)

    def __init__(self, detail: str | None = None, **params: Any) -> None:
        super().__init__(detail or self.code)
        self.detail = detail
        # Values the message may interpolate, e.g. {"minutes": 30}.
        self.params = params


class InternalError(IspeksError):
    """Something unexpected failed; the user sees a generic page."""


class BadRequest(IspeksError, code="error.bad_request", status=400):
    """The request is malformed or incomplete."""


class CsrfFailed(BadRequest, code="error.csrf_failed"):
    """A form was posted without a valid CSRF token (expired page or forged post)."""


class NotFound(IspeksError, code="error.not_found", status=404):
    """The page does not exist."""


class UnknownRealm(NotFound, code="error.unknown_realm", bilingual=True):
    """The URL names a state that is not configured."""


class MethodNotAllowed(IspeksError, code="error.method_not_allowed", status=405):
    """The page exists but not for this HTTP method."""


class RequestTooLarge(IspeksError, code="error.request_too_large", status=413):
    """The request body is larger than any form of ours needs."""


class RateLimited(IspeksError, code="error.rate_limited", status=429):
    """Too many attempts from this client in a short time."""


# Users meet it mid-flow (a Keycloak node lost, a restart): said in both languages
# whatever the page's language, with an offer to try again.
class ServiceUnavailable(IspeksError, code="error.service_unavailable", status=503,
                         bilingual=True):
    """A service we depend on (Keycloak, SMTP) cannot be reached; retry later."""
