"""Import N task assignments into one realm; print assignments/s against one request each.

Everything real, on loopback: Keycloak with a temporary data folder, one state's realm
applied, N/``--per-user`` synthetic users created first (the payroll import's batched
creation, not measured), a task CSV written with N assignments (no segregation
conflicts), then, all with the state's own IT credential as `users tasks import` uses:

1. the importer end to end (``ispeks-idp users tasks import``'s code: read the CSV, find
   the users, read their tasks, one mapping request per user with all its tasks,
   ``WRITE_WORKERS`` requests in flight);
2. the baseline, in the same run, on a sample of other users: one mapping request per
   assignment, one at a time (user ids and role ids already known: only the writes);
3. the same file again, which must grant nothing.

Figures come with Keycloak's CPU time per assignment (bench._keycloak.ServerCpu): on
a shared machine wall-clock rates move with the load, CPU per assignment much less.

Run: ``python -m bench.task_import [--assignments 100000] [--baseline-sample 1000]``.
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

from bench._keycloak import Measured, ServerCpu, bench_keycloak, check_ids, fast_people, rate
from idp_extension.gateway.bulk_users import BulkUsers
from idp_extension.gateway.connection import bootstrap_admin, state_it_admin
from idp_extension.gateway.tasks import WRITE_WORKERS, TaskRoles
from idp_extension.importing.tasks_csv import import_tasks, read_task_file
from idp_extension.settings import Settings
from idp_extension.tasks import Catalogue
from idp_extension.tenants import load_tenant, load_values

# Tasks a user may hold together (never Penyedia and Pelulus of one module).
COMPATIBLE = ("ac:penyedia", "proc:penyemak", "py:pelulus", "sl:penyedia", "aim:penyemak",
              "ac:penyemak", "proc:pelulus", "py:penyemak", "sl:penyemak", "aim:penyedia",
              "meja-bantuan")


def assignments_for(index: int, per_user: int) -> list[str]:
    start = index % len(COMPATIBLE)
    return [COMPATIBLE[(start + k) % len(COMPATIBLE)] for k in range(per_user)]


def write_tasks(path: Path, user_ids: list[str], per_user: int) -> int:
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "module", "level"])
        for i, user_id in enumerate(user_ids):
            for role in assignments_for(i, per_user):
                module, _, level = role.partition(":")
                writer.writerow([user_id, module.upper() if i % 2 else module, level])
                rows += 1
    return rows


def run(settings: Settings, state: str, args: argparse.Namespace, workdir: Path,
        cpu: ServerCpu) -> None:
    tenant = load_tenant(settings.realm_templates_dir, state)
    catalogue = Catalogue.from_values(load_values(settings.realm_templates_dir, state))
    users = -(-args.assignments // args.per_user)
    baseline_users = -(-args.baseline_sample // args.per_user)
    everyone = fast_people(tenant, users + baseline_users)
    check_ids(everyone)
    began = time.perf_counter()
    created = BulkUsers(bootstrap_admin(settings, state), state).create_pending(everyone)
    assert len(created.created) == len(everyone), created.failed[:3]
    print(f"setup: {len(everyone)} users created in {time.perf_counter() - began:.1f} s "
          f"(not measured)", flush=True)

    path = workdir / "tasks.csv"
    rows = write_tasks(path, [p.user_id for p in everyone[:users]], args.per_user)
    rows = min(rows, args.assignments)
    if rows < users * args.per_user:  # cut the file at exactly N assignments
        lines = path.read_text().splitlines()[:rows + 1]
        path.write_text("\n".join(lines) + "\n")
    store = TaskRoles(state_it_admin(settings, state), state, write_workers=args.workers)

    with Measured(cpu) as step:
        summary = import_tasks(read_task_file(path, catalogue), store, catalogue)
    assert (summary.granted, len(summary.rejected), len(summary.failed)) == (rows, 0, 0), \
        summary.problems()[:5]
    ours, ours_cpu = rate(rows, step.seconds), step.per_user_ms(rows)
    print(f"importer: {rows} assignments ({summary.users} users, {args.per_user} each) in "
          f"{step.seconds:.1f} s = {ours:.0f} assignments/s, server CPU {ours_cpu:.2f} "
          f"ms/assignment, {step.busy_cores():.1f} of {os.cpu_count()} cores busy "
          f"(one request per user, {args.workers} in flight; includes finding the users "
          f"and reading their tasks)", flush=True)

    sample = everyone[users:]
    uuids = store.users([p.user_id for p in sample])
    pairs = [(uuids[p.user_id], role) for i, p in enumerate(sample)
             for role in assignments_for(i, args.per_user)][:args.baseline_sample]
    with Measured(cpu) as step:
        store.grant_one_per_request(pairs)
    base, base_cpu = rate(len(pairs), step.seconds), step.per_user_ms(len(pairs))
    print(f"baseline (one mapping request per assignment, one at a time, writes only): "
          f"{len(pairs)} assignments in {step.seconds:.1f} s = {base:.0f} assignments/s, "
          f"server CPU {base_cpu:.2f} ms/assignment, {step.busy_cores():.1f} cores busy",
          flush=True)
    cpu_ratio = f"{base_cpu / ours_cpu:.1f}x" if ours_cpu else "n/a"
    print(f"ratio: {ours / base:.1f}x the baseline's assignments/s; "
          f"{cpu_ratio} less server CPU per assignment", flush=True)

    if args.rerun:
        with Measured(cpu) as step:
            again = import_tasks(read_task_file(path, catalogue), store, catalogue)
        assert (again.granted, again.unchanged) == (0, rows), again.line()
        print(f"same file again (reads every user's tasks, grants nothing): {rows} rows in "
              f"{step.seconds:.1f} s = {rate(rows, step.seconds):.0f} rows/s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignments", type=int, default=100_000)
    parser.add_argument("--per-user", type=int, default=4,
                        help=f"assignments per user (at most {len(COMPATIBLE)})")
    parser.add_argument("--baseline-sample", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=WRITE_WORKERS)
    parser.add_argument("--state", default="melaka")
    parser.add_argument("--no-rerun", dest="rerun", action="store_false")
    args = parser.parse_args()
    args.per_user = max(1, min(args.per_user, len(COMPATIBLE)))

    with bench_keycloak(args.state) as keycloak:
        print(keycloak.describe(args.state), flush=True)
        run(keycloak.settings, args.state, args, keycloak.folder, keycloak.cpu())

if __name__ == "__main__":
    main()
