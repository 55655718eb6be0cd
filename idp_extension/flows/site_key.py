"""Site key: the secret phrase and online image shown before the password.

::

    ID ──look_up──► find the ID in Keycloak (always, for every ID and every state)
                        │
          ┌─────────────┴──────────────────────────────┐
          ▼                                            ▼
       REAL: an enabled, activated user of a         DECOY: anything else (unknown, pending,
       state that uses phrases, with a phrase        locked or disabled, nothing chosen yet,
       and a gallery image chosen                    a state without phrases)
          └─────────────┬──────────────────────────────┘
                        ▼
       SiteKey(phrase, image): one shape, after the same minimum time

The login page shows the answer on its second step, above the password (manuals 003 and
004: "Frasa Rahsia", "Imej Online"). Whatever the ID, the answer must not tell whether
it belongs to an account: a decoy is derived from the ID with HMAC under the server's
secret, so the same unknown ID gets the same phrase and picture every time, like a real
one, and is written the ways people write their own phrases (``flows.phrase_decoys``:
Malay and English, names and numbers, every case, some punctuation). Both paths do the
same Keycloak lookup and leave after ``min_seconds`` (ASVS 6.3.8).

``AnswerCache`` can keep answers per process, but is off by default (0 s): the lookup
is one indexed Keycloak query, and with several workers a kept decoy would outlive the
moment a pending user registers or an active one changes the phrase in the workers that
did not see the change. The login page keeps what it fetched for a minute instead.

No Flask here (DESIGN.md convention 3): the web layer passes the directory and realm.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Protocol

from idp_extension.errors import BadRequest
from idp_extension.flows.phrases import IMAGE_ATTRIBUTE, PHRASE_ATTRIBUTE
from idp_extension.flows.phrase_decoys import decoy_image_index, decoy_phrase
from idp_extension.gallery import GALLERY, GalleryImage, image_by_id
from idp_extension.gateway.users import ACTIVE, DirectoryUser
from idp_extension.tenants import Tenant

# Longer than any real user ID (12-digit MyKad, company numbers); Keycloak allows 255.
MAX_ID_LENGTH = 64
# Above the usual cost of the lookup (a few tens of ms on a LAN), so that real and
# decoy answers leave at the same moment; short enough not to be felt after a click.
DEFAULT_MIN_SECONDS = 0.25
# Off: see the module docstring. A deployment with one worker may turn it on.
DEFAULT_CACHE_SECONDS = 0.0
DEFAULT_CACHE_SIZE = 10_000

class InvalidSiteKeyId(BadRequest, code="site_key.invalid_id"):
    """The ID is empty or longer than any user ID (a format check, the same for everyone)."""


class Source(enum.Enum):
    """Where an answer came from: for tests and benchmarks only, never sent to a browser."""

    REAL = "real"
    DECOY = "decoy"


@dataclass(frozen=True)
class SiteKey:
    """What the login page shows on its second step."""

    phrase: str
    image: GalleryImage
    source: Source = field(compare=False)


class UserFinder(Protocol):
    """The one verb of ``gateway.users.UserDirectory`` this flow needs."""

    def find(self, user_id: str) -> DirectoryUser | None: ...


def normalise_id(raw: str | None) -> str:
    """Return the ID as Keycloak matches it (trimmed, lower case), or raise InvalidSiteKeyId."""
    user_id = (raw or "").strip().lower()
    if not user_id or len(user_id) > MAX_ID_LENGTH or not user_id.isprintable():
        raise InvalidSiteKeyId("empty, too long or unprintable ID")
    return user_id


def decoy_site_key(secret_key: str, realm: str, user_id: str) -> SiteKey:
    """Return the stable decoy phrase and image of ``user_id`` in ``realm``.

    The phrase looks like one a person chose (``flows.phrase_decoys``); both are drawn
    by HMAC of (realm, ID) under the secret key.
    """
    user_id = normalise_id(user_id)
    phrase = decoy_phrase(secret_key, realm, user_id)
    image = GALLERY[decoy_image_index(secret_key, realm, user_id, len(GALLERY))]
    return SiteKey(phrase, image, Source.DECOY)


def real_site_key(user: DirectoryUser | None, tenant: Tenant) -> SiteKey | None:
    """Return the user's own phrase and image, or None where a decoy must answer."""
    if user is None or not tenant.uses_secret_phrase:
        return None
    if not user.enabled or user.activation_state != ACTIVE:
        return None  # pending, locked for good (disabled), or disabled by an administrator
    phrase = (user.first(PHRASE_ATTRIBUTE) or "").strip()
    image = image_by_id(user.first(IMAGE_ATTRIBUTE))
    if not phrase or image is None:
        return None
    return SiteKey(phrase, image, Source.REAL)


class AnswerCache:
    """Recent answers per (realm, ID) in one process; bounded, short-lived, off at 0 s."""

    def __init__(self, seconds: float = DEFAULT_CACHE_SECONDS, size: int = DEFAULT_CACHE_SIZE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.size = size
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, SiteKey]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, realm: str, user_id: str) -> SiteKey | None:
        key = (realm, normalise_id(user_id))
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._entries[key]
                return None
            return entry[1]

    def put(self, realm: str, user_id: str, answer: SiteKey) -> None:
        if self.seconds <= 0:
            return
        key = (realm, normalise_id(user_id))
        with self._lock:
            self._entries[key] = (self._clock() + self.seconds, answer)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def forget(self, realm: str, user_id: str) -> None:
        """Drop the answer kept for one ID (its owner just chose or changed it)."""
        with self._lock:
            self._entries.pop((realm, normalise_id(user_id)), None)


@dataclass
class SiteKeyContext:
    """What a lookup needs: the realm's tenant and directory, the secret, the timing."""

    tenant: Tenant
    directory: UserFinder
    secret_key: str
    min_seconds: float = DEFAULT_MIN_SECONDS
    cache: AnswerCache | None = None
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def look_up(ctx: SiteKeyContext, raw_id: str | None) -> SiteKey:
    """Return the phrase and image to show for ``raw_id``: the user's own, or a decoy.

    Raises InvalidSiteKeyId for an empty or oversized ID (before any lookup: the check
    is about the format, which is public) and lets KeycloakUnavailable through (503).
    """
    user_id = normalise_id(raw_id)
    realm = ctx.tenant.realm
    started = ctx.monotonic()
    try:
        cached = ctx.cache.get(realm, user_id) if ctx.cache else None
        if cached is not None:
            return cached
        # The same lookup for every ID and every state, phrases or not.
        user = ctx.directory.find(user_id)
        answer = real_site_key(user, ctx.tenant) or decoy_site_key(ctx.secret_key, realm, user_id)
        if ctx.cache:
            ctx.cache.put(realm, user_id, answer)
        return answer
    finally:
        ctx.sleep(max(0.0, ctx.min_seconds - (ctx.monotonic() - started)))
