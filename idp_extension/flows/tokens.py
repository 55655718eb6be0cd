"""Link tokens: signed, purpose-salted, expiring, single use (DESIGN.md convention 8).

A token is an itsdangerous signature over ``{realm, sub, nonce, iat}`` with the salt
``ispeks:<purpose>``, so an activation token never verifies as a recovery token. The
expiry is checked here against the injected clock (not itsdangerous' own time) so tests
can move time. Single use is the caller's half of the bargain: the user attribute
``ispeks_nonce_<purpose>`` holds the SHA-256 digest of the one current nonce; a newer
link overwrites it (the older one is superseded) and completion deletes it (used).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import ClassVar

from itsdangerous import BadSignature, URLSafeSerializer

from idp_extension.attributes import nonce_attribute  # noqa: F401  (re-exported)
from idp_extension.errors import IspeksError
from idp_extension.flows.ports import Clock

# Far longer than any token we issue (about 180 characters); refuse bigger input unread.
MAX_TOKEN_LENGTH = 1024
NONCE_BYTES = 16  # 128 bits (ASVS 11.5.1)


def nonce_digest(nonce: str) -> str:
    """Return the hex SHA-256 of ``nonce``: what Keycloak stores instead of the nonce."""
    return hashlib.sha256(nonce.encode("ascii")).hexdigest()


class LinkError(IspeksError, status=400):
    """A link that cannot be used; the page offers to request a new one."""

    suffix: ClassVar[str] = "link_invalid"

    def __init__(self, purpose: str, detail: str | None = None) -> None:
        # The code names the flow ("activation.link_expired") so that each flow's page
        # can say how to get a new link; set before the base class reads it.
        self.code = f"{purpose}.{self.suffix}"  # type: ignore[misc]
        self.purpose = purpose
        super().__init__(detail)


class LinkMissing(LinkError, suffix="link_missing"):
    """A flow's page was opened without following its emailed link first (no cookie)."""


class LinkTampered(LinkError, suffix="link_tampered"):
    """The signature, the purpose or the payload does not check out."""


class LinkWrongRealm(LinkError, suffix="link_wrong_realm"):
    """A genuine link of another state's realm."""


class LinkExpired(LinkError, suffix="link_expired", status=410):
    """A genuine link older than its lifetime."""


class LinkUsedOrSuperseded(LinkError, suffix="link_used", status=410):
    """A genuine, unexpired link whose nonce is no longer the user's current one."""


@dataclass(frozen=True)
class LinkPayload:
    """What a verified token says."""

    purpose: str
    realm: str
    sub: str
    nonce: str
    issued_at: datetime
    expires_at: datetime

    @property
    def nonce_digest(self) -> str:
        return nonce_digest(self.nonce)

    def seconds_left(self, now: datetime) -> int:
        return max(0, int((self.expires_at - now).total_seconds()))


@dataclass(frozen=True)
class IssuedLink:
    token: str
    payload: LinkPayload


class LinkSigner:
    """Issue and read the link tokens of one purpose."""

    def __init__(self, secret_key: str, purpose: str, lifetime: timedelta, clock: Clock) -> None:
        if not secret_key:
            raise ValueError("a secret key is required to sign links")
        self.purpose = purpose
        self.lifetime = lifetime
        self._clock = clock
        self._serializer = URLSafeSerializer(secret_key, salt=f"ispeks:{purpose}")

    def issue(self, realm: str, sub: str) -> IssuedLink:
        """Return a new token for user ``sub`` of ``realm`` with a fresh nonce."""
        nonce = secrets.token_urlsafe(NONCE_BYTES)
        issued = self._clock.now().replace(microsecond=0)
        token = self._serializer.dumps(
            {"realm": realm, "sub": sub, "nonce": nonce, "iat": int(issued.timestamp())}
        )
        return IssuedLink(token, self._payload(realm, sub, nonce, issued))

    def read(self, token: str, realm: str) -> LinkPayload:
        """Return the payload of a genuine, unexpired token of ``realm``, or raise."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise LinkTampered(self.purpose, "empty or oversized token")
        try:
            data = self._serializer.loads(token)
        except BadSignature:
            raise LinkTampered(self.purpose, "bad signature or purpose") from None
        try:
            token_realm, sub, nonce, iat = data["realm"], data["sub"], data["nonce"], data["iat"]
            if not all(isinstance(v, str) and v for v in (token_realm, sub, nonce)):
                raise TypeError("empty field")
            issued = datetime.fromtimestamp(int(iat), timezone.utc)
        except (KeyError, TypeError, ValueError, OverflowError, OSError):
            raise LinkTampered(self.purpose, "malformed payload") from None
        if token_realm != realm:
            raise LinkWrongRealm(self.purpose, f"link of realm {token_realm!r}")
        payload = self._payload(token_realm, sub, nonce, issued)
        if self._clock.now() > payload.expires_at:
            raise LinkExpired(self.purpose, f"expired at {payload.expires_at.isoformat()}")
        return payload

    def _payload(self, realm: str, sub: str, nonce: str, issued: datetime) -> LinkPayload:
        return LinkPayload(self.purpose, realm, sub, nonce, issued, issued + self.lifetime)


def check_current(payload: LinkPayload, stored_digest: str | None) -> None:
    """Raise LinkUsedOrSuperseded unless ``payload``'s nonce is the one Keycloak holds."""
    if not stored_digest or not hmac.compare_digest(payload.nonce_digest, stored_digest):
        raise LinkUsedOrSuperseded(payload.purpose, "nonce is not the current one")
