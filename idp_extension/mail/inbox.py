"""A development mail inbox: a real SMTP server on loopback that keeps what it receives.

Used by ``ispeks-idp dev`` (with the web page in ``inbox_web``) and by integration
tests, which send through the real ``SmtpMailSender`` (and Keycloak) and then
``wait_for`` the message. It accepts mail for any address and relays nothing.
"""

from __future__ import annotations

import email
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import getaddresses, parsedate_to_datetime
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # aiosmtpd is a development-only package: imported when started
    from aiosmtpd.smtp import SMTP, Envelope, Session

DEV_EXTRA_HINT = ("pip install -e '.[dev]' in the checkout (scripts/bootstrap does it; "
                  "production installs leave it out)")


class InboxUnavailable(RuntimeError):
    """The development inbox cannot run here: its development-only package is missing."""

DEFAULT_MAX_MESSAGES = 500
_URL = re.compile(r"https?://[^\s<>\"')\]]+")


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the inbox received it, parsed."""

    id: int
    envelope_from: str
    envelope_to: tuple[str, ...]
    from_addr: str
    to: tuple[str, ...]
    subject: str
    text: str
    html: str
    date: datetime
    received_at: datetime
    raw: bytes = field(repr=False)

    @property
    def recipients(self) -> tuple[str, ...]:
        """Envelope and header recipients, lower-cased, without duplicates."""
        return tuple(dict.fromkeys(a.lower() for a in (*self.envelope_to, *self.to)))

    def links(self) -> list[str]:
        """Every http(s) URL in the text body, in order."""
        return _URL.findall(self.text)

    def as_dict(self) -> dict:
        """A JSON-ready view (raw left out)."""
        return {
            "id": self.id,
            "from": self.from_addr,
            "to": list(self.to),
            "envelope_from": self.envelope_from,
            "envelope_to": list(self.envelope_to),
            "subject": self.subject,
            "date": self.date.isoformat(),
            "received_at": self.received_at.isoformat(),
            "text": self.text,
            "html": self.html,
            "links": self.links(),
        }


def parse_message(
    raw: bytes, *, id: int, envelope_from: str, envelope_to: list[str], received_at: datetime
) -> ReceivedMail:
    """Parse the bytes of one SMTP DATA into a ``ReceivedMail``."""
    message: EmailMessage = email.message_from_bytes(raw, policy=default_policy)
    return ReceivedMail(
        id=id,
        envelope_from=envelope_from,
        envelope_to=tuple(envelope_to),
        from_addr=_first_address(message.get_all("From", [])),
        to=tuple(addr for _, addr in getaddresses(message.get_all("To", [])) if addr),
        subject=str(message.get("Subject", "")),
        text=_body(message, "plain"),
        html=_body(message, "html"),
        date=_header_date(message.get("Date")) or received_at,
        received_at=received_at,
        raw=raw,
    )


def _first_address(values: list[str]) -> str:
    addresses = [addr for _, addr in getaddresses(values) if addr]
    return addresses[0] if addresses else ""


def _body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    # SMTP lines end in CRLF; callers compare with Python strings, so use "\n".
    return part.get_content().replace("\r\n", "\n") if part is not None else ""


def _header_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(str(value)).astimezone(timezone.utc)
    except (TypeError, ValueError):
        return None


def _loopback_controller_class() -> type:
    """aiosmtpd's Controller on a socket we bind ourselves, so port 0 works without a race."""
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        raise InboxUnavailable(
            f"the development mail inbox needs aiosmtpd, a development-only package: "
            f"{DEV_EXTRA_HINT}") from None

    class _LoopbackController(Controller):
        def __init__(self, handler, sock: socket.socket, **kwargs) -> None:
            host, port = sock.getsockname()[:2]
            super().__init__(handler, hostname=host, port=port, **kwargs)
            self._sock = sock

        def _create_server(self):
            return self.loop.create_server(self._factory_invoker, sock=self._sock)

    return _LoopbackController


class MailInbox:
    """Receive mail over SMTP on loopback and keep the newest ``max_messages``."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, max_messages: int = DEFAULT_MAX_MESSAGES
    ) -> None:
        self.host = host
        self._port = port
        self._messages: deque[ReceivedMail] = deque(maxlen=max_messages)
        self._next_id = 1
        self._changed = threading.Condition()
        self._controller = None  # aiosmtpd's Controller once started

    @property
    def port(self) -> int:
        """The SMTP port (known once started when created with port 0)."""
        return self._port

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> "MailInbox":
        """Start listening; return self so ``MailInbox().start()`` reads well."""
        if self._controller is not None:
            return self
        controller_class = _loopback_controller_class()
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._port))
            sock.listen(64)
            sock.setblocking(False)
            # A fixed banner name: the default asks DNS for our FQDN, which can stall.
            controller = controller_class(
                _InboxHandler(self), sock, server_hostname="ispeks-dev-inbox"
            )
            controller.start()
        except BaseException:
            sock.close()
            raise
        # Keep the port across stop()/start() so links and settings stay valid.
        self._port = sock.getsockname()[1]
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening; received messages stay readable."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> "MailInbox":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _deliver(self, envelope_from: str, envelope_to: list[str], raw: bytes) -> ReceivedMail:
        with self._changed:
            received = parse_message(
                raw,
                id=self._next_id,
                envelope_from=envelope_from,
                envelope_to=envelope_to,
                received_at=datetime.now(timezone.utc),
            )
            self._next_id += 1
            self._messages.append(received)
            self._changed.notify_all()
        return received

    def messages(self) -> list[ReceivedMail]:
        """Every kept message, oldest first."""
        with self._changed:
            return list(self._messages)

    def get(self, message_id: int) -> ReceivedMail | None:
        """The kept message with ``message_id``, or None."""
        with self._changed:
            return next((m for m in self._messages if m.id == message_id), None)

    @property
    def last_id(self) -> int:
        """Id of the newest message ever received (0 if none): pass as ``after=``."""
        with self._changed:
            return self._next_id - 1

    def clear(self) -> None:
        """Forget every message (ids keep counting up)."""
        with self._changed:
            self._messages.clear()

    def wait_for(
        self,
        predicate: Callable[[ReceivedMail], bool] | None = None,
        *,
        to: str | None = None,
        after: int = 0,
        timeout: float = 10.0,
    ) -> ReceivedMail:
        """Return the oldest message with id > ``after`` matching ``to`` and ``predicate``.

        Blocks until one arrives; raises TimeoutError after ``timeout`` seconds.
        """
        wanted = to.lower() if to else None

        def matches(message: ReceivedMail) -> bool:
            return (
                message.id > after
                and (wanted is None or wanted in message.recipients)
                and (predicate is None or predicate(message))
            )

        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((m for m in self._messages if matches(m)), None)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"no matching message within {timeout}s (to={to!r}, after={after}, "
                        f"{len(self._messages)} kept)"
                    )
                self._changed.wait(remaining)


class _InboxHandler:
    """aiosmtpd handler: accept every recipient, hand the data to the inbox."""

    def __init__(self, inbox: MailInbox) -> None:
        self._inbox = inbox

    async def handle_RCPT(
        self, server: "SMTP", session: "Session", envelope: "Envelope", address: str, rcpt_options
    ) -> str:
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: "SMTP", session: "Session", envelope: "Envelope") -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        self._inbox._deliver(envelope.mail_from or "", list(envelope.rcpt_tos), raw)
        return "250 Message accepted for delivery"
