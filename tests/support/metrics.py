"""Read the sidecar's Prometheus counters the way a scraper does."""

from __future__ import annotations

import re

import requests


def requests_served(metrics_url: str, realm: str, route: str, status: str = "200") -> float:
    """The ``ispeks_http_requests_total`` count of GETs of ``route`` in ``realm`` (0 if none yet)."""
    text = requests.get(metrics_url, timeout=10).text
    found = re.search(r'ispeks_http_requests_total\{method="GET",'
                      rf'realm="{realm}",route="{re.escape(route)}",status="{status}"\}} (\S+)', text)
    return float(found.group(1)) if found else 0.0


def assert_counted(metrics_url: str, page_url: str, realm: str, route: str, times: int) -> None:
    """GET ``page_url`` ``times`` times (each a 200, each its own connection, so gunicorn
    hands them to whichever worker accepts first); the metrics at ``metrics_url`` count
    exactly those requests for ``route`` in ``realm``, whichever worker served them."""
    before = requests_served(metrics_url, realm, route)
    for _ in range(times):
        assert requests.get(page_url, timeout=10).status_code == 200
    assert requests_served(metrics_url, realm, route) == before + times
