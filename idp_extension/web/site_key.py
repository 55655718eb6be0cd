"""``POST /<realm>/site-key``: the phrase and image Keycloak's login page shows on step two.

Protocol (the theme's ``js/ispeks-login.js`` is the one client)::

    POST {sidecar}/<realm>/site-key           from the realm's login page (Keycloak's origin)
    Origin: <keycloak origin>                 anything else: 403, no lookup
    Content-Type: application/x-www-form-urlencoded   (a "simple" request: no preflight)
    Accept: application/json
    id=<the ID typed>

    200 {"phrase": "...", "image": {"id", "url", "alt_ms", "alt_en"}}
        Access-Control-Allow-Origin: <keycloak origin>   (no credentials: cookies unused)
    400 empty or oversized ID · 403 foreign origin · 429 rate limited · 503 Keycloak down

The ID travels in the body, never in the URL, so that access logs hold no ID numbers.
A real and a decoy answer (``flows.site_key``) differ in nothing but their words. The
page keeps each answer for a minute ("Kembali" then "Seterusnya" asks once); the HTTP
answer itself is ``no-store`` like every other non-static answer of the sidecar, and the
sidecar's own ``AnswerCache`` (``app.extensions[CACHE_KEY]``) is off by default, so a
phrase chosen or changed shows at once in every worker.

Gallery images are static files (``/static/gallery/``) embedded by Keycloak's page from
another origin, so they alone are marked ``Cross-Origin-Resource-Policy: cross-origin``.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from idp_extension import errors
from idp_extension.flows.site_key import AnswerCache, SiteKeyContext, look_up
from idp_extension.gallery import STATIC_PREFIX
from idp_extension.settings import Settings
from idp_extension.web.ratelimit import rate_limit
from idp_extension.web.security import origin_of
from idp_extension.web.services import current_services, current_settings
from idp_extension.web.tenant import current_tenant

# Per client address. A login needs one or two lookups; offices behind one NAT address
# need room, and the decoys make enumeration pointless, so the limit only stops bulk
# harvesting of phrases and shields Keycloak.
RATE_LIMIT = "60 per minute;600 per hour"
# Seconds every answer takes at least (``flows.site_key.DEFAULT_MIN_SECONDS`` unless set).
MIN_SECONDS_KEY = "ispeks.site_key.min_seconds"
# The process's AnswerCache (off unless replaced): flows that change a phrase forget().
CACHE_KEY = "ispeks.site_key.cache"
GALLERY_PATH = f"/static/{STATIC_PREFIX}/"

bp = Blueprint("site_key", __name__)


class ForeignOrigin(errors.IspeksError):
    """The site key was asked for by a page that is not the realm's login page."""

    code = "site_key.foreign_origin"
    http_status = 403


def login_origin(settings: Settings) -> str:
    """The origin of Keycloak's login pages: the only one allowed to ask."""
    return origin_of(settings.keycloak_url)


@bp.record_once
def _setup(state) -> None:
    app: Flask = state.app
    app.extensions.setdefault(CACHE_KEY, AnswerCache())
    # A cross-origin fetch without cookies: the CSRF token protects nothing here.
    app.extensions["csrf"].exempt(f"{__name__}.site_key")


@bp.after_app_request
def _gallery_is_embeddable(response: Response) -> Response:
    # Runs before the security headers, which keep a policy that is already set.
    if request.endpoint == "static" and request.path.startswith(GALLERY_PATH):
        response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@bp.after_request
def _cors(response: Response) -> Response:
    allowed = login_origin(current_settings())
    if request.headers.get("Origin") == allowed:
        # Errors too (429, 503), so that the page can tell the user what happened.
        response.headers["Access-Control-Allow-Origin"] = allowed
    response.vary.add("Origin")
    return response


@bp.post("/site-key")
@rate_limit(RATE_LIMIT)
def site_key() -> Response:
    """Answer the login page with the phrase and image to show for the ID typed."""
    settings = current_settings()
    if request.headers.get("Origin") != login_origin(settings):
        raise ForeignOrigin(f"origin {request.headers.get('Origin')!r}")
    tenant, services = current_tenant(), current_services()
    ctx = SiteKeyContext(
        tenant=tenant,
        directory=services.directories(tenant.realm),
        secret_key=settings.secret_key,
        cache=current_app.extensions[CACHE_KEY],
        monotonic=services.clock.monotonic,
        sleep=services.clock.sleep,
    )
    min_seconds = current_app.extensions.get(MIN_SECONDS_KEY)
    if min_seconds is not None:
        ctx.min_seconds = min_seconds
    answer = look_up(ctx, request.form.get("id"))
    image = answer.image
    return jsonify(
        phrase=answer.phrase,
        image={
            "id": image.id,
            "url": f"{settings.sidecar_public_url.rstrip('/')}{GALLERY_PATH}{image.file}",
            "alt_ms": image.alt_ms,
            "alt_en": image.alt_en,
        },
    )
