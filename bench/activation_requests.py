"""Fire N concurrent activation requests at the sidecar; print throughput and email latency.

Everything real, on loopback: Keycloak (its own temporary data folder), one state's
realm applied, N pending users registered, the sidecar under gunicorn, and the
development inbox as the SMTP server. Each simulated person is a fresh HTTP session that
fetches the form (for its CSRF token) and posts their ID; the time from posting to the
email arriving in the inbox is what the manuals warn takes "2 to 5 minutes".

Clients come from different loopback addresses (127.0.0.2, 127.0.0.3, ...), as people
do: the per-address rate limit (10 per minute) is part of what is measured, not
switched off.

Run: ``python -m bench.activation_requests [--users 200] [--concurrency 50] [--threads 8,64]``.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter

from idp_extension.demo_users import synthetic_people
from idp_extension.flows.emailed_link import DEFAULT_MIN_REQUEST_SECONDS
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.users import UserDirectory
from idp_extension.keycloak_server import (
    KEYCLOAK_VERSION, KeycloakDistribution, KeycloakServer, find_java_home, free_port,
)
from idp_extension.mail.inbox import MailInbox
from idp_extension.realms.apply import apply_realm
from idp_extension.settings import load_settings
from idp_extension.sidecar_process import SidecarProcess
from idp_extension.tenants import load_tenant

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SENT = "emel pengaktifan akaun telah dihantar"


class SourceAddressAdapter(HTTPAdapter):
    """Connect from one loopback address, so each simulated person has their own."""

    def __init__(self, address: str) -> None:
        self._address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self._address, 0)
        return super().init_poolmanager(*args, **kwargs)


@dataclass
class Outcome:
    email: str
    sent_at: float  # wall clock, when the POST left
    status: int
    response_seconds: float
    confirmed: bool


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: p99 of 200 is the 198th value)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))]


def register(settings, realm: str, people, workers: int = 8) -> None:
    directory = UserDirectory(bootstrap_admin(settings), realm)
    directory.find("000000000000")  # fetch the admin token once, before the threads share it
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(directory.register_pending, people))


def ask(base: str, realm: str, record, address: str) -> Outcome:
    session = requests.Session()
    adapter = SourceAddressAdapter(address)
    session.mount("http://", adapter)
    form = session.get(f"{base}/{realm}/activation", timeout=30)
    token = CSRF.search(form.text).group(1)
    sent_at = time.time()
    began = time.perf_counter()
    answer = session.post(f"{base}/{realm}/activation", timeout=60,
                          data={"user_id": record.user_id, "csrf_token": token})
    elapsed = time.perf_counter() - began
    session.close()
    return Outcome(record.email, sent_at, answer.status_code, elapsed, SENT in answer.text)


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds (user + system) used so far by every process in group ``pgid``."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after "(comm)": state, ppid, pgrp, ...
            total += int(fields[11]) + int(fields[12])
    return total / tick


def run(settings, keycloak, inbox, realm: str, people, threads: int, concurrency: int,
        log_dir: Path) -> bool:
    """Start the sidecar with ``threads``, fire one request per person, print the figures."""
    port = free_port()
    settings = settings.with_overrides(sidecar_public_url=f"http://127.0.0.1:{port}")
    sidecar = SidecarProcess(settings, port, threads=threads,
                             log_path=log_dir / f"gunicorn-{threads}.log").start()
    try:
        # One warm-up request, so the timed ones do not pay for the sidecar's Keycloak token.
        warm, timed = people[0], people[1:]
        ask(sidecar.url, realm, warm, "127.0.0.1")
        inbox.wait_for(to=warm.email, timeout=30)
        mark = inbox.last_id
        cpu_before = (group_cpu_seconds(sidecar.process.pid),
                      group_cpu_seconds(keycloak.process.pid))

        addresses = [f"127.0.0.{2 + n % 200}" for n in range(len(timed))]
        began = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            outcomes = list(pool.map(lambda pair: ask(sidecar.url, realm, *pair),
                                     zip(timed, addresses)))
        wall = time.perf_counter() - began

        latencies, missing = [], 0
        for outcome in outcomes:
            try:
                mail = inbox.wait_for(to=outcome.email, after=mark, timeout=60)
            except TimeoutError:
                missing += 1
                continue
            latencies.append(mail.received_at.timestamp() - outcome.sent_at)
        cpu = (group_cpu_seconds(sidecar.process.pid) - cpu_before[0],
               group_cpu_seconds(keycloak.process.pid) - cpu_before[1])
    finally:
        sidecar.stop()

    ok = sum(1 for o in outcomes if o.status == 200 and o.confirmed)
    responses = [o.response_seconds for o in outcomes]
    print(f"\n== gunicorn 1 worker x {threads} threads, {len(outcomes)} requests, "
          f"{concurrency} at a time ==")
    print(f"  {ok} confirmed, {len(outcomes) - ok} failed, {missing} emails missing")
    print(f"  throughput: {len(outcomes) / wall:.1f} requests/s ({wall:.2f} s wall)")
    print(f"  HTTP response:            p50 {statistics.median(responses) * 1000:5.0f} ms   "
          f"p99 {percentile(responses, 0.99) * 1000:5.0f} ms")
    if latencies:
        print(f"  request sent -> email in: p50 {statistics.median(latencies) * 1000:5.0f} ms   "
              f"p99 {percentile(latencies, 0.99) * 1000:5.0f} ms   "
              f"max {max(latencies) * 1000:.0f} ms")
    print(f"  CPU per request: sidecar {cpu[0] / len(outcomes) * 1000:.0f} ms, "
          f"Keycloak {cpu[1] / len(outcomes) * 1000:.0f} ms")
    log = (log_dir / f"gunicorn-{threads}.log").read_text(errors="replace")
    problems = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
    if problems:
        print(f"  sidecar log: {len(problems)} warnings/errors, e.g. {problems[0][:160]}")
    return ok == len(outcomes) and not missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200, help="requests per run")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight")
    parser.add_argument("--threads", default="64",
                        help="gunicorn threads per worker; a comma list runs each in turn")
    parser.add_argument("--realm", default="pahang")
    args = parser.parse_args(argv)
    thread_counts = [int(t) for t in args.threads.split(",")]

    base_settings = load_settings()
    secret = secrets.token_urlsafe(24)
    java_home = find_java_home(base_settings.java_home)
    total = (args.users + 1) * len(thread_counts)
    with tempfile.TemporaryDirectory() as tmp, MailInbox(max_messages=total + 50) as inbox:
        keycloak = KeycloakServer(
            distribution=KeycloakDistribution(base_settings.cache_dir), data_dir=Path(tmp) / "kc",
            admin_client_id="bench-bootstrap", admin_client_secret=secret,
            http_port=free_port(), management_port=free_port(),
            themes_dir=base_settings.themes_dir, java_home=str(java_home),
        ).start()
        settings = base_settings.with_overrides(
            keycloak_url=keycloak.url, admin_client_id="bench-bootstrap", admin_client_secret=secret,
            credentials_dir=Path(tmp) / "credentials", secret_key=secrets.token_urlsafe(32),
            smtp_host="127.0.0.1", smtp_port=inbox.port,
            audit_log_path=Path(tmp) / "audit.jsonl", ratelimit_storage_uri="memory://",
        )
        try:
            apply_realm(settings, args.realm)
            people = synthetic_people(load_tenant(settings.realm_templates_dir, args.realm),
                                      total, seed="bench-activation")
            began = time.perf_counter()
            register(settings, args.realm, people)
            print(f"Keycloak {KEYCLOAK_VERSION} on {os.cpu_count()} CPUs; registered "
                  f"{len(people)} pending users in {time.perf_counter() - began:.1f} s; "
                  f"padding floor {DEFAULT_MIN_REQUEST_SECONDS:.2f} s per request")
            results = []
            for n, threads in enumerate(thread_counts):
                batch = people[n * (args.users + 1):(n + 1) * (args.users + 1)]
                results.append(run(settings, keycloak, inbox, args.realm, batch, threads,
                                   args.concurrency, Path(tmp)))
        finally:
            keycloak.stop()
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
