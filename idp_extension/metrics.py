"""Prometheus metrics of the sidecar (and of the CLI, which nobody scrapes).

Every series is bounded: routes are URL rule templates (``/<realm>/activation/link/<token>``,
never a real token), realms are the configured states, operations are gateway verbs.

Under gunicorn each worker is a process of its own. With ``PROMETHEUS_MULTIPROC_DIR``
set (``deploy/gunicorn.conf.py`` does it) prometheus_client keeps every worker's values
in files there and ``render`` adds them up, so one scrape sees the whole sidecar
instance whichever worker answers it. Without it (one worker, tests) the values live in
the process. No Flask here: the gateway, the mail sender and the audit log record too.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest,
)
from prometheus_client import multiprocess

# Seconds. Sidecar pages wait on Keycloak (and are padded to fixed floors: 0.25 s
# site key, 0.35 s link requests, 0.8 s first-login requests), so the buckets reach far.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "ispeks_http_requests", "Requests answered, by route template, realm, method and status.",
    ["route", "realm", "method", "status"],
)
HTTP_DURATION = Histogram(
    "ispeks_http_request_duration_seconds", "Time to answer a request, by route template.",
    ["route", "method"], buckets=_LATENCY_BUCKETS,
)
FLOW_EVENTS = Counter(
    "ispeks_flow_events",
    "Audit events (flow outcomes: account:activation:completed, ...:failed, ...).",
    ["realm", "event", "outcome"],
)
MAIL_SEND = Histogram(
    "ispeks_mail_send_duration_seconds",
    "Time to hand one message to the SMTP relay, by outcome (sent, unavailable, rejected).",
    ["outcome"], buckets=_LATENCY_BUCKETS,
)
KEYCLOAK_CALLS = Histogram(
    "ispeks_keycloak_request_duration_seconds",
    "Time of one gateway call to Keycloak, by operation and outcome "
    "(ok, refused: a 4xx, unavailable: unreachable or 5xx, error: anything else).",
    ["operation", "outcome"], buckets=_LATENCY_BUCKETS,
)
RATE_LIMIT_REFUSALS = Counter(
    "ispeks_rate_limit_refusals", "Requests refused by a rate limit, by route template.",
    ["route"],
)


@contextmanager
def timed(histogram: Histogram, **labels: str) -> Iterator[dict[str, str]]:
    """Observe the block's duration; the block may change labels (e.g. ``outcome``)."""
    start = time.perf_counter()
    try:
        yield labels
    finally:
        histogram.labels(**labels).observe(time.perf_counter() - start)


def render(multiproc_dir: Path | None = None) -> tuple[bytes, str]:
    """Return the exposition text and its content type (all workers' if ``multiproc_dir``)."""
    if multiproc_dir is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(multiproc_dir))
    return generate_latest(registry), CONTENT_TYPE_LATEST
