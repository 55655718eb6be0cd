"""Outgoing email: messages, senders, templates, and the development inbox."""

from idp_extension.mail.errors import MailError, MailRejected, MailUnavailable
from idp_extension.mail.message import OutgoingMail, build_mime
from idp_extension.mail.render import RenderedEmail, compose_email, render_email
from idp_extension.mail.sender import (
    MailSender,
    MemoryMailSender,
    SmtpMailSender,
    mail_sender_from_settings,
)

__all__ = [
    "MailError",
    "MailRejected",
    "MailSender",
    "MailUnavailable",
    "MemoryMailSender",
    "OutgoingMail",
    "RenderedEmail",
    "SmtpMailSender",
    "build_mime",
    "compose_email",
    "mail_sender_from_settings",
    "render_email",
]
