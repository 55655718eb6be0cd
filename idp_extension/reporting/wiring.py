"""Build the report and the reminders from ``Settings`` and an admin client per realm.

``admin_for(realm)`` is the Keycloak admin client to use: state IT's credential in the
CLI (``gateway.connection.state_it_admin``), the realm's sidecar service account in the
sidecar (``sidecar_admin``, or ``KeycloakDirectories``' clients).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable, Mapping

from idp_extension.audit import AuditLog
from idp_extension.flows.ports import (
    BackgroundWork, Clock, InlineWork, MailSender, MemoryClaims, OneTimeClaims, PageUrls,
    SystemClock, claims_from_uri, public_pages,
)
from idp_extension.gateway.user_scan import UserScan
from idp_extension.gateway.users import UserDirectory
from idp_extension.reporting.campaign import load_campaign
from idp_extension.reporting.remind import (
    ReminderContext, activation_link_sender, temporary_password_sender,
)
from idp_extension.reporting.service import ActivationReport
from idp_extension.reporting.store import ReportStore, report_store_from_uri
from idp_extension.settings import Settings
from idp_extension.tenants import Onboarding, load_tenant


def activation_report(settings: Settings, admin_for: Callable[[str], Any], *,
                      store: ReportStore | None = None, claims: OneTimeClaims | None = None,
                      clock: Clock | None = None, work: BackgroundWork | None = None,
                      page_size: int | None = None) -> ActivationReport:
    """The report service over every state, its summaries in the shared state.

    One per process (a page keeps it, with ``work=ThreadedWork()``): its store and
    claims are the shared state of ``settings.ratelimit_storage_uri``.
    """
    uri = settings.ratelimit_storage_uri

    def scan(realm: str):
        extra = {"page_size": page_size} if page_size else {}
        return UserScan(admin_for(realm), realm, **extra).users()

    return ActivationReport(
        scan=scan,
        campaign=lambda realm: load_campaign(settings.realm_templates_dir, realm),
        store=store or report_store_from_uri(uri),
        claims=claims or claims_from_uri(uri),
        clock=clock or SystemClock(),
        max_age=timedelta(seconds=settings.report_max_age_seconds),
        work=work or InlineWork(),
    )


def reminder_context(settings: Settings, realm: str, admin: Any, *, mailer: MailSender,
                     audit: AuditLog, who: Mapping[str, str],
                     claims: OneTimeClaims | None = None, clock: Clock | None = None,
                     locale: str = "ms",
                     service_names: Mapping[str, str] | None = None,
                     urls: PageUrls | None = None) -> ReminderContext:
    """A reminder run's context for ``realm``, reminding by the state's onboarding style.

    The flows' contexts get inline work and no answer floor (state IT is not a stranger
    probing IDs); their one-time claims are the shared state's, like the sidecar's.
    ``urls`` builds the links in the emails: the web layer passes its own routes; the CLI
    gets the mailed pages' routes on ``settings.sidecar_public_url``.
    """
    urls = urls or public_pages(settings.sidecar_public_url, realm)
    tenant = load_tenant(settings.realm_templates_dir, realm)
    campaign = load_campaign(settings.realm_templates_dir, realm)
    directory = UserDirectory(admin, realm)
    scan = UserScan(admin, realm)
    clock = clock or SystemClock()
    claims = claims or claims_from_uri(settings.ratelimit_storage_uri)
    flow_claims = MemoryClaims()

    if tenant.onboarding is Onboarding.ACTIVATION_LINK:
        from idp_extension.flows.activation import ActivationContext

        def activation(log: AuditLog):
            return ActivationContext.from_settings(
                settings, tenant, directory=directory, mailer=mailer, audit=log, urls=urls,
                claims=flow_claims, clock=clock, min_request_seconds=0.0, work=InlineWork())

        send = activation_link_sender(activation, audit, who, locale)
    else:
        from idp_extension.flows.first_login import DEFAULT_SERVICE_NAMES, FirstLoginContext

        def first_login(log: AuditLog):
            return FirstLoginContext(
                tenant=tenant, directory=directory, mailer=mailer, audit=log, urls=urls,
                claims=flow_claims, clock=clock,
                continue_url=urls.url("tenant.first_login.continue_login"),
                min_request_seconds=0.0, work=InlineWork(),
                service_names=dict(service_names or DEFAULT_SERVICE_NAMES))

        send = temporary_password_sender(first_login, audit, who, locale)

    return ReminderContext(
        campaign=campaign, pending=scan.pending_users, send=send,
        update_attributes=directory.update_attributes, audit=audit, claims=claims,
        clock=clock, who=dict(who))
