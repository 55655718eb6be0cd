"""Errors raised when a message cannot be handed to the SMTP server."""

from __future__ import annotations

from idp_extension.errors import IspeksError, ServiceUnavailable


class MailError(IspeksError):
    """A message could not be sent."""


class MailUnavailable(MailError, ServiceUnavailable):
    """The SMTP server is down, unreachable, too slow or refused us for now: retry later."""


class MailRejected(MailError, code="error.mail_rejected", status=502):
    """The SMTP server permanently refused the message (e.g. an unknown recipient)."""

    # What the flows' audit events say about it.
    reason = "mail_rejected"


class MailOutsideDomain(MailRejected):
    """The recipient is not one address inside the state's email domains: nothing sent.

    A kind of MailRejected, so every flow answers exactly as for a mailbox the relay
    refuses (the same page as a sent mail where the flow must not tell accounts apart).
    """

    reason = "outside_domain"
