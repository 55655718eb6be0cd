"""Response headers and cookie flags every sidecar page gets (ASVS 14.4, 14.3.2, 3.4).

HSTS is sent on every response, https or not: browsers ignore it over plain http
(RFC 6797 section 8.1), and behind a TLS-terminating proxy the sidecar cannot tell
reliably which scheme the browser used, so "always" is the choice that never forgets.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, request

from idp_extension.settings import Settings

HSTS = "max-age=31536000; includeSubDomains"
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)


def is_https(url: str) -> bool:
    """True if ``url`` is an https URL."""
    return urlsplit(url).scheme == "https"


def origin_of(url: str) -> str:
    """Return ``scheme://host[:port]`` of ``url``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(settings: Settings) -> str:
    """Return the sidecar's CSP: own resources only, no inline code, never framed."""
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        # Forms post here, and some finish by redirecting to Keycloak's login.
        f"form-action 'self' {origin_of(settings.keycloak_url)}",
    ]
    if is_https(settings.sidecar_public_url):
        directives.append("upgrade-insecure-requests")
    return "; ".join(directives)


def init_security(app: Flask, settings: Settings) -> None:
    """Set cookie flags and add the security headers to every response."""
    secure = is_https(settings.sidecar_public_url)
    app.config.update(
        SESSION_COOKIE_NAME="ispeks_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
    )
    csp = content_security_policy(settings)

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", csp)
        headers["Strict-Transport-Security"] = HSTS
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "no-referrer"
        headers["Permissions-Policy"] = PERMISSIONS_POLICY
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        # Kept if already set: gallery images are embedded by Keycloak's login page.
        headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        if request.endpoint != "static":
            # Pages may show personal data (name, ID, masked email): never keep a copy.
            headers["Cache-Control"] = "no-store"
            headers["Pragma"] = "no-cache"
        return response
