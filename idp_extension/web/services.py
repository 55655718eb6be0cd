"""What ``create_app`` attaches to the app, and how views reach it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Mapping

from flask import Flask, current_app

from idp_extension.audit import AuditLog, audit_log_from_settings
from idp_extension.flows.ports import (
    BackgroundWork, Clock, OneTimeClaims, SystemClock, ThreadedWork, UserDirectoryPort,
    claims_from_uri,
)
from idp_extension.gateway.directories import KeycloakDirectories
from idp_extension.gateway.oidc import OidcClients
from idp_extension.mail.sender import MailSender, mail_sender_from_settings
from idp_extension.settings import Settings
from idp_extension.tenants import Tenant

EXTENSION_KEY = "ispeks"


@dataclass(frozen=True)
class Services:
    """The replaceable collaborators of the web layer (real ones, or fakes in tests)."""

    audit: AuditLog
    mail: MailSender
    # realm -> that realm's user directory; None: Keycloak as the app's settings say.
    directories: Callable[[str], UserDirectoryPort] | None = None
    # First-caller-wins markers all workers share; None: in the settings' rate-limit store.
    claims: OneTimeClaims | None = None
    # Link expiry and request padding read this clock (tests move it).
    clock: Clock = field(default_factory=SystemClock)
    # Sending links and temporary passwords: an answer leaves after its floor whether or
    # not the sending is done (InlineWork in unit tests runs it at once).
    work: BackgroundWork = field(default_factory=ThreadedWork)
    # Each realm's OIDC clients for the sign-ins, secrets included; None: from settings.
    oidc: OidcClients | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "Services":
        """Build the production services ``settings`` describe."""
        return cls(
            audit=audit_log_from_settings(settings), mail=mail_sender_from_settings(settings),
            directories=KeycloakDirectories(settings),
            claims=claims_from_uri(settings.ratelimit_storage_uri),
            oidc=OidcClients.from_settings(settings),
        )


@dataclass(frozen=True)
class AppContext:
    """Everything the app was created with."""

    settings: Settings
    tenants: Mapping[str, Tenant]
    services: Services


def tenants_by_realm(tenants: Mapping[str, Tenant] | Iterable[Tenant]) -> dict[str, Tenant]:
    """Accept a realm→tenant mapping or any iterable of tenants."""
    values = tenants.values() if isinstance(tenants, Mapping) else tenants
    return {tenant.realm: tenant for tenant in values}


def init_services(
    app: Flask, settings: Settings, tenants: Mapping[str, Tenant], services: Services
) -> None:
    """Attach settings, tenants and services to ``app`` (missing ones from ``settings``)."""
    if services.directories is None:
        services = replace(services, directories=KeycloakDirectories(settings))
    if services.claims is None:
        # One store per app: claims only mean something if every request shares them.
        services = replace(services, claims=claims_from_uri(settings.ratelimit_storage_uri))
    if services.oidc is None:
        services = replace(services, oidc=OidcClients.from_settings(settings))
    app.extensions[EXTENSION_KEY] = AppContext(settings, dict(tenants), services)


def _context() -> AppContext:
    return current_app.extensions[EXTENSION_KEY]


def current_settings() -> Settings:
    """The settings of the running app."""
    return _context().settings


def current_tenants() -> Mapping[str, Tenant]:
    """Every configured tenant of the running app, keyed by realm."""
    return _context().tenants


def current_services() -> Services:
    """The services of the running app."""
    return _context().services
