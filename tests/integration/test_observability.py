"""Metrics and probes against the real servers: Keycloak's own metrics, the sidecar's."""

from __future__ import annotations

import requests

from tests.support.metrics import assert_counted


def test_keycloak_exports_its_metrics_on_the_management_port(keycloak):
    # Built with --metrics-enabled=true (keycloak_server.BUILD_OPTIONS); never on the
    # public port, so the proxy cannot expose it.
    response = requests.get(f"http://127.0.0.1:{keycloak.management_port}/metrics", timeout=30)
    assert response.status_code == 200
    assert "jvm_memory_used_bytes" in response.text
    assert requests.get(f"{keycloak.url}/metrics", timeout=30).status_code == 404


def test_the_sidecar_is_ready_and_counts_what_it_serves(sidecar):
    assert requests.get(f"{sidecar.url}/readyz", timeout=30).json() == {"status": "ok"}
    assert_counted(f"{sidecar.url}/metrics", f"{sidecar.url}/melaka/first-login", "melaka",
                   "/<realm>/first-login", 3)
