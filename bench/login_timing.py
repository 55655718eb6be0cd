"""Print how long Keycloak's login form takes with a wrong password, per kind of ID.

Starts its own Keycloak (the project's build, with the ispeks-login provider; a
throw-away data folder), applies the Kelantan realm, makes the users (unknown, pending,
active, locked, disabled: see ``tests/support/login_timing.py``), then posts a wrong
password ``--samples`` times per kind, interleaved, and prints each kind's median and
the Mann-Whitney p-value of every pair (p > 0.01: the pair cannot be told apart at that
level). README.md ("Known Keycloak behaviour") quotes the figures.

Run: ``python -m bench.login_timing [--samples 200] [--stock-samples 25]``; with
``--stock-samples`` the same server then also measures the realm with Keycloak's own
``auth-username-password-form`` in place of the provider (fresh users), to show what the
provider changes.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time

from bench._keycloak import bench_keycloak
from idp_extension.keycloak_server import KEYCLOAK_VERSION
from idp_extension.realms.apply import apply_desired
from idp_extension.realms.render import render_realm
from idp_extension.tenants import load_tenant
from tests.support.login_timing import (
    KINDS, PROJECT_FORM, STOCK_FORM, compare, make_people, sample, with_stock_login_form,
)
from tests.support.oidc_login import CALLBACK

STATE = "kelantan"


def _measure(settings, tenant, desired: dict, samples: int, seed: str) -> tuple[dict, float]:
    apply_desired(settings, desired)
    warm_up = make_people(settings, tenant, 6, seed=f"{seed}-warm-up")
    people = make_people(settings, tenant, samples, seed=seed)
    sample(settings.keycloak_url, STATE, warm_up, 6, seed=1)  # not counted
    began = time.monotonic()
    timings = sample(settings.keycloak_url, STATE, people, samples, seed=2)
    return timings, time.monotonic() - began


def _print(form: str, samples: int, timings: dict, took: float) -> None:
    print(f"\nKeycloak {KEYCLOAK_VERSION}, {form}, realm {STATE}: wrong password, "
          f"{samples} interleaved samples per kind of ID ({took:.0f} s)")
    print(f"{'ID':<10} {'median':>9} {'p10':>9} {'p90':>9}")
    for kind in KINDS:
        values = sorted(timings[kind])
        deciles = statistics.quantiles(values, n=10)
        print(f"{kind:<10} {statistics.median(values) * 1000:6.1f} ms "
              f"{deciles[0] * 1000:6.1f} ms {deciles[-1] * 1000:6.1f} ms")
    print("Mann-Whitney U, two-sided (medians of the pair, p)")
    for pair in compare(timings):
        print(pair.line())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200,
                        help="wrong passwords per kind of ID with the project's form")
    parser.add_argument("--stock-samples", type=int, default=0,
                        help="then as many with Keycloak's own form (0: skip)")
    args = parser.parse_args()
    results = []
    with bench_keycloak(secret_key=secrets.token_urlsafe(32),
                        extra_redirect_uris=(CALLBACK,)) as keycloak:
        settings = keycloak.settings
        tenant = load_tenant(settings.realm_templates_dir, STATE)
        desired = render_realm(settings, STATE)
        timings, took = _measure(settings, tenant, desired, args.samples, "bench-login")
        results.append((PROJECT_FORM, args.samples, timings, took))
        if args.stock_samples:
            timings, took = _measure(settings, tenant, with_stock_login_form(desired),
                                     args.stock_samples, "bench-login-stock")
            results.append((STOCK_FORM, args.stock_samples, timings, took))
    for result in results:
        _print(*result)


if __name__ == "__main__":
    main()
