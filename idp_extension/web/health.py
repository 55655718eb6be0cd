"""Probes and metrics for the machines around the sidecar, not for people.

* ``/livez`` (alias ``/healthz``): the process answers. Touches no dependency, so a
  Keycloak outage never makes the supervisor restart healthy sidecars.
* ``/readyz``: Keycloak answers for every configured state and the shared rate-limit
  store (Redis) answers; 503 with the reasons otherwise. The proxy's health checks use it.
* ``/metrics``: Prometheus text (metrics.py). Scraped on the sidecar's own address; any
  request that came through a proxy (it carries X-Forwarded-For or Forwarded, which
  the proxy adds and a client cannot remove) gets 404, so the public side never sees it.
"""

from __future__ import annotations

import threading
import time

from flask import Blueprint, Flask, Response, abort, current_app, g, jsonify, request
from limits.storage import Storage, storage_from_string

from idp_extension import metrics
from idp_extension.gateway.health import keycloak_problems
from idp_extension.web.services import current_settings, current_tenants

bp = Blueprint("health", __name__)

PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
_STORAGE_KEY = "ispeks.readiness_storage"
_storage_lock = threading.Lock()


@bp.get("/livez")
@bp.get("/healthz")
def livez() -> Response:
    """Answer that the process is up."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Answer 200 if Keycloak and the rate-limit store answer, else 503 with the reasons."""
    settings = current_settings()
    problems = keycloak_problems(settings.keycloak_url, sorted(current_tenants()))
    storage = _shared_storage()
    if storage is not None and not _storage_answers(storage):
        problems.append("rate-limit store unreachable")
    if problems:
        return jsonify(status="unavailable", problems=problems), 503
    return jsonify(status="ok"), 200


@bp.get("/metrics")
def prometheus_metrics() -> Response:
    """Return the Prometheus exposition, to direct (unproxied) scrapes only."""
    if any(header in request.headers for header in PROXY_HEADERS):
        abort(404)
    body, content_type = metrics.render(current_settings().metrics_multiproc_dir)
    return Response(body, content_type=content_type)


def _shared_storage() -> Storage | None:
    """The rate-limit store to check, or None when it is in-process memory."""
    uri = current_settings().ratelimit_storage_uri
    if uri.startswith("memory://"):
        return None
    with _storage_lock:
        storage = current_app.extensions.get(_STORAGE_KEY)
        if storage is None:
            storage = current_app.extensions[_STORAGE_KEY] = storage_from_string(uri)
        return storage


def _storage_answers(storage: Storage) -> bool:
    try:
        return bool(storage.check())
    except Exception:  # noqa: BLE001 - any failure of the store means "not ready"
        return False


def init_request_metrics(app: Flask) -> None:
    """Count every request by route template, realm and status, and time it."""

    @app.before_request
    def start_clock() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def count(response: Response) -> Response:
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        tenant = g.get("tenant")
        realm = tenant.realm if tenant is not None else ""
        metrics.HTTP_REQUESTS.labels(
            route=rule, realm=realm, method=request.method, status=str(response.status_code)
        ).inc()
        started = g.get("metrics_started")
        if started is not None:
            metrics.HTTP_DURATION.labels(route=rule, method=request.method).observe(
                time.perf_counter() - started
            )
        return response

