"""What the two emailed-link flows (activation, password recovery) share.

Both email a signed, single-use, 30-minute link to the registered address, answer a
request alike for every valid ID after the same minimum time, and open the link at
``<public url>/<realm>/<page>/link/<token>``. Each flow subclasses ``EmailedLinkContext``
with its own ``purpose`` (which salts its links, so one flow's link never opens the
other) and ``page``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, ClassVar, TypeVar

from argon2 import PasswordHasher

from idp_extension.audit import AuditLog
from idp_extension.flows.answers import DEFAULT_HASHER
from idp_extension.flows.ports import (
    Clock, MailSender, OneTimeClaims, SystemClock, UserDirectoryPort,
)
from idp_extension.flows.tokens import LinkSigner
from idp_extension.mail.guard import for_tenant
from idp_extension.settings import Settings
from idp_extension.tenants import Tenant

# Long enough to cover the real path (lookup, SMTP, attribute write) at its usual pace,
# so that a decoy answer takes as long as a real one (ASVS 6.3.8).
DEFAULT_MIN_REQUEST_SECONDS = 0.35

Context = TypeVar("Context", bound="EmailedLinkContext")
T = TypeVar("T")


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


def answered_after_the_floor(ctx: EmailedLinkContext, answer: Callable[[], T]) -> T:
    """Return ``answer()``, never sooner than ``ctx.min_request_seconds`` after the call.

    Real sends and decoys (unknown, ineligible IDs) then leave after the same time.
    """
    started = ctx.clock.monotonic()
    try:
        return answer()
    finally:
        elapsed = ctx.clock.monotonic() - started
        ctx.clock.sleep(max(0.0, ctx.min_request_seconds - elapsed))
