"""The shared flow level: what every flow raises and how every flow reads an ID.

Activation, recovery, first login and the settings are peers: none imports another.
What they have in common lives here (form and link errors, the one confirmation a link
request gets, ID normalisation and the per-ID rate-limit key), in ``emailed_link``
(link requests and sending), ``phrases`` (secret phrase and image rules),
``identifiers`` (login IDs and emails), ``answers``, ``password_rules``, ``tokens``,
``notifications`` and the ports (``ports``). The sentences behind the codes are in
``idp_extension/messages/flows`` (one catalogue per locale).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from argon2 import PasswordHasher

from idp_extension.audit import AuditEvent, AuditLog, Outcome, RealmAudit, for_realm
from idp_extension.errors import BadRequest, InternalError, IspeksError
from idp_extension.flows.answers import DEFAULT_HASHER
from idp_extension.flows.password_rules import RuleFailure
from idp_extension.flows.ports import (
    Clock, MailSender, OneTimeClaims, PageUrls, SystemClock, UserDirectoryPort,
)
from idp_extension.flows.tokens import LinkError, LinkPayload, LinkSigner, LinkUsedOrSuperseded
from idp_extension.gateway.errors import GatewayError, KeycloakUnavailable
from idp_extension.gateway.users import DirectoryUser
from idp_extension.mail.guard import for_tenant
from idp_extension.payroll import InvalidUserId, normalise_mykad
from idp_extension.tenants import Tenant

log = logging.getLogger(__name__)

# Claims outlive the link a little, so that no clock skew between workers reopens one.
CLAIM_MARGIN_SECONDS = 60

# A flow's audit of a refused step: (ctx, subject or None, step, reason, **details).
RecordFailure = Callable[..., None]


# -- the context every flow's verbs take -------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TenantFlowContext:
    """What every flow's verbs need for one tenant; each flow's context adds its own.

    Built per request, cheaply. The audit log is bound to the tenant's realm (no call
    names it by hand) and every mail goes through the tenant's domain guard.
    """

    tenant: Tenant
    directory: UserDirectoryPort
    mailer: MailSender
    audit: AuditLog | RealmAudit  # bound to the tenant's realm on construction
    clock: Clock = field(default_factory=SystemClock)
    answer_hasher: PasswordHasher = DEFAULT_HASHER
    # The sidecar's pages for this tenant (links in emails): the web layer's own routes.
    urls: PageUrls | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "audit", for_realm(self.audit, self.tenant.realm))
        object.__setattr__(self, "mailer", for_tenant(self.mailer, self.tenant, self.audit))

    @property
    def realm(self) -> str:
        return self.tenant.realm


# -- form errors -----------------------------------------------------------------------


class ValidationFailed(BadRequest, code="error.validation_failed"):
    """One or more form fields are wrong; ``field_errors`` maps field -> message key."""

    def __init__(self, field_errors: Mapping[str, str], detail: str | None = None) -> None:
        super().__init__(detail or f"invalid fields: {sorted(field_errors)}")
        self.field_errors = dict(field_errors)


class InvalidUserIdError(ValidationFailed, code="activation.invalid_id"):
    """The ID is not a valid 12-digit MyKad number."""

    def __init__(self) -> None:
        super().__init__({"user_id": self.code}, "malformed user ID")


class QuestionsInvalid(ValidationFailed, code="activation.questions_invalid"):
    """The three questions and answers do not meet the rules."""


class PasswordRulesFailed(ValidationFailed, code="password.rules_not_met"):
    """The password breaks our rules (checked before Keycloak sees it)."""

    def __init__(self, failures: Sequence[RuleFailure]) -> None:
        self.failures = tuple(failures)
        fields: dict[str, str] = {}
        for failure in self.failures:
            field_name = "confirm" if failure.rule == "confirm" else "password"
            fields.setdefault(field_name, failure.message_key)
        super().__init__(fields, f"password rules broken: {[f.rule for f in self.failures]}")


class PasswordRejectedByPolicy(ValidationFailed, code="password.rejected_by_policy"):
    """Keycloak's password policy refused the password; ``reason_key`` says why."""

    def __init__(self, reason_key: str) -> None:
        self.reason_key = reason_key
        super().__init__({"password": reason_key}, f"Keycloak policy: {reason_key}")


class AccountDisabled(IspeksError, code="activation.account_disabled", status=403):
    """The account of a genuine link has been disabled (by state IT or a lockout)."""


# -- link requests ---------------------------------------------------------------------


@dataclass(frozen=True)
class LinkRequested:
    """The confirmation: one and the same for every valid ID, whatever happened.

    It names no address, not even masked: a masked real address next to a made-up one
    for other IDs told them apart (README, "The same answer for every ID").
    """


# -- IDs -------------------------------------------------------------------------------


def parse_mykad(raw_id: str) -> str:
    """Return the 12 digits of a MyKad number, or raise InvalidUserIdError (shown at once:
    the format is public)."""
    try:
        return normalise_mykad(raw_id)
    except InvalidUserId:
        raise InvalidUserIdError() from None


def keyed_id(secret_key: str, scope: str, prefix: str, realm: str, subject: str) -> str:
    """The rate-limit key of one (normalised) ID: a keyed hash, so Redis holds no IDs."""
    digest = hmac.new(secret_key.encode(), f"ratelimit:{scope}{subject}".encode(), hashlib.sha256)
    return f"{prefix}-id:{realm}:{digest.hexdigest()[:32]}"


def id_rate_limit_key(secret_key: str, realm: str, raw_id: str) -> str:
    """Return the rate-limit key for link requests about one ID (Flask-Limiter's key_func).

    The ID is normalised first, so "900101-06-1234" and "900101061234" share a counter,
    and keyed-hashed, so Redis never holds ID numbers. Activation and recovery share it
    (one mailbox: counted together).
    """
    try:
        subject = normalise_mykad(raw_id)
    except InvalidUserId:
        subject = (raw_id or "").strip()[:64]
    return keyed_id(secret_key, f"{realm}:", "activation", realm, subject)


# -- the steps of an emailed link (activation, recovery) -------------------------------


class LinkStep(enum.StrEnum):
    """Where a user is in an emailed-link flow: the link was sent, then the security
    questions (set in activation, answered in recovery), then the password."""

    LINK_SENT = "link_sent"
    QUESTIONS = "questions"
    PASSWORD = "password"
    COMPLETED = "completed"


@dataclass(frozen=True)
class LinkFlow:
    """Whom an emailed link is for; each flow's record adds where they are in it."""

    realm: str
    user_uuid: str
    user_id: str
    name: str


def read_link(ctx: TenantFlowContext, signer: LinkSigner, token: str, *, step: str,
              failed: RecordFailure) -> LinkPayload:
    """The payload of a genuine, unexpired link of this realm; a LinkError (audited by
    ``failed``) otherwise."""
    try:
        return signer.read(token, ctx.realm)
    except LinkError as exc:
        failed(ctx, None, step, exc.suffix)
        raise


def link_user(ctx: TenantFlowContext, payload: LinkPayload, purpose: str, *, step: str,
              failed: RecordFailure) -> DirectoryUser:
    """The link's user as Keycloak has it now; LinkUsedOrSuperseded if it was deleted since
    the link was sent (KeycloakUnavailable passes: a retry works)."""
    try:
        return ctx.directory.get(payload.sub)
    except KeycloakUnavailable:
        raise
    except GatewayError as exc:
        log.info("%s link for a user Keycloak does not return: %s", purpose, exc)
        failed(ctx, None, step, "user_gone")
        raise LinkUsedOrSuperseded(purpose, "user not found") from None


def claim_submission(ctx: TenantFlowContext, claims: OneTimeClaims, payload: LinkPayload,
                     purpose: str, subject: str, *, failed: RecordFailure) -> tuple[str, int]:
    """One submission per link at a time, across workers: claim the link until it expires.

    Returns the claim (released by the caller when the submission fails, so that a retry
    gets in) and its lifetime in seconds. A second concurrent submission changes
    nothing: LinkUsedOrSuperseded, audited as ``concurrent_submission``.
    """
    ttl = payload.seconds_left(ctx.clock.now()) + CLAIM_MARGIN_SECONDS
    claim = f"{purpose}:{ctx.realm}:{payload.nonce_digest}"
    if not claims.claim(claim, ttl):
        failed(ctx, subject, "password", "concurrent_submission")
        raise LinkUsedOrSuperseded(purpose, "another submission of this link is in progress")
    return claim, ttl


def lift_lockout(ctx: TenantFlowContext, user: DirectoryUser, *, step: str, reason: str) -> None:
    """Lift Keycloak's permanent lockout of ``user`` (audited); InternalError if it stays."""
    unlocked = ctx.directory.unlock(user.id)
    if not unlocked.enabled:
        raise InternalError("the permanent lockout was not lifted")
    ctx.audit.record(AuditEvent.ACCOUNT_UNLOCKED, subject=user.user_id,
                     outcome=Outcome.SUCCESS, step=step, reason=reason)
