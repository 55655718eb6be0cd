"""The message we send, and its MIME form (multipart/alternative: text, then HTML)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from types import MappingProxyType
from typing import Mapping

# Headers build_mime sets itself; a caller overriding them would forge the envelope.
_RESERVED_HEADERS = frozenset(
    {"from", "to", "subject", "date", "message-id", "mime-version", "content-type",
     "content-transfer-encoding", "sender", "bcc", "cc"}
)


@dataclass(frozen=True)
class OutgoingMail:
    """One email to one person: both a plain-text and an HTML body."""

    to: str
    subject: str
    text: str
    html: str
    headers: Mapping[str, str] = field(default_factory=dict)
    # Never sent: which template this is and whose account it concerns (the user ID),
    # for the audit event of a refused mail.
    template: str = ""
    about: str = ""

    def __post_init__(self) -> None:
        if not self.to or "@" not in self.to:
            raise ValueError(f"not an email address: {self.to!r}")
        for value in (self.to, self.subject):
            if "\r" in value or "\n" in value:
                raise ValueError("line breaks are not allowed in the recipient or subject")
        clashing = {name for name in self.headers if name.lower() in _RESERVED_HEADERS}
        if clashing:
            raise ValueError(f"headers set by the sender itself: {sorted(clashing)}")
        # Frozen means frozen: the caller's dict must not change the message later.
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))


def build_mime(
    message: OutgoingMail, from_addr: str, from_name: str = "", *, now: datetime | None = None
) -> EmailMessage:
    """Return ``message`` as a UTF-8 multipart/alternative email ready for SMTP."""
    mime = EmailMessage(policy=SMTP)
    username, _, domain = from_addr.rpartition("@")
    mime["From"] = Address(display_name=from_name, username=username, domain=domain)
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = format_datetime(now or datetime.now(timezone.utc))
    mime["Message-ID"] = make_msgid(domain=domain or None)
    # RFC 3834: tells auto-responders (out-of-office on shared mailboxes) not to reply.
    mime["Auto-Submitted"] = "auto-generated"
    for name, value in message.headers.items():
        mime[name] = value
    mime.set_content(message.text, subtype="plain", charset="utf-8")
    mime.add_alternative(message.html, subtype="html", charset="utf-8")
    return mime
