"""Print how long Keycloak's login form takes with a wrong password, per kind of ID.

Starts its own Keycloak (the project's build, with the ispeks-login provider; a
throw-away data folder), applies the Kelantan realm, makes the users (unknown, pending,
active, locked, disabled: see ``tests/support/login_timing.py``), then posts a wrong
password ``--samples`` times per kind, interleaved, and prints each kind's median and
the Mann-Whitney p-value of every pair (p > 0.01: the pair cannot be told apart at that
level). README.md ("Known Keycloak behaviour") quotes the figures.

Run: ``python -m bench.login_timing [--samples 200]``.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from idp_extension.keycloak_server import (
    KEYCLOAK_VERSION, KeycloakDistribution, KeycloakServer, free_port,
)
from idp_extension.realms.apply import apply_realm
from idp_extension.settings import load_settings
from idp_extension.tenants import load_tenant
from tests.support.login_timing import KINDS, compare, make_people, sample
from tests.support.oidc_login import CALLBACK

STATE = "kelantan"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200, help="wrong passwords per kind of ID")
    samples = parser.parse_args().samples
    base = load_settings()
    secret = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory() as tmp:
        server = KeycloakServer(
            distribution=KeycloakDistribution(base.cache_dir), data_dir=Path(tmp),
            admin_client_id="bench-bootstrap", admin_client_secret=secret,
            http_port=free_port(), management_port=free_port(),
            themes_dir=base.themes_dir, java_home=base.java_home,
        ).start()
        try:
            settings = base.with_overrides(
                keycloak_url=server.url, admin_client_id="bench-bootstrap",
                admin_client_secret=secret, client_secret_seed=secrets.token_urlsafe(24),
                secret_key=secrets.token_urlsafe(32), extra_redirect_uris=(CALLBACK,),
            )
            apply_realm(settings, STATE)
            tenant = load_tenant(settings.realm_templates_dir, STATE)
            warm_up = make_people(settings, tenant, 6, seed="bench-login-warm-up")
            people = make_people(settings, tenant, samples, seed="bench-login-timing")
            sample(server.url, STATE, warm_up, 6, seed=1)  # not counted
            began = time.monotonic()
            timings = sample(server.url, STATE, people, samples, seed=2)
            took = time.monotonic() - began
        finally:
            server.stop()
    print(f"Keycloak {KEYCLOAK_VERSION} + ispeks-login, realm {STATE}: wrong password, "
          f"{samples} interleaved samples per kind of ID ({took:.0f} s)")
    print(f"\n{'ID':<10} {'median':>9} {'p10':>9} {'p90':>9}")
    for kind in KINDS:
        values = sorted(timings[kind])
        deciles = statistics.quantiles(values, n=10)
        print(f"{kind:<10} {statistics.median(values) * 1000:6.1f} ms {deciles[0] * 1000:6.1f} ms "
              f"{deciles[-1] * 1000:6.1f} ms")
    print("\nMann-Whitney U, two-sided (medians of the pair, p)")
    for pair in compare(timings):
        print(pair.line())


if __name__ == "__main__":
    main()
