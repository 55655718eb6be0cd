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
