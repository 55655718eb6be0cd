"""Mail senders: SMTP for real, memory for unit tests (DESIGN.md convention 6)."""

from __future__ import annotations

import smtplib
import ssl
import threading
from typing import Protocol, runtime_checkable

from idp_extension.mail.errors import MailRejected, MailUnavailable
from idp_extension.mail.message import OutgoingMail, build_mime
from idp_extension.metrics import MAIL_SEND, timed


@runtime_checkable
class MailSender(Protocol):
    """Something that delivers an ``OutgoingMail`` or raises a ``MailError``."""

    def send(self, message: OutgoingMail) -> None: ...


class SmtpMailSender:
    """Send through an SMTP server, one connection per message."""

    def __init__(
        self,
        host: str,
        port: int,
        from_addr: str,
        from_name: str = "",
        *,
        starttls: bool = False,
        user: str = "",
        password: str = "",
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.from_addr = from_addr
        self.from_name = from_name
        self.starttls = starttls
        self.user = user
        self._password = password
        self.timeout = timeout

    def __repr__(self) -> str:
        # No password here: reprs end up in logs and tracebacks.
        return f"SmtpMailSender({self.host!r}, {self.port!r}, from_addr={self.from_addr!r})"

    def send(self, message: OutgoingMail) -> None:
        """Deliver ``message``; raise MailUnavailable (retry later) or MailRejected."""
        mime = build_mime(message, self.from_addr, self.from_name)
        with timed(MAIL_SEND, outcome="unavailable") as labels:
            try:
                self._deliver(mime)
            except MailRejected:
                labels["outcome"] = "rejected"
                raise
            labels["outcome"] = "sent"

    def _deliver(self, mime) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self._password)
                smtp.send_message(mime)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            self._raise_for_codes(codes, exc)
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            self._raise_for_codes([exc.smtp_code], exc)
        except (OSError, smtplib.SMTPException) as exc:
            # Connection refused, DNS, timeouts, TLS and auth trouble: all mean "not now"
            # to the user; the detail goes to the log.
            raise MailUnavailable(f"SMTP {self.host}:{self.port}: {exc!r}") from exc

    def _raise_for_codes(self, codes: list[int], exc: Exception) -> None:
        detail = f"SMTP {self.host}:{self.port} refused the message: {exc!r}"
        if codes and all(code >= 500 for code in codes):
            raise MailRejected(detail) from exc
        raise MailUnavailable(detail) from exc


class MemoryMailSender:
    """Keep sent messages in a list, for unit tests; can simulate an outage."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.sent: list[OutgoingMail] = []
        self.fail_with = fail_with
        self._lock = threading.Lock()

    def send(self, message: OutgoingMail) -> None:
        """Keep ``message``, or raise ``fail_with`` if set."""
        if self.fail_with is not None:
            raise self.fail_with
        with self._lock:
            self.sent.append(message)

    def to(self, address: str) -> list[OutgoingMail]:
        """Messages sent to ``address`` (case-insensitive), oldest first."""
        return [m for m in self.sent if m.to.lower() == address.lower()]

    def last(self) -> OutgoingMail | None:
        return self.sent[-1] if self.sent else None


def mail_sender_from_settings(settings) -> SmtpMailSender:
    """Return the SMTP sender ``settings`` describe."""
    return SmtpMailSender(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_from,
        settings.smtp_from_name,
        starttls=settings.smtp_starttls,
        user=settings.smtp_user,
        password=settings.smtp_password,
    )
