"""Notification emails after a security change ("was this you?"), for recovery and settings.

One template, ``security_change``, names the change: ``password`` (changed in the
settings), ``password_reset`` (recovery), ``questions``, ``site_key`` (phrase and image),
``locked`` (recovery refused after three wrong answers) and ``totp_reset`` (state IT's
``users reset-otp``), ``totp_enabled``, ``totp_disabled`` (settings). The email names the person
and the ID (departments share mailboxes, manual 004), says when, and what to do if it
was not them. It never carries the new value.

Sending is best effort: the change is already made when the email goes, so a mail
outage must not turn a success into an error page. ``notify`` returns whether it went,
for the caller's audit event.
"""

from __future__ import annotations

import logging
from datetime import datetime

from idp_extension.gateway.users import DirectoryUser
from idp_extension.i18n import MALAYSIA, format_email_date  # noqa: F401  (MALAYSIA: callers)
from idp_extension.mail.errors import MailError
from idp_extension.mail.render import compose_email
from idp_extension.mail.sender import MailSender
from idp_extension.tenants import Tenant

log = logging.getLogger(__name__)

TEMPLATE = "security_change"
CHANGES = ("password", "password_reset", "questions", "site_key", "locked",
           # TOTP (issue 12): reset by state IT, turned on or off in the settings.
           "totp_reset", "totp_enabled", "totp_disabled")


def notify(mailer: MailSender, tenant: Tenant, user: DirectoryUser, change: str, locale: str,
           when: datetime, *, recovery_url: str) -> bool:
    """Email ``user`` that ``change`` happened at ``when``; True if the email went out."""
    if change not in CHANGES:
        raise ValueError(f"unknown security change {change!r}")
    if "@" not in (user.email or ""):
        return False
    message = compose_email(
        TEMPLATE, locale, to=user.email, about=user.user_id,
        recipient_name=user.name or user.user_id,
        user_id=user.user_id,
        state_name=tenant.state_name,
        change=change,
        changed_at=format_email_date(when.astimezone(MALAYSIA), locale),
        recovery_url=recovery_url,
        helpdesk=tenant.helpdesk,
    )
    try:
        mailer.send(message)
    except MailError as exc:
        log.warning("security notification %s not sent: %s", change, type(exc).__name__)
        return False
    return True
