"""Routes under ``/<realm>/``: the realm in the URL picks the state's Tenant.

Flows' blueprints are registered as children of this one and inherit the resolution:
their views read ``current_tenant()`` and never take a ``realm`` argument, and
``url_for`` fills ``realm`` in from the current request. ``current_context()`` is the
tenant with what already knows its realm: the directory, the audit log and absolute
URLs on the configured public URL (``ISPEKS_SIDECAR_PUBLIC_URL``), built from the app's
own routes; the flows get the same builder (``urls``) for the links in their emails.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterable, NamedTuple

from flask import Blueprint, current_app, g, render_template, request, url_for

from idp_extension.audit import RealmAudit, for_realm
from idp_extension.errors import UnknownRealm
from idp_extension.flows.ports import RouteUrls, UserDirectoryPort
from idp_extension.settings import Settings
from idp_extension.tenants import Onboarding, Tenant
from idp_extension.web.services import Services, current_services, current_settings, current_tenants

BLUEPRINT_NAME = "tenant"


class FlowLink(NamedTuple):
    key: str  # message key of the label; "<key>.help" explains it
    path: str


def current_tenant() -> Tenant:
    """The Tenant of the realm in the current URL."""
    return g.tenant


@dataclass(frozen=True)
class TenantContext:
    """One request's tenant and the services bound to its realm."""

    tenant: Tenant
    settings: Settings
    services: Services

    @property
    def realm(self) -> str:
        return self.tenant.realm

    @cached_property
    def directory(self) -> UserDirectoryPort:
        return self.services.directories(self.realm)

    @cached_property
    def audit(self) -> RealmAudit:
        return for_realm(self.services.audit, self.realm)

    @cached_property
    def urls(self) -> RouteUrls:
        """The app's routes bound to the configured public URL (its "/idp" prefix too).

        Never the request's Host: links in emails and OIDC callbacks must name the
        sidecar as configured (the app refuses other Hosts anyway). Usable outside the
        request, so a flow's background sending builds its links with it.
        """
        return RouteUrls(current_app.url_map, self.settings.sidecar_public_url, self.realm)

    def url(self, endpoint: str, **values: Any) -> str:
        """Like ``url_for(endpoint, ...)``, as an absolute URL from ``urls``."""
        if endpoint.startswith("."):
            endpoint = f"{request.blueprint}{endpoint}"
        return self.urls.url(endpoint, **values)

    def flow_services(self) -> dict[str, Any]:
        """What every flow context takes from the services (directory, mail, audit, URLs)."""
        services = self.services
        return {"directory": self.directory, "mailer": services.mail, "audit": self.audit,
                "clock": services.clock, "urls": self.urls}


def current_context() -> TenantContext:
    """The current request's ``TenantContext`` (built once per request)."""
    if "tenant_context" not in g:
        g.tenant_context = TenantContext(current_tenant(), current_settings(), current_services())
    return g.tenant_context


def flow_links(tenant: Tenant, base_path: str) -> list[FlowLink]:
    """The self-service flows ``tenant`` offers, as paths under ``base_path``."""
    onboarding = (
        FlowLink("landing.activation", f"{base_path}activation")
        if tenant.onboarding is Onboarding.ACTIVATION_LINK
        else FlowLink("landing.first_login", f"{base_path}first-login")
    )
    return [onboarding, FlowLink("landing.recovery", f"{base_path}recovery"),
            FlowLink("landing.settings", f"{base_path}settings/")]


def build_tenant_blueprint(children: Iterable[Blueprint] = ()) -> Blueprint:
    """Return a fresh ``/<realm>`` blueprint with ``children`` nested under it."""
    bp = Blueprint(BLUEPRINT_NAME, __name__, url_prefix="/<realm>")

    @bp.url_value_preprocessor
    def resolve_tenant(endpoint: str | None, values: dict[str, Any] | None) -> None:
        realm = (values or {}).pop("realm", None)
        tenant = current_tenants().get(realm or "")
        if tenant is None:
            raise UnknownRealm(f"unknown realm {realm!r}")
        g.tenant = tenant

    @bp.url_defaults
    def add_realm(endpoint: str, values: dict[str, Any]) -> None:
        if "realm" not in values and "tenant" in g:
            values["realm"] = g.tenant.realm

    @bp.app_context_processor
    def tenant_context() -> dict[str, Any]:
        # Every page (errors included) shows the state once the URL has named one.
        return {"tenant": g.get("tenant")}

    @bp.get("/")
    def landing() -> str:
        """Name the state and link to the self-service flows it offers."""
        tenant = current_tenant()
        base = url_for(f"{BLUEPRINT_NAME}.landing")
        return render_template("landing.html", tenant=tenant, links=flow_links(tenant, base))

    for child in children:
        bp.register_blueprint(child)
    return bp
