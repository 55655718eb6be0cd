"""Print Keycloak's cold and warm start times and the time to apply the four realms.

Cold: a new data folder (the master realm is created). Warm: the same folder again.
Then the four state realms are applied twice: the first creates them, the second must
change nothing. Run: ``python -m bench.keycloak_startup``.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from pathlib import Path

from idp_extension.keycloak_server import (
    KEYCLOAK_VERSION, KeycloakDistribution, KeycloakServer, find_java_home, free_port,
)
from idp_extension.realms.apply import apply_realm
from idp_extension.settings import load_settings
from idp_extension.tenants import list_states


def main() -> None:
    base = load_settings()
    secret = secrets.token_urlsafe(24)
    java_home = find_java_home(base.java_home)
    with tempfile.TemporaryDirectory() as tmp:
        def server() -> KeycloakServer:
            return KeycloakServer(
                distribution=KeycloakDistribution(base.cache_dir), data_dir=Path(tmp),
                admin_client_id="bench-bootstrap", admin_client_secret=secret,
                http_port=free_port(), management_port=free_port(),
                themes_dir=base.themes_dir, java_home=str(java_home),
            )

        cold = server().start()
        cold.stop()
        warm = server().start()
        settings = base.with_overrides(
            keycloak_url=warm.url, admin_client_id="bench-bootstrap", admin_client_secret=secret,
            credentials_dir=Path(tmp) / "credentials",
        )
        try:
            timings = {}
            for run in ("first", "no-op"):
                began = time.perf_counter()
                results = [apply_realm(settings, state) for state in list_states(base.realm_templates_dir)]
                timings[run] = time.perf_counter() - began
                summary = ", ".join(r.summary() for r in results)
                print(f"apply 4 realms ({run}): {timings[run]:.2f} s  [{summary}]")
        finally:
            warm.stop()
    print(f"Keycloak {KEYCLOAK_VERSION} on JDK {java_home.name}")
    print(f"cold start (new database): {cold.started_in_seconds:.1f} s")
    print(f"warm start (existing database): {warm.started_in_seconds:.1f} s")


if __name__ == "__main__":
    main()
