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
from idp_extension.flows.site_key import (
    AnswerCache, InvalidSiteKeyId, SiteKeyContext, look_up, normalise_id,
)
from idp_extension.gallery import STATIC_PREFIX
from idp_extension.settings import Settings
from idp_extension.web.ratelimit import PerIdLimits, hashed_id_key, limit_per_id, rate_limit
from idp_extension.web.security import origin_of
from idp_extension.web.services import current_services, current_settings
from idp_extension.web.tenant import current_tenant

# Per client address. A login needs one or two lookups; offices behind one NAT address
# need room, and the decoys make enumeration pointless, so the limit only stops bulk
# harvesting of phrases and shields Keycloak.
RATE_LIMIT = "60 per minute;600 per hour"
# Per ID typed, whether or not it exists (so a refusal says nothing about the ID): a
# relay on many addresses cannot fetch one ID's phrase again and again, and a stranger
# on one network cannot use up the ceiling (the page then still lets the owner in,
# saying that the phrase could not be shown).
PER_ID = PerIdLimits("site-key", per_network="10 per hour; 30 per day",
                     overall="30 per hour; 100 per day")
# Seconds every answer takes at least (``flows.site_key.DEFAULT_MIN_SECONDS`` unless set).
MIN_SECONDS_KEY = "ispeks.site_key.min_seconds"
# The process's AnswerCache (off unless replaced): flows that change a phrase forget().
CACHE_KEY = "ispeks.site_key.cache"
GALLERY_PATH = f"/static/{STATIC_PREFIX}/"

bp = Blueprint("site_key", __name__)


class ForeignOrigin(errors.IspeksError, code="site_key.foreign_origin", status=403):
    """The site key was asked for by a page that is not the realm's login page."""


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


def _id_key() -> str:
    raw = request.form.get("id")
    try:
        subject = normalise_id(raw)
    except InvalidSiteKeyId:
        subject = (raw or "").strip()[:64].lower()
    return hashed_id_key(current_settings().secret_key, current_tenant().realm, "site-key",
                         subject)


@bp.post("/site-key")
@rate_limit(RATE_LIMIT)
@limit_per_id(PER_ID, _id_key)
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
