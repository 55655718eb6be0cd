"""Print how long each enumeration-sensitive endpoint takes, per kind of ID, and whether
the kinds can be told apart (Mann-Whitney U, two-sided, for every pair).

Starts its own Keycloak (a throw-away data folder) and SMTP inbox, applies the four
states' realms, makes one ID of each kind per state (``tests.support.enumeration``:
unknown, pending, active, locked by three wrong passwords, disabled), then asks each
endpoint ``--samples`` times per kind through the sidecar (in process, production
collaborators and floors, rate limits off), in rounds that ask every kind once in a
new order. The four endpoints run side by side, one thread each (their own kinds stay
interleaved, so load hits them alike). Aim: p > 0.01 for every pair.

Run: ``python -m bench.enumeration_timing [--samples 200] [--endpoints activation,...]``.
Needs scipy (``pip install -e .[bench]``).
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from idp_extension.keycloak_server import (
    KEYCLOAK_VERSION, KeycloakDistribution, KeycloakServer, free_port,
)
from idp_extension.mail.inbox import MailInbox
from idp_extension.realms.apply import apply_states
from idp_extension.settings import load_settings
from idp_extension.web.ratelimit import LIMITER_KEY
from tests.support import enumeration as E
from tests.support.inprocess import Stack
from tests.support.oidc_login import CALLBACK

ENDPOINTS = {"activation": "pahang", "first-login": "melaka", "recovery": "kelantan",
             "site-key": "selangor"}


def measure(stack: Stack, realm: str, endpoint: str, people, samples: int,
            progress: dict[str, int]) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {kind: [] for kind in people}
    order = random.Random(f"bench:{endpoint}")
    for n, kind in E.interleaved(list(people), samples + 1, order.shuffle):
        began = time.perf_counter()
        answer = E.ask(stack, realm, endpoint, people[kind], f"10.80.{n % 250}.{len(kind)}")
        elapsed = time.perf_counter() - began
        if answer.status not in (200, 303):
            raise RuntimeError(f"{endpoint} {kind}: {answer.status} {answer.body[:200]}")
        if n:  # round 0 warms tokens and connections
            timings[kind].append(elapsed)
        progress[endpoint] = n
    return timings


def report(endpoint: str, realm: str, timings: dict[str, list[float]]) -> bool:
    verdicts = E.compare(timings)
    print(f"\n{endpoint} ({realm}), {len(next(iter(timings.values())))} samples per kind")
    print(f"  {'kind':<9} {'median':>9} {'p25':>9} {'p75':>9}")
    for kind, values in timings.items():
        q1, _, q3 = statistics.quantiles(values, n=4)
        print(f"  {kind:<9} {statistics.median(values) * 1000:7.1f}ms "
              f"{q1 * 1000:7.1f}ms {q3 * 1000:7.1f}ms")
    print(f"  {'pair':<20} {'medians (ms)':>17} {'p':>9}")
    ok = True
    for v in verdicts:
        flag = "" if v.p_value > 0.01 else "  <- p <= 0.01"
        ok = ok and v.p_value > 0.01
        print(f"  {v.a + ' / ' + v.b:<20} {v.median_a_ms:8.1f} {v.median_b_ms:8.1f} "
              f"{v.p_value:9.3g}{flag}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200, help="answers per kind of ID")
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS),
                        help="comma list of: " + ", ".join(ENDPOINTS))
    args = parser.parse_args(argv)
    chosen = [e.strip() for e in args.endpoints.split(",") if e.strip()]

    base = load_settings()
    secret = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory() as tmp, MailInbox(
            port=free_port(), max_messages=10 * args.samples + 100) as inbox:
        server = KeycloakServer(
            distribution=KeycloakDistribution(base.cache_dir), data_dir=Path(tmp) / "kc",
            admin_client_id="bench-bootstrap", admin_client_secret=secret,
            http_port=free_port(), management_port=free_port(),
            themes_dir=base.themes_dir, java_home=base.java_home,
        ).start(timeout=600)
        try:
            settings = base.with_overrides(
                keycloak_url=server.url, admin_client_id="bench-bootstrap",
                admin_client_secret=secret, credentials_dir=Path(tempfile.mkdtemp(prefix="bench-credentials-")),
                secret_key=secrets.token_urlsafe(32), smtp_host="127.0.0.1",
                smtp_port=inbox.port, audit_log_path=Path(tmp) / "audit.jsonl",
                extra_redirect_uris=(CALLBACK,), ratelimit_storage_uri="memory://",
            )
            apply_states(settings, sorted(set(ENDPOINTS[e] for e in chosen)))
            stack = Stack(settings, inbox, Path(tmp) / "audit.jsonl")
            stack.app.extensions[LIMITER_KEY].enabled = False
            people = {e: E.people(stack, ENDPOINTS[e], f"bench:{e}") for e in chosen}
            for e in chosen:  # each realm's sidecar token, fetched before threads share it
                E.ask(stack, ENDPOINTS[e], e, people[e]["unknown"], "10.80.255.1")
            print(f"Keycloak {KEYCLOAK_VERSION}; {args.samples} samples per kind, "
                  f"endpoints {', '.join(chosen)} side by side")
            progress = {e: 0 for e in chosen}
            done = threading.Event()

            def show() -> None:
                while not done.wait(30):
                    print("  rounds so far: " + ", ".join(f"{e} {n}" for e, n in progress.items()),
                          flush=True)

            threading.Thread(target=show, daemon=True).start()
            with ThreadPoolExecutor(len(chosen)) as pool:
                futures = {e: pool.submit(measure, stack, ENDPOINTS[e], e, people[e],
                                          args.samples, progress) for e in chosen}
                results = {e: f.result() for e, f in futures.items()}
            done.set()
        finally:
            server.stop()
    return 0 if all([report(e, ENDPOINTS[e], results[e]) for e in chosen]) else 1


if __name__ == "__main__":
    sys.exit(main())
