"""What the two emailed-link flows (activation, password recovery) share.

Both email a signed, single-use, 30-minute link to the registered address, answer a
request alike for every valid ID after the same minimum time (the sending itself runs
in ``ctx.work``: a slow or failed send neither delays nor changes the answer), and open
the link the web layer serves at ``link_endpoint`` (``<public url>/<realm>/<page>/link/
<token>``, built by the context's ``urls`` from that route, never by hand). Each flow
subclasses ``EmailedLinkContext`` with its own ``purpose`` (which salts its links, so one
flow's link never opens the other) and endpoints; ``request_link`` does the rest, given
who is eligible and what the email says.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, ClassVar, Optional, TypeVar

from idp_extension.attributes import nonce_attribute
from idp_extension.audit import AuditEvent, Outcome, RealmAudit
from idp_extension.errors import InternalError
from idp_extension.flows.common import LinkRequested, TenantFlowContext, parse_mykad
from idp_extension.flows.ports import (
    BackgroundWork, Clock, InlineWork, OneTimeClaims, public_pages,
)
from idp_extension.flows.tokens import IssuedLink, LinkSigner
from idp_extension.gateway.errors import GatewayError, KeycloakUnavailable
from idp_extension.gateway.users import DirectoryUser
from idp_extension.i18n import DEFAULT_LOCALE, normalize_locale
from idp_extension.mail.errors import MailRejected, MailUnavailable
from idp_extension.mail.render import compose_email
from idp_extension.settings import Settings
from idp_extension.tenants import Tenant

log = logging.getLogger(__name__)

# Long enough to cover the real path (lookup, SMTP, attribute write) at its usual pace,
# so that a decoy answer takes as long as a real one (ASVS 6.3.8).
DEFAULT_MIN_REQUEST_SECONDS = 0.35

Context = TypeVar("Context", bound="EmailedLinkContext")


@dataclass(frozen=True)
class EmailedLinkContext(TenantFlowContext):
    """An emailed-link flow's context (tenant, directory, mailer, audit: the base's)."""

    purpose: ClassVar[str]
    # The web layer's endpoints of the emailed link and of the page asking for one.
    link_endpoint: ClassVar[str]
    request_endpoint: ClassVar[str]

    secret_key: str
    # One per app (claims_from_uri(settings.ratelimit_storage_uri)), never per request.
    claims: OneTimeClaims
    min_request_seconds: float = DEFAULT_MIN_REQUEST_SECONDS
    # Where the sending runs (the web layer passes its ThreadedWork).
    work: BackgroundWork = field(default_factory=InlineWork)

    @classmethod
    def from_settings(cls: type[Context], settings: Settings, tenant: Tenant,
                      **services: Any) -> Context:
        """Build a context from the app's settings plus its services (directory, ...).

        Without ``urls`` (the CLI, reminders) the links are built from the mailed pages'
        routes on ``settings.sidecar_public_url``.
        """
        urls = services.pop("urls", None) or public_pages(settings.sidecar_public_url,
                                                          tenant.realm)
        return cls(tenant=tenant, secret_key=settings.secret_key, urls=urls, **services)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.urls is None:
            raise TypeError(f"{type(self).__name__} needs urls: its emails carry links")

    @property
    def nonce_attribute(self) -> str:
        """The user attribute holding the digest of this flow's current link."""
        return nonce_attribute(self.purpose)

    @property
    def link_lifetime(self) -> timedelta:
        return timedelta(minutes=self.tenant.activation_link_minutes)

    def signer(self) -> LinkSigner:
        return LinkSigner(self.secret_key, self.purpose, self.link_lifetime, self.clock)

    def link_url(self, token: str) -> str:
        """The link in the email; the token is in the path, never the query string."""
        return self.urls.url(self.link_endpoint, token=token)

    def request_url(self) -> str:
        """The page where a new link is asked for."""
        return self.urls.url(self.request_endpoint)


# The sending a lookup leaves to do (its result is not waited for), or None.
Task = Optional[Callable[[], object]]


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


def record_send_failure(audit: RealmAudit, subject: str, purpose: str, reason: str) -> None:
    """Record ``mail:send:failed``: the answer did not change, so state IT must be told."""
    audit.record(AuditEvent.MAIL_SEND_FAILED, subject=subject,
                 outcome=Outcome.FAILURE, purpose=purpose, reason=reason)


# -- link requests ---------------------------------------------------------------------

@dataclass(frozen=True)
class SendOutcome:
    """What became of one link for one user: for state IT (the web answers alike)."""

    sent: bool
    # Why not: "unknown", "disabled", "not_pending", "no_email", "mail_unavailable", a
    # refusal of the mail server, "keycloak_unavailable", ...
    reason: str | None = None


# What the email says besides the common fields: (user, the issued link, locale) -> fields.
MailFields = Callable[[DirectoryUser, IssuedLink, str], dict[str, Any]]


def request_link(ctx: EmailedLinkContext, raw_id: str, locale: str, *, event: AuditEvent,
                 ineligible: Callable[[DirectoryUser | None], str | None],
                 mail_fields: MailFields) -> LinkRequested:
    """Email a link to an eligible account; answer alike for every valid ID.

    Raises InvalidUserIdError (a malformed ID: shown at once, the format is public) or
    KeycloakUnavailable (the lookup failed, the same for every ID: 503). A send that
    fails or is slow changes nothing in the answer: it is audited (``event``) instead.
    ``ineligible`` says why a user gets no email, or None.
    """
    user_id = parse_mykad(raw_id)
    locale = normalize_locale(locale) or DEFAULT_LOCALE

    def look_up() -> Task:
        user, _ = _eligible_user(ctx, user_id, event, ineligible)
        if user is None:
            return None
        return lambda: send_link(ctx, user, user_id, locale, event=event,
                                 mail_fields=mail_fields)

    answered_after_the_floor(ctx.min_request_seconds, ctx.clock, ctx.work, look_up)
    return LinkRequested()


def send_link_now(ctx: EmailedLinkContext, user_id: str, locale: str, *, event: AuditEvent,
                  ineligible: Callable[[DirectoryUser | None], str | None],
                  mail_fields: MailFields) -> SendOutcome:
    """Send a link to ``user_id`` at once, and say what became of it (state IT's CLI).

    Unlike ``request_link`` (which answers alike for every ID), the outcome names the
    reason; it is audited the same way.
    """
    user_id = parse_mykad(user_id)
    locale = normalize_locale(locale) or DEFAULT_LOCALE
    user, reason = _eligible_user(ctx, user_id, event, ineligible)
    if user is None:
        return SendOutcome(False, reason)
    return send_link(ctx, user, user_id, locale, event=event, mail_fields=mail_fields)


def _eligible_user(ctx: EmailedLinkContext, user_id: str, event: AuditEvent,
                   ineligible: Callable[[DirectoryUser | None], str | None],
                   ) -> tuple[DirectoryUser | None, str | None]:
    """The user to email, or None and why not (audited): one lookup, the same for every ID."""
    user = ctx.directory.find(user_id)
    reason = ineligible(user)
    if user is None or reason:
        ctx.audit.record(event, subject=user_id, outcome=Outcome.DENIED, result="ignored",
                         reason=reason)
        return None, reason
    return user, None


def send_link(ctx: EmailedLinkContext, user: DirectoryUser, user_id: str, locale: str, *,
              event: AuditEvent, mail_fields: MailFields) -> SendOutcome:
    """Store a new link's nonce digest, then email the link (template ``ctx.purpose``).

    Every outcome is audited (``event``) and returned.
    """
    # Nothing half-done, and no race with a quick click: the nonce digest is stored
    # first, so the link works the moment the email arrives. If the send then fails, the
    # previous digest is put back (the older link, if any, works again); the new token
    # was never disclosed, so a digest left behind by a failed restore opens nothing.
    attribute = ctx.nonce_attribute
    issued = ctx.signer().issue(ctx.realm, user.id)
    previous = user.first(attribute)
    try:
        stored = ctx.directory.update_attributes(
            user.id, {attribute: [issued.payload.nonce_digest]})
    except GatewayError as exc:
        reason = "keycloak_unavailable" if isinstance(exc, KeycloakUnavailable) else "keycloak_error"
        ctx.audit.record(event, subject=user_id,
                         outcome=Outcome.FAILURE, result="not_sent", reason=reason)
        return SendOutcome(False, reason)
    now_stored = stored.first(attribute)
    if now_stored is None:
        raise InternalError(f"{attribute} was not stored: is it declared in the profile?")
    if now_stored != issued.payload.nonce_digest:
        # A newer request for the same user stored its link meanwhile (two clicks, or a
        # reminder): that one is the link that works, and its own send emails it.
        ctx.audit.record(event, subject=user_id,
                         outcome=Outcome.SUCCESS, result="superseded")
        return SendOutcome(False, "superseded")
    message = compose_email(
        ctx.purpose, locale, to=user.email, about=user.user_id,
        recipient_name=user.name or user.user_id,
        state_name=ctx.tenant.state_name,
        link=ctx.link_url(issued.token),
        minutes=ctx.tenant.activation_link_minutes,
        request_url=ctx.request_url(),
        **mail_fields(user, issued, locale),
    )
    try:
        ctx.mailer.send(message)
    except (MailUnavailable, MailRejected) as exc:
        # Unavailable: the relay is down (the user asks again later). Rejected: the
        # server refuses this address for good (a dead mailbox; state IT sees it).
        # Rejected also covers an address outside the state's domains (mail/guard.py).
        reason = exc.reason if isinstance(exc, MailRejected) else "mail_unavailable"
        restored = _restore_nonce(ctx, user, previous)
        record_send_failure(ctx.audit, user_id, ctx.purpose, reason)
        ctx.audit.record(event, subject=user_id,
                         outcome=Outcome.FAILURE, result="not_sent", reason=reason,
                         restored=restored)
        return SendOutcome(False, reason)
    ctx.audit.record(event, subject=user_id,
                     outcome=Outcome.SUCCESS, result="sent")
    return SendOutcome(True)


def _restore_nonce(ctx: EmailedLinkContext, user: DirectoryUser, previous: str | None) -> bool:
    """Put the digest of the previous link back (best effort); True if it worked."""
    try:
        ctx.directory.update_attributes(
            user.id, {ctx.nonce_attribute: [previous] if previous else None})
        return True
    except GatewayError as exc:
        log.warning("could not restore the previous link after a failed send: %s",
                    type(exc).__name__)
        return False
