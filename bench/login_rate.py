"""Password logins per second through the TLS proxy: two Keycloak nodes, then one.

Starts the prod-like topology (``ispeks-idp prod-like up``'s), makes ``--users`` active
Pahang users with a password, then runs ``--clients`` people signing in one login after
another for ``--seconds``: the whole code flow over HTTPS through nginx (login page,
password post, code for tokens), each person from a loopback address of their own. It
measures with both nodes, stops node 1 (``kc.sh``'s graceful stop; nginx moves its
traffic to node 2) and measures again, in the same run. Keycloak's CPU per login (both
JVMs, from /proc) is printed beside the rates: it does not depend on the machine's
other load, the rates do.

Run: ``python -m bench.login_rate [--users 100] [--clients 8] [--seconds 30]``
(about 4 minutes for the topology, then twice ``--seconds``).
"""

from __future__ import annotations

import argparse
import collections
import statistics
import threading
import time

from bench.prodlike import ProcessCpu, SourceAddressAdapter, load_note, running_topology
from tests.deploy.support import Production

STATE = "pahang"


def _rate(production: Production, people: list, clients: int, seconds: float,
          cpu: ProcessCpu) -> dict:
    stop = time.perf_counter() + seconds
    results: list[tuple[bool, float]] = []
    failures: collections.Counter = collections.Counter()
    lock = threading.Lock()

    def person(n: int) -> None:
        session = production.session()
        session.mount("https://", SourceAddressAdapter(f"127.2.{n}.1"))
        k = n
        while time.perf_counter() < stop:
            record = people[k % len(people)]
            k += clients
            session.cookies.clear()  # a new browser each time: a full password login
            began = time.perf_counter()
            outcome = production.login(STATE, record.user_id, session=session)
            with lock:
                results.append((outcome.ok, time.perf_counter() - began))
                if not outcome.ok:
                    failures[f"{outcome.status} {outcome.detail}".strip()] += 1

    threads = [threading.Thread(target=person, args=(n,)) for n in range(clients)]
    cpu_before, began = cpu.seconds(), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    ok = [took for good, took in results if good]
    return {"logins": len(ok), "failed": len(results) - len(ok), "per_s": len(ok) / wall,
            "p50": statistics.median(ok) if ok else float("nan"),
            "cpu_ms": 1000 * (cpu.seconds() - cpu_before) / max(1, len(ok)),
            "why_failed": dict(failures)}


def measure(topology, users: int, clients: int, seconds: float, note: str = "") -> str:
    """Two nodes, then node 1 stopped (it stays stopped); return the table."""
    production = Production(topology, inbox=None)
    people = production.active_users(STATE, "bench:login-rate", users)
    cpu = ProcessCpu([node.process.pid for node in topology.nodes])
    _rate(production, people, clients, 5, cpu)  # warm-up: JIT, pools, caches
    two = _rate(production, people, clients, seconds, cpu)
    topology.nodes[0].stop()
    _rate(production, people, clients, 3, cpu)  # nginx notices the stopped node
    one = _rate(production, people, clients, seconds, cpu)
    lines = [f"Password logins through nginx (TLS), {clients} people signing in one after "
             f"another, {seconds:.0f} s each; {note}",
             f"{'Keycloak nodes':<20} {'logins/s':>9} {'p50 s':>7} {'failed':>7} "
             f"{'Keycloak CPU ms/login':>22}"]
    for name, r in (("2", two), ("1 (node 1 stopped)", one)):
        lines.append(f"{name:<20} {r['per_s']:>9.1f} {r['p50']:>7.2f} {r['failed']:>7} "
                     f"{r['cpu_ms']:>22.1f}")
    for name, r in (("2", two), ("1", one)):
        if r["why_failed"]:  # status and step of the failed logins, to tell a bench fault
            lines.append(f"failed with {name} node(s): {r['why_failed']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    note = load_note()
    with running_topology(say=lambda line: None) as topology:
        table = measure(topology, args.users, args.clients, args.seconds, note)
    print("\n" + table)


if __name__ == "__main__":
    main()
