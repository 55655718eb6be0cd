"""A queueing model of the sidecar's gunicorn workers: why site-key p99 jumped at 200/s.

Not a measurement: a simulation that needs no server, so it gives the same answer on a
busy machine. Requests arrive at random (Poisson) and each holds a thread for ``hold``
seconds (the 0.25 s floor plus the work). Two ways gunicorn's gthread workers can take
connections:

* uncapped (gunicorn's default ``worker_connections = 1000``): whichever worker wins the
  accept takes the connection, and queues it behind its own threads when they are all
  busy, even while the other worker has idle ones;
* capped (``worker_connections = threads``, ``deploy/gunicorn.conf.py``): a worker with
  no free thread stops accepting; the connection waits in the kernel's backlog for the
  first free thread of any worker.

Prints the 99th percentile of the time a request waits for a thread, per rate.

Run: ``python -m bench.gunicorn_queue_model [--hold 0.255] [--rates 100,150,200,250]``.
"""

from __future__ import annotations

import argparse
import heapq
import random


def p99_wait_ms(rate: float, workers: int, threads: int, capped: bool, hold: float,
                requests: int = 200_000, seed: int = 1) -> float:
    draw = random.Random(seed)
    free = [[0.0] * threads for _ in range(workers)]  # per worker: when each thread frees
    now, waits = 0.0, []
    for _ in range(requests):
        now += draw.expovariate(rate)
        if capped:
            worker = min(range(workers), key=lambda k: free[k][0])
        else:
            worker = draw.randrange(workers)
        start = max(now, heapq.heappop(free[worker]))
        heapq.heappush(free[worker], start + hold)
        waits.append(start - now)
    waits.sort()
    return 1000 * waits[int(0.99 * len(waits))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hold", type=float, default=0.255,
                        help="seconds a request holds its thread (floor + work)")
    parser.add_argument("--rates", default="100,150,200,250")
    args = parser.parse_args()
    print(f"p99 wait for a thread (ms), one sidecar of 2 workers, hold {args.hold * 1000:.0f} ms")
    print(f"{'rate/s':>7} {'2x32 uncapped (before)':>23} {'2x32 capped':>12} "
          f"{'2x64 capped (now)':>18}")
    for rate in (float(r) for r in args.rates.split(",")):
        print(f"{rate:>7.0f} {p99_wait_ms(rate, 2, 32, False, args.hold):>23.1f} "
              f"{p99_wait_ms(rate, 2, 32, True, args.hold):>12.1f} "
              f"{p99_wait_ms(rate, 2, 64, True, args.hold):>18.1f}")


if __name__ == "__main__":
    main()
