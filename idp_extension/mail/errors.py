"""Errors raised when a message cannot be handed to the SMTP server."""

from __future__ import annotations

from idp_extension.errors import IspeksError, ServiceUnavailable


class MailError(IspeksError):
    """A message could not be sent."""


class MailUnavailable(MailError, ServiceUnavailable):
    """The SMTP server is down, unreachable, too slow or refused us for now: retry later."""


class MailRejected(MailError):
    """The SMTP server permanently refused the message (e.g. an unknown recipient)."""

    code = "error.mail_rejected"
    http_status = 502
