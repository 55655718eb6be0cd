"""One handler renders every error as a page in the user's language (or JSON).

Foreign exceptions are translated first: Flask-WTF's CSRFError → CsrfFailed,
Flask-Limiter's 429 → RateLimited, the gateway's KeycloakUnavailable →
ServiceUnavailable, werkzeug's HTTP errors → their counterpart. Anything else is a bug:
it is logged with its traceback and the user sees a generic 500 page without details.
"""

from __future__ import annotations

import math
import time

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, SecurityError

from idp_extension import errors
from idp_extension.gateway.errors import KeycloakUnavailable
from idp_extension.web.language import catalog, current_locale

# Seconds a client is asked to wait after a 503.
SERVICE_RETRY_AFTER = 30

_HTTP_ERRORS: dict[int, type[errors.IspeksError]] = {
    400: errors.BadRequest,
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    413: errors.RequestTooLarge,
    429: errors.RateLimited,
    503: errors.ServiceUnavailable,
}


def wants_json() -> bool:
    """True if the client prefers JSON to HTML."""
    accept = request.accept_mimetypes
    return accept.best_match(("text/html", "application/json")) == "application/json" and (
        accept["application/json"] > accept["text/html"]
    )


def render_error(error: errors.IspeksError) -> Response:
    """Return the page (or JSON) that tells the user about ``error``."""
    messages = catalog()
    locale = current_locale()
    if wants_json():
        response = jsonify(
            error={
                "code": error.code,
                "status": error.http_status,
                "message": messages.text(error.code, locale, **error.params),
            }
        )
    else:
        locales = [l for l, _ in messages.all_locales(error.code)] if error.bilingual else [locale]
        texts = [
            {
                "locale": l,
                "title": messages.text(f"{error.code}.title", l),
                "message": messages.text(error.code, l, **error.params),
            }
            for l in locales
        ]
        # A page that failed for a moment can be asked for again (GET only: a form
        # is sent again from its own page). No query string: it may hold a code.
        retry_url = (request.script_root + request.path
                     if isinstance(error, errors.ServiceUnavailable) and request.method == "GET"
                     else None)
        html = render_template("error.html", error=error, texts=texts, retry_url=retry_url)
        response = Response(html, mimetype="text/html")
    response.status_code = error.http_status
    retry_after = error.params.get("retry_after")
    if retry_after is None and isinstance(error, errors.ServiceUnavailable):
        retry_after = SERVICE_RETRY_AFTER
    if retry_after is not None:
        response.headers["Retry-After"] = str(int(retry_after))
    return response


def _from_ispeks(error: errors.IspeksError) -> Response:
    if error.http_status >= 500:
        current_app.logger.error("%s: %s", type(error).__name__, error.detail or error.code)
    return render_error(error)


def _from_csrf(error: CSRFError) -> Response:
    return render_error(errors.CsrfFailed(error.description))


def _from_rate_limit(error: HTTPException) -> Response:
    limiter = current_app.extensions.get("ispeks.limiter")
    current = limiter.current_limit if limiter else None
    params = {}
    if current is not None:
        params["retry_after"] = max(1, math.ceil(current.reset_at - time.time()))
    return render_error(errors.RateLimited(str(error.description), **params))


def _from_keycloak(error: KeycloakUnavailable) -> Response:
    current_app.logger.error("Keycloak unavailable: %s", error)
    return render_error(errors.ServiceUnavailable(str(error)))


def _from_http(error: HTTPException) -> Response | HTTPException:
    if error.code is None or error.code < 400:
        return error  # redirects raised by routing are not errors
    if error.code == 429:
        return _from_rate_limit(error)
    kind = _HTTP_ERRORS.get(error.code)
    if kind is not None:
        return render_error(kind(f"{error.code} {error.name}"))
    # Rare statuses (401, 403, 501...) keep their status behind the closest message.
    generic = errors.BadRequest if error.code < 500 else errors.InternalError
    translated = generic(f"{error.code} {error.name}")
    translated.http_status = error.code
    return render_error(translated)


def _from_untrusted_host(error: SecurityError) -> Response:
    # No page template here: without a trusted host Flask has no URL adapter, and the
    # answer must not carry the forged name anywhere.
    return Response("400 Permintaan tidak sah / Bad request\n", status=400,
                    mimetype="text/plain")


def _from_unexpected(error: Exception) -> Response:
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return render_error(errors.InternalError(type(error).__name__))


def init_error_handlers(app: Flask) -> None:
    """Register the handlers (Flask picks the most specific class)."""
    app.register_error_handler(errors.IspeksError, _from_ispeks)
    app.register_error_handler(CSRFError, _from_csrf)
    app.register_error_handler(KeycloakUnavailable, _from_keycloak)
    app.register_error_handler(SecurityError, _from_untrusted_host)
    app.register_error_handler(HTTPException, _from_http)
    app.register_error_handler(Exception, _from_unexpected)
