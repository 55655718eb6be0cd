"""All the production figures in one run: one prod-like topology for the three benches.

In order, on one topology (``ispeks-idp prod-like up``'s): site-key answers at fixed
rates (``bench.site_key_rate``), the payroll import on PostgreSQL
(``bench.import_users``), password logins with two nodes then one
(``bench.login_rate``, which stops node 1, so it comes last); then the same import on
the development stack's H2 for comparison. Prints the three tables together at the end.

Run: ``python -m bench.production [--users 100000] [--rates 50,100,150,200]
[--seconds 10] [--login-seconds 30]``.
"""

from __future__ import annotations

import argparse

from bench import import_users, login_rate, site_key_rate
from bench.prodlike import load_note, running_topology
from idp_extension.settings import load_settings


def main() -> None:
    options = import_users.parser()
    options.description = __doc__.splitlines()[0]
    options.add_argument("--rates", default="50,100,150,200")
    options.add_argument("--seconds", type=float, default=10)
    options.add_argument("--login-seconds", type=float, default=30)
    options.add_argument("--clients", type=int, default=8)
    args = options.parse_args()
    note = load_note()
    with running_topology(say=lambda line: None) as topology:
        site_key = site_key_rate.measure(topology, [float(r) for r in args.rates.split(",")],
                                         args.seconds, note=note)
        print("\n" + site_key, flush=True)
        imported = {"PostgreSQL (2 nodes)": import_users.on_topology(topology, args)}
        logins = login_rate.measure(topology, 100, args.clients, args.login_seconds,
                                    note=load_note())
        print("\n" + logins, flush=True)
    imported["H2 (dev, 1 node)"] = import_users.on_h2(load_settings(), args)
    print("\n== Figures", "", site_key, "", "Payroll import, "
          f"{args.users} users (started: {note})", import_users.table(imported), "", logins,
          sep="\n")


if __name__ == "__main__":
    main()
