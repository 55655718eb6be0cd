"""Where summaries are kept between requests: the sidecar's shared state.

The store that ``ISPEKS_RATELIMIT_STORAGE_URI`` names (``shared_state.py``): Redis in
production, so every worker and instance serves the same numbers and only one of them
scans Keycloak; ``memory://`` keeps them in this process (development, tests, the CLI).
Values are text (JSON) with an expiry.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Protocol, runtime_checkable

from idp_extension.errors import ServiceUnavailable

PREFIX = "ispeks:report:"


class ReportStoreUnavailable(ServiceUnavailable):
    """The shared state (Redis) did not answer."""


@runtime_checkable
class ReportStore(Protocol):
    """Text values by key, each with an expiry."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str, ttl_seconds: int) -> None: ...


class MemoryReportStore:
    """This process only; thread-safe."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._values: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            until, value = self._values.get(key, (0.0, None))
            if value is not None and until <= self._monotonic():
                del self._values[key]
                return None
            return value

    def put(self, key: str, value: str, ttl_seconds: int) -> None:
        now = self._monotonic()
        with self._lock:
            for stale in [k for k, (until, _) in self._values.items() if until <= now]:
                del self._values[stale]
            self._values[key] = (now + max(1, int(ttl_seconds)), value)


class RedisReportStore:
    """In Redis, shared by every worker and instance."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def get(self, key: str) -> str | None:
        try:
            value = self._client.get(PREFIX + key)
        except Exception as exc:  # redis.RedisError and socket errors alike
            raise ReportStoreUnavailable(f"report store: {type(exc).__name__}") from None
        return value.decode("utf-8") if isinstance(value, bytes) else value

    def put(self, key: str, value: str, ttl_seconds: int) -> None:
        try:
            self._client.set(PREFIX + key, value.encode("utf-8"), ex=max(1, int(ttl_seconds)))
        except Exception as exc:
            raise ReportStoreUnavailable(f"report store: {type(exc).__name__}") from None


def report_store_from_uri(uri: str) -> ReportStore:
    """The store for ``uri`` (``settings.ratelimit_storage_uri``): memory or Redis."""
    from idp_extension.shared_state import is_memory, redis_client

    if is_memory(uri):
        return MemoryReportStore()
    return RedisReportStore(redis_client(uri))
