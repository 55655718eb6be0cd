"""Where the sidecar's cross-request state lives, and refusing to run where it cannot agree.

The sidecar keeps two kinds of state outside Keycloak, both in the store that
``ISPEKS_RATELIMIT_STORAGE_URI`` names:

* rate-limit counters (Flask-Limiter and the per-ID limits of ``web/ratelimit.py``);
* first-caller-wins claims (``flows.ports.OneTimeClaims``): one submission per emailed
  link at a time, one check of the recovery answers per link, first login's
  double-click guard, activation's "password tried" marker.

``memory://`` keeps them in one process: right for tests and a single gunicorn worker on
one machine, wrong as soon as a second worker or instance runs (each would count and
claim on its own: limits multiply, a link could be used twice). Production uses Redis:
``redis://host:6379/0``, ``rediss://...`` (TLS) or ``redis+unix:///run/redis.sock``.
Everything else the sidecar holds in memory is a cache (OIDC metadata, the site-key
answer cache that is off by default), not state that must agree.

This module has no Flask: ``deploy/gunicorn.conf.py`` calls ``unshared_state_refusal``
from gunicorn's master before any worker starts.
"""

from __future__ import annotations

import importlib.util
import ipaddress
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # pragma: no cover
    from idp_extension.settings import Settings

STORAGE_VARIABLE = "ISPEKS_RATELIMIT_STORAGE_URI"
SINGLE_INSTANCE_VARIABLE = "ISPEKS_SINGLE_INSTANCE"
MEMORY_SCHEME = "memory"
REDIS_SCHEMES = ("redis", "rediss", "redis+unix")
# A Redis that does not answer must not hold a request (and its gunicorn thread) for long.
REDIS_TIMEOUT_SECONDS = 2.0
EXAMPLE_REDIS_URI = "redis://127.0.0.1:6379/0"


def storage_scheme(uri: str) -> str:
    """Return ``"memory"`` or the Redis scheme of ``uri``; ValueError for anything else."""
    scheme = urlsplit(uri.strip()).scheme.lower()
    if scheme == MEMORY_SCHEME or scheme in REDIS_SCHEMES:
        return scheme
    raise ValueError(
        f"expected memory:// or a Redis URI ({', '.join(s + '://' for s in REDIS_SCHEMES)}),"
        f" e.g. {EXAMPLE_REDIS_URI}"
    )


def is_memory(uri: str) -> bool:
    """True if ``uri`` keeps counters and claims in this process only."""
    return storage_scheme(uri) == MEMORY_SCHEME


def redis_options() -> dict[str, Any]:
    """Connection options for every Redis client of the sidecar (limits' and ours)."""
    return {"socket_timeout": REDIS_TIMEOUT_SECONDS,
            "socket_connect_timeout": REDIS_TIMEOUT_SECONDS}


def redis_client(uri: str) -> Any:
    """A redis-py client for a Redis storage URI (``redis+unix://`` as redis-py spells it)."""
    import redis  # the production extra; only imported when Redis is configured

    scheme = storage_scheme(uri)
    if scheme == MEMORY_SCHEME:
        raise ValueError("memory:// is not a Redis URI")
    if scheme == "redis+unix":
        uri = "unix://" + uri.split("://", 1)[1]
    return redis.Redis.from_url(uri, **redis_options())


def _is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def production_hints(settings: "Settings") -> list[str]:
    """What makes ``settings`` look like a real deployment (empty for the dev stack)."""
    hints = []
    keycloak = urlsplit(settings.keycloak_url)
    if not _is_loopback_host(keycloak.hostname):
        where = keycloak.hostname or settings.keycloak_url
        hints.append(f"Keycloak at {where!r} is not on loopback")
    if urlsplit(settings.sidecar_public_url).scheme.lower() == "https":
        hints.append("the sidecar is served over https")
    return hints


def unshared_state_refusal(settings: "Settings", workers: int | None = None) -> str | None:
    """Why the sidecar must not start with ``settings`` (one line), or None.

    ``workers`` is gunicorn's worker count when known (its master knows it, a worker does
    not). ``memory://`` is refused with more than one worker, and with settings that look
    like production unless ``ISPEKS_SINGLE_INSTANCE`` declares exactly one process; Redis
    without its client library is refused too.
    """
    if not is_memory(settings.ratelimit_storage_uri):
        if importlib.util.find_spec("redis") is None:
            return (f"{STORAGE_VARIABLE} names Redis but the Redis client is not installed:"
                    f" pip install '.[production]'.")
        return None
    fix = (f"set {STORAGE_VARIABLE}=redis://<host>:6379/0 (one Redis shared by every worker"
           f" and instance; pip install '.[production]')")
    if workers is not None and workers > 1:
        return (f"{STORAGE_VARIABLE}=memory:// cannot be shared by {workers} gunicorn workers"
                f" (each would count rate limits and claim links on its own): {fix},"
                f" or run one worker (--workers 1).")
    hints = production_hints(settings)
    if hints and not settings.single_instance:
        return (f"{STORAGE_VARIABLE}=memory:// looks like a production setup"
                f" ({'; '.join(hints)}), where several instances would each count and claim"
                f" on their own: {fix}, or {SINGLE_INSTANCE_VARIABLE}=true if exactly one"
                f" sidecar process with one worker ever runs.")
    return None
