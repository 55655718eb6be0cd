"""Import N synthetic payroll users into one realm; print users/s against a baseline.

Everything real, on loopback: Keycloak with a temporary data folder, one state's realm
applied, a CSV written with N made-up people (valid MyKad numbers, both date formats,
some IDs with dashes), then:

1. the importer, end to end (``ispeks-idp users import``'s code: read the CSV, read
   Keycloak, create in batches);
2. the baseline on a sample of other people: one ``POST /users`` per user, same payload;
3. for scale, a small sample created in batches but with a plain random password that
   Keycloak hashes itself (what the unknown-hash credential avoids);
4. the same file again, which must change nothing (reads every user back).

Each figure comes with the Keycloak server's CPU time per user, read from /proc: wall-clock
rates depend on what else the machine runs (the importer needs CPU, the one-at-a-time
baseline mostly waits), CPU per user does not.

``--database postgres`` runs the same steps on the prod-like topology instead (PostgreSQL,
two clustered Keycloak nodes behind nginx's internal listener: what
``ispeks-idp prod-like up`` starts); its server CPU is both nodes' JVMs, and PostgreSQL's
own CPU is printed beside it. ``--database both`` runs H2 then PostgreSQL in one command,
and prints the two side by side.

Run: ``python -m bench.import_users [--users 100000] [--baseline-sample 500]
[--database h2|postgres|both]``. 100,000 users take tens of minutes per database on a
2-core machine: ``--users 20000`` gives the rates within a few percent.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

from bench._keycloak import Measured, ServerCpu, bench_keycloak, check_ids, fast_people, rate
from bench.prodlike import ProcessCpu, load_note, running_topology
from idp_extension.gateway.bulk_users import CREATE_BATCH, CREATE_WORKERS, BulkUsers
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.importing.payroll_csv import read_payroll_file
from idp_extension.importing.run import import_payroll
from idp_extension.keycloak_server import KEYCLOAK_VERSION
from idp_extension.passwords import random_password
from idp_extension.payroll import PayrollRecord
from idp_extension.settings import Settings, load_settings
from idp_extension.tenants import load_tenant

def write_csv(path: Path, people: list[PayrollRecord]) -> None:
    """Write the payroll file as state IT would get it (mixed ID and date styles)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "name", "email", "department", "registration_date"])
        for i, p in enumerate(people):
            user_id = p.user_id
            if i % 3 == 0:
                user_id = f"{user_id[:6]}-{user_id[6:8]}-{user_id[8:]}"
            when = (p.registration_date.strftime("%d/%m/%Y %I:%M:%S %p") if i % 2
                    else p.registration_date.isoformat(timespec="seconds"))
            writer.writerow([user_id, p.name, p.email, p.department, when])


def run(settings: Settings, state: str, args: argparse.Namespace, workdir: Path,
        cpu: ServerCpu, database_cpu: ProcessCpu | None = None) -> dict:
    tenant = load_tenant(settings.realm_templates_dir, state)
    sizes = (args.users, args.baseline_sample, args.hash_sample)
    everyone = fast_people(tenant, sum(sizes))
    check_ids(everyone)
    people = everyone[:args.users]
    baseline = everyone[args.users:args.users + args.baseline_sample]
    hashed = everyone[args.users + args.baseline_sample:]
    path = workdir / "payroll.csv"
    write_csv(path, people)
    store = BulkUsers(bootstrap_admin(settings, state), state, batch_size=args.batch_size,
                      workers=args.workers)

    database_before = database_cpu.seconds() if database_cpu else 0.0
    with Measured(cpu) as step:
        began = time.perf_counter()
        parsed = read_payroll_file(path, tenant)
        parse_seconds = time.perf_counter() - began
        summary = import_payroll(parsed, store)
    database_ms = (1000 * (database_cpu.seconds() - database_before) / args.users
                   if database_cpu else None)
    figures = {"users": args.users, "users_per_s": rate(args.users, step.seconds),
               "keycloak_cpu_ms": step.per_user_ms(args.users), "database_cpu_ms": database_ms}
    counts = (summary.created, len(summary.rejected), len(summary.failed))
    assert counts == (args.users, 0, 0), summary.problems()[:5]
    ours, ours_cpu = rate(args.users, step.seconds), step.per_user_ms(args.users)
    print(f"importer: {args.users} users in {step.seconds:.1f} s = {ours:.0f} users/s, "
          f"server CPU {ours_cpu:.2f} ms/user, importer CPU "
          f"{1000 * step.client_seconds / args.users:.2f} ms/user, {step.busy_cores():.1f} of "
          f"{os.cpu_count()} cores busy (CSV read and checked in {parse_seconds:.1f} s; "
          f"batches of {args.batch_size}, {args.workers} in flight)"
          + (f"; PostgreSQL CPU {database_ms:.2f} ms/user" if database_ms is not None else ""),
          flush=True)

    with Measured(cpu) as step:
        outcome = store.create_pending_one_per_request(baseline)
    assert len(outcome.created) == len(baseline), outcome.failed[:3]
    base, base_cpu = rate(len(baseline), step.seconds), step.per_user_ms(len(baseline))
    print(f"baseline (one POST /users per user, same payload): {len(baseline)} users in "
          f"{step.seconds:.1f} s = {base:.0f} users/s, server CPU {base_cpu:.2f} ms/user, "
          f"{step.busy_cores():.1f} cores busy", flush=True)
    print(f"ratio: {ours / base:.1f}x the baseline's users/s; "
          f"{base_cpu / ours_cpu:.1f}x less server CPU per user", flush=True)
    figures.update(baseline_per_s=base, baseline_cpu_ms=base_cpu)

    if hashed:
        plain = BulkUsers(bootstrap_admin(settings, state), state, batch_size=args.batch_size,
                          workers=args.workers, credential=lambda: {
                              "type": "password", "value": random_password(32), "temporary": False})
        with Measured(cpu) as step:
            outcome = plain.create_pending(hashed)
        assert len(outcome.created) == len(hashed), outcome.failed[:3]
        print(f"for scale, batched but Keycloak hashing a random password per user: "
              f"{len(hashed)} users in {step.seconds:.1f} s = "
              f"{rate(len(hashed), step.seconds):.0f} users/s, "
              f"server CPU {step.per_user_ms(len(hashed)):.1f} ms/user", flush=True)

    if args.rerun:
        with Measured(cpu) as step:
            again = import_payroll(read_payroll_file(path, tenant), store)
        assert (again.created, again.updated, again.unchanged) == (0, 0, args.users), again.line()
        print(f"same file again (reads every user back, writes nothing): {args.users} rows in "
              f"{step.seconds:.1f} s = {rate(args.users, step.seconds):.0f} rows/s, "
              f"server CPU {step.per_user_ms(args.users):.2f} ms/row", flush=True)
    return figures


def on_h2(base: Settings, args: argparse.Namespace) -> dict:
    """The development stack: one Keycloak on its embedded H2 file."""
    with bench_keycloak(args.state, base=base) as keycloak:
        print(f"\n== H2: {keycloak.describe(args.state)}", flush=True)
        return run(keycloak.settings, args.state, args, keycloak.folder, keycloak.cpu())


def on_postgres(args: argparse.Namespace) -> dict:
    """The prod-like topology: two Keycloak nodes on PostgreSQL, behind nginx."""
    print("\n== PostgreSQL: starting the prod-like topology ...", flush=True)
    with running_topology(say=lambda line: None) as topology:
        return on_topology(topology, args)


def on_topology(topology, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        nodes = ProcessCpu([node.process.pid for node in topology.nodes])
        database = ProcessCpu([topology.postgres.process.pid])
        print(f"== PostgreSQL: Keycloak {KEYCLOAK_VERSION}, 2 nodes (-Xmx768m each) on "
              f"PostgreSQL, through nginx's internal listener; {load_note()}; "
              f"realm {args.state}", flush=True)
        return run(topology.settings, args.state, args, Path(tmp), nodes, database)


def table(results: dict) -> str:
    lines = [f"{'database':<22} {'users':>7} {'users/s':>8} {'Keycloak CPU ms/user':>21} "
             f"{'PostgreSQL CPU ms/user':>23} {'one-per-request users/s':>24}"]
    for name, r in results.items():
        database = f"{r['database_cpu_ms']:.2f}" if r["database_cpu_ms"] is not None else "-"
        lines.append(f"{name:<22} {r['users']:>7} {r['users_per_s']:>8.0f} "
                     f"{r['keycloak_cpu_ms']:>21.2f} {database:>23} "
                     f"{r.get('baseline_per_s', 0):>24.0f}")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--baseline-sample", type=int, default=500)
    parser.add_argument("--hash-sample", type=int, default=100,
                        help="users created with Keycloak hashing a password (0: skip)")
    parser.add_argument("--state", default="melaka")
    parser.add_argument("--batch-size", type=int, default=CREATE_BATCH)
    parser.add_argument("--workers", type=int, default=CREATE_WORKERS)
    parser.add_argument("--no-rerun", dest="rerun", action="store_false",
                        help="skip importing the same file a second time")
    parser.add_argument("--database", choices=("h2", "postgres", "both"), default="h2")
    return parser


def main() -> None:
    args = parser().parse_args()
    results = {}
    if args.database in ("h2", "both"):
        results["H2 (dev, 1 node)"] = on_h2(load_settings(), args)
    if args.database in ("postgres", "both"):
        results["PostgreSQL (2 nodes)"] = on_postgres(args)
    print("\n" + table(results))


if __name__ == "__main__":
    main()
