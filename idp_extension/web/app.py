"""The sidecar's app factory (DESIGN.md convention 1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import urlsplit

from flask import Blueprint, Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from idp_extension.i18n import MessageCatalog
from idp_extension.credentials import SIDECAR_CLIENT_ID, CredentialError, CredentialStore
from idp_extension.flows.texts import MESSAGES as FLOW_MESSAGES
from idp_extension.settings import (
    Settings, SettingsError, load_settings, require_strong_settings,
)
from idp_extension.tenants import Tenant, load_tenants
from idp_extension.web import (
    activation, first_login, health, portal, recovery, report_pages, root, settings, site_key,
)
from idp_extension.web.console import bp as console_bp
from idp_extension.web.error_pages import init_error_handlers
from idp_extension.web.health import init_request_metrics
from idp_extension.web.language import init_language
from idp_extension.web.prefix import PrefixMiddleware
from idp_extension.web.ratelimit import apply_rate_limits, init_rate_limiting
from idp_extension.web.security import init_security, is_https
from idp_extension.web.services import Services, init_services, tenants_by_realm
from idp_extension.web.tenant import build_tenant_blueprint

MESSAGES_DIR = Path(__file__).resolve().parent / "messages"
# Our forms hold a handful of short fields; anything bigger is not one of ours.
MAX_FORM_BYTES = 64 * 1024
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")

# Flows' blueprints, nested under /<realm>/.
REALM_BLUEPRINTS: tuple[Blueprint, ...] = (
    activation.bp, first_login.bp, portal.bp, site_key.bp, recovery.bp, settings.bp,
    console_bp,
    report_pages.bp,  # the campaign report, /<realm>/pentadbiran/laporan/ (console's guard)
)


def create_app(
    config: Settings | None = None,
    *,
    tenants: Mapping[str, Tenant] | Iterable[Tenant] | None = None,
    services: Services | None = None,
    blueprints: Iterable[Blueprint] = (),
    realm_blueprints: Iterable[Blueprint] = (),
) -> Flask:
    """Build the sidecar; ``blueprints``/``realm_blueprints`` add routes (tests, plugins)."""
    settings = config if config is not None else load_settings()
    # A real deployment (https, or a Keycloak elsewhere) never runs on a guessable key.
    require_strong_settings(settings, "secret_key")
    if tenants is None:
        tenants = load_tenants(settings.realm_templates_dir)
    if services is None and settings.strict:
        _refuse_weak_client_secrets(settings, tenants_by_realm(tenants))
    if services is None:
        services = Services.from_settings(settings)

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=MAX_FORM_BYTES,
        # Any other Host header is answered 400: no redirect or absolute URL may echo it.
        TRUSTED_HOSTS=trusted_hosts(settings),
        # With Referrer-Policy no-referrer browsers send no Referer (and Origin "null")
        # on our own posts, so Flask-WTF's https referrer check would refuse them all.
        # The session-bound token plus SameSite=Lax cookies carry the CSRF defence.
        WTF_CSRF_SSL_STRICT=False,
    )
    app.json.ensure_ascii = False
    app.wsgi_app = CloseAfterTooLarge(app.wsgi_app)  # type: ignore[method-assign]
    if settings.url_prefix:
        # Mounted under /idp behind the proxy: links, redirects and cookies carry it.
        app.wsgi_app = PrefixMiddleware(app.wsgi_app, settings.url_prefix)  # type: ignore[method-assign]
        app.config["APPLICATION_ROOT"] = settings.url_prefix
    if settings.trusted_proxy_hops > 0:
        # The client's address (rate limits, logs) and scheme as the proxy saw them;
        # only the last ``hops`` X-Forwarded-For entries are believed, not spoofed ones.
        hops = settings.trusted_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    init_services(app, settings, tenants_by_realm(tenants), services)
    init_language(
        app, MessageCatalog.load(MESSAGES_DIR).merged(FLOW_MESSAGES),
        secure_cookie=is_https(settings.sidecar_public_url)
    )
    init_security(app, settings)
    CSRFProtect(app)
    init_rate_limiting(app, settings)
    init_error_handlers(app)
    init_request_metrics(app)

    app.register_blueprint(health.bp)
    app.register_blueprint(root.bp)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    app.register_blueprint(build_tenant_blueprint((*REALM_BLUEPRINTS, *realm_blueprints)))
    apply_rate_limits(app)
    return app


class CloseAfterTooLarge:
    """WSGI middleware: a 413 answer closes the connection, and says so.

    The unread body of a refused request is still on the socket. gunicorn drains at most
    64 KiB of it before reusing a keep-alive connection, and gives up beyond that: it
    announced "Connection: keep-alive" and then closed. Applications may not send
    hop-by-hop headers (PEP 3333), so the server's own response is told to close: under
    gunicorn ``start_response`` is a method of that response, with ``force_close``.
    """

    def __init__(self, app: Callable) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        def start(status: str, headers: list, exc_info: Any = None) -> Callable:
            if status.startswith("413"):
                force_close = getattr(getattr(start_response, "__self__", None),
                                      "force_close", None)
                if callable(force_close):
                    force_close()
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


def trusted_hosts(settings: Settings) -> list[str]:
    """The Host names the sidecar answers to: its public URL's, and loopback.

    Loopback stays so that the machine's own health checks (curl 127.0.0.1) work; a
    redirect to it sends nobody anywhere an attacker chose.
    """
    public = urlsplit(settings.sidecar_public_url).hostname
    return list(dict.fromkeys(host for host in (public, *LOOPBACK_HOSTS) if host))


def _refuse_weak_client_secrets(settings: Settings, tenants: Mapping[str, Tenant]) -> None:
    """Every state's sidecar client secret file must exist and hold a strong secret."""
    store = CredentialStore.from_settings(settings)
    for realm in tenants:
        try:
            store.require(realm, SIDECAR_CLIENT_ID, strict=True)
        except CredentialError as exc:
            raise SettingsError(str(exc)) from None
