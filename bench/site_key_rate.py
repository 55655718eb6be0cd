"""Site-key answers at a fixed rate from distinct addresses: latency percentiles per rate.

Starts the prod-like topology (``ispeks-idp prod-like up``'s: PostgreSQL, two Keycloak
nodes, Redis, two sidecars under ``deploy/gunicorn.conf.py``, nginx with TLS), then for
each rate sends ``POST /idp/selangor/site-key`` through the proxy over HTTPS at exactly
that rate for ``--seconds`` (open loop: a request is due at its time whether or not the
earlier ones have answered, and its latency counts from when it was due, so a backlog
shows). Every request comes from its own loopback address (127.1.x.y, a kept-alive TLS
connection each, opened before timing) with an ID nobody has (a decoy answer: the same
lookup and floor as a real one). Prints p50, p99 and max against the floor
(``flows.site_key.DEFAULT_MIN_SECONDS``); the aim is p99 within 20 ms of it at 200/s.

``--direct`` skips nginx and TLS: the requests go to the two sidecars in turn (or to one,
``--sidecars 1``: one instance's capacity) over plain HTTP with ``X-Forwarded-For`` set
as nginx sets it.

Run: ``python -m bench.site_key_rate [--rates 50,100,150,200] [--seconds 10] [--direct]``
(about 4 minutes for the topology, then ``--seconds`` per rate). Figures on a shared
machine are upper bounds: the header prints the load average.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from bench.prodlike import ProcessCpu, SourceAddressAdapter, load_note, running_topology
from idp_extension.flows.site_key import DEFAULT_MIN_SECONDS
from idp_extension.web.security import origin_of

STATE = "selangor"


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Clients:
    """One kept-alive session per loopback address, used in turn."""

    def __init__(self, topology, count: int, direct: bool, sidecars: int = 2) -> None:
        self.direct = direct
        self.origin = origin_of(topology.settings.keycloak_url)
        self.sessions: list[tuple[requests.Session, str, str]] = []
        targets = ([f"http://{s.address}/idp" for s in topology.sidecars[:sidecars]] if direct
                   else [f"{topology.public_url}/idp"])
        for n in range(count):
            address = f"127.1.{n // 250}.{n % 250 + 1}"
            session = requests.Session()
            session.trust_env = False
            session.verify = str(topology.certificate)
            session.mount("https://", SourceAddressAdapter(address))
            session.mount("http://", SourceAddressAdapter(address))
            target = targets[n % len(targets)]
            if not direct:  # the TLS handshake, before timing
                session.get(f"{target}/livez", timeout=30).raise_for_status()
            self.sessions.append((session, address, target))
        self._turn = itertools.cycle(self.sessions)
        self._lock = threading.Lock()

    def next(self) -> tuple[requests.Session, str, str]:
        with self._lock:
            return next(self._turn)

    def ask(self, user_id: str) -> int:
        session, address, target = self.next()
        headers = {"Origin": self.origin, "Accept": "application/json"}
        if self.direct:
            # As nginx does: the browser's address, and a connection per request (no
            # upstream keep-alive in deploy/nginx).
            headers.update({"X-Forwarded-For": address, "Connection": "close"})
        answer = session.post(f"{target}/{STATE}/site-key", data={"id": user_id},
                              headers=headers, timeout=30)
        return answer.status_code


def unknown_ids(count: int) -> list[str]:
    # 12 digits no account has (the bench makes no users): each one a decoy answer.
    return [f"99{random.randrange(10**10):010d}" for _ in range(count)]


def component_cpu(topology) -> dict:
    """CPU meters of each part the requests go through, and of this load generator (it
    shares the machine's cores: on a real deployment the browsers are elsewhere)."""
    parts = {"Keycloak": topology.nodes, "sidecars": topology.sidecars,
             "nginx": [topology.proxy], "Redis": [topology.redis],
             "PostgreSQL": [topology.postgres]}
    meters = {name: ProcessCpu([service.process.pid for service in services])
              for name, services in parts.items()}
    meters["load generator"] = _OwnCpu()  # this process only: the servers are its children
    return meters


class _OwnCpu:
    """CPU seconds of this process's own threads (not of the servers it started)."""

    @staticmethod
    def seconds() -> float:
        return time.process_time()


def at_rate(clients: Clients, rate: float, seconds: float,
            meters: dict | None = None) -> dict:
    total = int(rate * seconds)
    ids = unknown_ids(total)
    latencies: list[float] = []
    lags: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def one(due: float, user_id: str) -> None:
        lag = time.perf_counter() - due
        try:
            status = clients.ask(user_id)
        except requests.RequestException as exc:
            status = type(exc).__name__
        took = time.perf_counter() - due
        with lock:
            latencies.append(took)
            lags.append(lag)
            statuses[status] = statuses.get(status, 0) + 1

    meters = meters or {}
    cpu_before = {name: meter.seconds() for name, meter in meters.items()}
    with ThreadPoolExecutor(max_workers=max(64, int(rate * 1.5))) as pool:
        start = time.perf_counter() + 0.5
        for n in range(total):
            due = start + n / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            pool.submit(one, due, ids[n])
    cpu_ms = {name: 1000 * (meter.seconds() - cpu_before[name]) / total
              for name, meter in meters.items()}
    return {"rate": rate, "count": total, "p50": statistics.median(latencies), "cpu_ms": cpu_ms,
            "p99": _percentile(latencies, 0.99), "max": max(latencies),
            "lag_p99": _percentile(lags, 0.99), "statuses": statuses}


def measure(topology, rates: list[float], seconds: float, direct: bool = False,
            sidecars: int = 2, note: str = "") -> str:
    """Run every rate on a running topology; return the table."""
    needed = int(sum(rates) * seconds / 50) + 50  # about 50 per minute per address at most
    clients = Clients(topology, min(needed, 2000), direct, sidecars)
    at_rate(clients, 20, 3)  # warm-up: tokens, pools, JIT
    meters = component_cpu(topology)
    results = [at_rate(clients, rate, seconds, meters) for rate in rates]
    floor = DEFAULT_MIN_SECONDS * 1000
    where = f"direct to {sidecars} sidecar(s)" if direct else "through nginx (TLS), 2 sidecars"
    lines = [f"POST /idp/{STATE}/site-key, unknown IDs, {where}; floor {floor:.0f} ms; "
             f"{len(clients.sessions)} client addresses; {note}",
             f"{'rate/s':>7} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
             f"{'p99-floor':>10} {'client lag p99':>15}  statuses"]
    for r in results:
        lines.append(f"{r['rate']:>7.0f} {r['count']:>6} {r['p50'] * 1000:>8.1f} "
                     f"{r['p99'] * 1000:>8.1f} {r['max'] * 1000:>8.1f} "
                     f"{r['p99'] * 1000 - floor:>10.1f} {r['lag_p99'] * 1000:>15.1f}  "
                     f"{r['statuses']}")
    # Where the cores go: CPU ms per request by part. Their sum against 2000 ms per
    # second on 2 cores is the rate this machine can carry at all.
    for r in results:
        lines.append(f"CPU ms per request at {r['rate']:.0f}/s: " + ", ".join(
            f"{name} {ms:.1f}" for name, ms in r["cpu_ms"].items())
            + f"; total {sum(r['cpu_ms'].values()):.1f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="50,100,150,200")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--direct", action="store_true",
                        help="to the sidecars over HTTP, without nginx and TLS")
    parser.add_argument("--sidecars", type=int, choices=(1, 2), default=2,
                        help="with --direct: to both sidecars in turn, or to one only")
    args = parser.parse_args()
    note = load_note()
    with running_topology(say=lambda line: None) as topology:
        table = measure(topology, [float(r) for r in args.rates.split(",")], args.seconds,
                        args.direct, args.sidecars, note)
    print("\n" + table)


if __name__ == "__main__":
    main()
