"""Is Keycloak ready for the sidecar? (the sidecar's /readyz)."""

from __future__ import annotations

from typing import Iterable

import requests

from idp_extension.metrics import KEYCLOAK_CALLS, timed


def keycloak_problems(keycloak_url: str, realms: Iterable[str], timeout: float = 2.0) -> list[str]:
    """Return what is wrong with Keycloak for ``realms`` ([] when every realm answers).

    Each realm's public endpoint (``/realms/<realm>``) must answer 200: Keycloak is up,
    its database answers, and the state has been provisioned.
    """
    problems = []
    with requests.Session() as session:
        for realm in realms:
            url = f"{keycloak_url.rstrip('/')}/realms/{realm}"
            with timed(KEYCLOAK_CALLS, operation="readiness", outcome="unavailable") as labels:
                try:
                    status = session.get(url, timeout=timeout, allow_redirects=False).status_code
                except requests.RequestException as exc:
                    problems.append(f"realm {realm}: Keycloak unreachable ({type(exc).__name__})")
                    continue
                labels["outcome"] = "ok" if status == 200 else (
                    "refused" if status < 500 else "unavailable")
                if status != 200:
                    problems.append(f"realm {realm}: Keycloak answered {status}")
    return problems
