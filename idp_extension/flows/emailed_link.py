"""What the two emailed-link flows (activation, password recovery) share.

Both email a signed, single-use, 30-minute link to the registered address, answer a
request alike for every valid ID after the same minimum time (the sending itself runs
in ``ctx.work``: a slow or failed send neither delays nor changes the answer), and open
the link at
``<public url>/<realm>/<page>/link/<token>``. Each flow subclasses ``EmailedLinkContext``
with its own ``purpose`` (which salts its links, so one flow's link never opens the
other) and ``page``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, ClassVar, Optional, TypeVar

from argon2 import PasswordHasher

from idp_extension.audit import AuditEvent, AuditLog, Outcome
from idp_extension.flows.answers import DEFAULT_HASHER
from idp_extension.flows.ports import (
    BackgroundWork, Clock, InlineWork, MailSender, OneTimeClaims, SystemClock,
    UserDirectoryPort,
)
from idp_extension.flows.tokens import LinkSigner
from idp_extension.mail.guard import for_tenant
from idp_extension.settings import Settings
from idp_extension.tenants import Tenant

# Long enough to cover the real path (lookup, SMTP, attribute write) at its usual pace,
# so that a decoy answer takes as long as a real one (ASVS 6.3.8).
DEFAULT_MIN_REQUEST_SECONDS = 0.35

Context = TypeVar("Context", bound="EmailedLinkContext")


@dataclass(frozen=True)
class EmailedLinkContext:
    """Everything a flow's verbs need for one realm; build one per request, cheaply."""

    purpose: ClassVar[str]
    page: ClassVar[str]

    tenant: Tenant
    secret_key: str
    # The sidecar's public base URL (settings.sidecar_public_url): links in emails.
    public_url: str
    directory: UserDirectoryPort
    mailer: MailSender
    audit: AuditLog
    # One per app (claims_from_uri(settings.ratelimit_storage_uri)), never per request.
    claims: OneTimeClaims
    clock: Clock = field(default_factory=SystemClock)
    min_request_seconds: float = DEFAULT_MIN_REQUEST_SECONDS
    answer_hasher: PasswordHasher = DEFAULT_HASHER
    # Where the sending runs (the web layer passes its ThreadedWork).
    work: BackgroundWork = field(default_factory=InlineWork)

    def __post_init__(self) -> None:
        # Every mail of this realm's flows goes through the domain guard (mail/guard.py).
        object.__setattr__(self, "mailer", for_tenant(self.mailer, self.tenant, self.audit))

    @classmethod
    def from_settings(cls: type[Context], settings: Settings, tenant: Tenant,
                      **services: Any) -> Context:
        """Build a context from the app's settings plus its services (directory, ...)."""
        return cls(tenant=tenant, secret_key=settings.secret_key,
                   public_url=settings.sidecar_public_url, **services)

    @property
    def realm(self) -> str:
        return self.tenant.realm

    @property
    def link_lifetime(self) -> timedelta:
        return timedelta(minutes=self.tenant.activation_link_minutes)

    def signer(self) -> LinkSigner:
        return LinkSigner(self.secret_key, self.purpose, self.link_lifetime, self.clock)

    def link_url(self, token: str) -> str:
        """The link in the email; the token is in the path, never the query string."""
        return f"{self.public_url.rstrip('/')}/{self.realm}/{self.page}/link/{token}"

    def request_url(self) -> str:
        """The page where a new link is asked for."""
        return f"{self.public_url.rstrip('/')}/{self.realm}/{self.page}"


Task = Optional[Callable[[], None]]


def answered_after_the_floor(floor: float, clock: Clock, work: BackgroundWork,
                             look_up: Callable[[], Task]) -> None:
    """Run ``look_up``, then the task it returns in ``work``; return after ``floor`` seconds.

    ``look_up`` decides, the same way for every ID (one directory lookup), and returns
    the sending to do or None. Its errors (Keycloak down: the same for every ID) reach
    the caller. The sending gets what is left of the floor; if it takes longer, it goes
    on in the background and the answer leaves on time anyway, so neither its duration
    nor its failure (recorded by the task itself) shows in the answer.
    """
    started = clock.monotonic()
    try:
        task = look_up()
        if task is not None:
            work.run(task, within=floor - (clock.monotonic() - started))
    finally:
        clock.sleep(max(0.0, floor - (clock.monotonic() - started)))


def record_send_failure(audit: AuditLog, realm: str, subject: str, purpose: str,
                        reason: str) -> None:
    """Record ``mail:send:failed``: the answer did not change, so state IT must be told."""
    audit.record(AuditEvent.MAIL_SEND_FAILED, realm=realm, subject=subject,
                 outcome=Outcome.FAILURE, purpose=purpose, reason=reason)
