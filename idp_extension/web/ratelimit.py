"""Rate limiting per client network and per ID (Flask-Limiter), declared on views, bound per app.

Views are module-level while limiters belong to one app (tests build many apps), so a
view is only *marked* with ``@rate_limit(...)`` or ``@limit_per_id(...)``;
``apply_rate_limits`` wraps the marked views of one app with that app's limiter once
every blueprint is registered.

Addresses are counted by network (``client_network``): an IPv4 address on its own, an
IPv6 address by its /64 (one subscriber's or one host's allocation: counting single
IPv6 addresses would give everyone 2^64 fresh counters), IPv4-mapped IPv6 as IPv4.

Limits on requests that name an ID (``PerIdLimits``) are soft: counted per (ID, client
network) first, so a stranger who knows an ID uses up only their own network's
allowance, and per ID from every network only against a much larger ceiling that stops
mailbox floods and distributed harvesting. A request refused by one layer counts in no
later layer, so a stranger's refused requests never eat into the owner's ceiling.
Counters live where ``ISPEKS_RATELIMIT_STORAGE_URI`` says (``shared_state.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import time
from dataclasses import dataclass
from functools import wraps
from typing import Callable, Iterable, TypeVar

from flask import Flask, current_app, request
from flask_limiter import Limiter
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter, RateLimiter

from idp_extension import errors
from idp_extension.metrics import RATE_LIMIT_REFUSALS
from idp_extension.settings import Settings
from idp_extension.shared_state import is_memory, redis_options

LIMITER_KEY = "ispeks.limiter"
FALLBACK_KEY = "ispeks.limiter.per_id_fallback"
KEY_PREFIX = "ispeks"
_MARK = "_ispeks_rate_limits"
_ID_MARK = "_ispeks_per_id_limits"
IPV6_PREFIX = 64

View = TypeVar("View", bound=Callable)


def client_network(address: str | None) -> str:
    """The rate-limit key of a client address: IPv4 as is, IPv6 by its /64."""
    text = (address or "").strip()
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text or "127.0.0.1"  # Flask-Limiter's own fallback for a missing address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        network = int(ip) >> (128 - IPV6_PREFIX) << (128 - IPV6_PREFIX)
        return str(ipaddress.IPv6Network((network, IPV6_PREFIX)))
    return str(ip)


def client_network_key() -> str:
    """Flask-Limiter key function: the network of the current request's client."""
    return client_network(request.remote_addr)


def hashed_id_key(secret_key: str, realm: str, purpose: str, subject: str) -> str:
    """A per-ID counter key that holds no ID number (keyed hash of an already normalised ID)."""
    digest = hmac.new(secret_key.encode(), f"ratelimit:{realm}:{purpose}:{subject}".encode(),
                      hashlib.sha256)
    return f"{purpose}-id:{realm}:{digest.hexdigest()[:32]}"


@dataclass(frozen=True)
class PerIdLimits:
    """Limits on requests naming one ID: per (ID, client network), then per ID overall.

    ``scope`` names the counters: views that share a scope share them (activation and
    recovery send mail to the same mailbox).
    """

    scope: str
    per_network: str
    overall: str

    def items(self) -> tuple[list[RateLimitItem], list[RateLimitItem]]:
        return parse_many(self.per_network), parse_many(self.overall)


def init_rate_limiting(app: Flask, settings: Settings) -> Limiter:
    """Attach a limiter counting in ``settings.ratelimit_storage_uri``."""
    uri = settings.ratelimit_storage_uri
    limiter = Limiter(
        key_func=client_network_key,
        storage_uri=uri,
        storage_options={} if is_memory(uri) else redis_options(),
        # If Redis is down, count in memory rather than lock everybody out.
        in_memory_fallback_enabled=True,
        headers_enabled=False,
        key_prefix=KEY_PREFIX,
        on_breach=_count_refusal,
        # A moving window: "30 per minute" never lets 60 through around a minute's turn,
        # and a count does not depend on where the clock's minute happens to start.
        strategy="moving-window",
    )
    limiter.init_app(app)
    app.extensions[LIMITER_KEY] = limiter
    app.extensions[FALLBACK_KEY] = MovingWindowRateLimiter(MemoryStorage())
    return limiter


def _count_refusal(_limit: object) -> None:
    """Count one refused request by route template (metrics.py)."""
    rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
    RATE_LIMIT_REFUSALS.labels(route=rule).inc()


def current_limiter() -> Limiter:
    """The running app's limiter (for shared limits or ad-hoc checks)."""
    return current_app.extensions[LIMITER_KEY]


def rate_limit(
    limit: str,
    *,
    methods: Iterable[str] | None = ("POST",),
    key_func: Callable[[], str] | None = None,
) -> Callable[[View], View]:
    """Mark a view to be limited to ``limit`` (e.g. "5 per minute") per client network.

    ``key_func`` counts by something else instead; a view may carry several marks, each
    counted on its own. For limits per ID use ``limit_per_id``.
    """

    def mark(view: View) -> View:
        marks = list(getattr(view, _MARK, ()))
        marks.append((limit, tuple(methods) if methods else None, key_func))
        setattr(view, _MARK, marks)
        return view

    return mark


def limit_per_id(limits: PerIdLimits, id_key: Callable[[], str],
                 *, methods: Iterable[str] = ("POST",)) -> Callable[[View], View]:
    """Mark a view to be limited per ID (``id_key``: the request's hashed ID) softly.

    Checked after the view's limits per address, before the view runs.
    """

    def mark(view: View) -> View:
        marks = list(getattr(view, _ID_MARK, ()))
        marks.append((limits, id_key, tuple(methods)))
        setattr(view, _ID_MARK, marks)
        return view

    return mark


def _with_per_id_limits(view: Callable, marks: list) -> Callable:
    @wraps(view)
    def checked(*args, **kwargs):
        for limits, id_key, methods in marks:
            if request.method in methods:
                check_per_id(limits, id_key())
        return view(*args, **kwargs)

    return checked


def _strategy() -> RateLimiter:
    return current_limiter().limiter  # Flask-Limiter's in-memory fallback while Redis is dead


def check_per_id(limits: PerIdLimits, id_key: str) -> None:
    """Count one request for ``id_key`` from the current client, or raise RateLimited.

    Every layer is tested before any is counted, so a refused request counts nowhere.
    A switched-off limiter (``Limiter.enabled``, ``RATELIMIT_ENABLED``) counts nothing here
    either.
    """
    if not current_limiter().enabled:
        return
    per_network, overall = limits.items()
    network = client_network(request.remote_addr)
    layers = [(item, (KEY_PREFIX, "per-id-net", limits.scope, id_key, network))
              for item in per_network]
    layers += [(item, (KEY_PREFIX, "per-id", limits.scope, id_key)) for item in overall]
    try:
        _count(_strategy(), layers)
    except errors.RateLimited:
        raise
    except Exception as exc:  # the storage did not answer: count in this process meanwhile
        current_app.logger.warning("rate-limit storage unreachable (%s): per-ID limits in memory",
                                   type(exc).__name__)
        _count(current_app.extensions[FALLBACK_KEY], layers)


def _count(strategy: RateLimiter, layers: list[tuple[RateLimitItem, tuple[str, ...]]]) -> None:
    for item, identifiers in layers:
        if not strategy.test(item, *identifiers):
            _refuse(strategy, item, identifiers)
    for item, identifiers in layers:
        if not strategy.hit(item, *identifiers):  # another request got there first
            _refuse(strategy, item, identifiers)


def _refuse(strategy: RateLimiter, item: RateLimitItem, identifiers: tuple[str, ...]) -> None:
    reset_at = strategy.get_window_stats(item, *identifiers).reset_time
    raise errors.RateLimited(f"per-ID limit {item} ({identifiers[2]})",
                             retry_after=max(1, math.ceil(reset_at - time.time())))


def apply_rate_limits(app: Flask) -> None:
    """Wrap every marked view of ``app`` with ``app``'s limiter."""
    limiter: Limiter = app.extensions[LIMITER_KEY]
    if app.extensions.get(_MARK):
        raise RuntimeError("rate limits are already applied to this app")
    app.extensions[_MARK] = True
    for endpoint, view in list(app.view_functions.items()):
        id_marks = getattr(view, _ID_MARK, ())
        address_marks = getattr(view, _MARK, ())
        if id_marks:
            # Innermost: runs only once the limits per address let the request through.
            view = _with_per_id_limits(view, list(id_marks))
        for limit, methods, key_func in address_marks:
            view = limiter.limit(
                limit, methods=list(methods) if methods else None, key_func=key_func
            )(view)
        app.view_functions[endpoint] = view
