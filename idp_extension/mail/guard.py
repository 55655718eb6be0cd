"""The one door for a state's outgoing mail: only to one address inside its email domains.

Manual 003: the official email is kept in the payroll module by the department. Links,
temporary passwords and "was this you?" notices may reach only such an address, so an
address that is outside the state's ``email_domains`` (set by hand in the admin console,
or by a bug) or is not one plain addr-spec gets nothing. Every flow context wraps its
mailer in ``TenantMailer`` when it is built (``for_tenant``), so activation, first login,
recovery, the settings' notifications and the CLI's resend all pass through ``send``
below: the check lives here and nowhere else.

A refused mail raises ``MailOutsideDomain`` (a ``MailRejected``): each flow already
answers a rejected mailbox exactly like a sent mail where it must not tell accounts
apart, and audits it. This door writes its own event, ``mail:refused:outside_domain``,
naming the user ID (from ``OutgoingMail.about``) and the template, never the address.
"""

from __future__ import annotations

import logging

from idp_extension.addresses import is_single_addr_spec
from idp_extension.audit import AuditEvent, AuditLog, Outcome, RealmAudit, for_realm
from idp_extension.mail.errors import MailOutsideDomain
from idp_extension.mail.message import OutgoingMail
from idp_extension.mail.sender import MailSender
from idp_extension.tenants import Tenant

log = logging.getLogger(__name__)


class TenantMailer:
    """Send through ``inner`` only to addresses ``tenant.allows_email`` accepts."""

    def __init__(self, inner: MailSender, tenant: Tenant, audit: AuditLog | RealmAudit) -> None:
        self.inner = inner
        self.tenant = tenant
        self.audit = for_realm(audit, tenant.realm)

    def __repr__(self) -> str:
        return f"TenantMailer({self.inner!r}, realm={self.tenant.realm!r})"

    def send(self, message: OutgoingMail) -> None:
        """Deliver ``message``, or audit and raise MailOutsideDomain without sending."""
        if not self.tenant.allows_email(message.to):
            reason = ("outside_domain" if is_single_addr_spec(message.to.strip())
                      else "not_one_address")
            self.audit.record(
                AuditEvent.MAIL_REFUSED_OUTSIDE_DOMAIN,
                subject=message.about or None, outcome=Outcome.DENIED,
                template=message.template or None, reason=reason,
            )
            log.warning("%s mail in %s not sent: recipient %s", message.template or "a",
                        self.tenant.realm, reason.replace("_", " "))
            raise MailOutsideDomain(
                f"{self.tenant.realm}: recipient outside the state's email domains "
                f"({reason}); nothing sent")
        self.inner.send(message)


def for_tenant(mailer: MailSender, tenant: Tenant,
               audit: AuditLog | RealmAudit) -> TenantMailer:
    """Return ``mailer`` guarded for ``tenant`` (unchanged if it already is, with ``audit``)."""
    if isinstance(mailer, TenantMailer):
        inner_log = audit.log if isinstance(audit, RealmAudit) else audit
        if mailer.tenant.realm == tenant.realm and mailer.audit.log is inner_log:
            return mailer
        mailer = mailer.inner
    return TenantMailer(mailer, tenant, audit)
