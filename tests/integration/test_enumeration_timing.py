"""Response times do not tell unknown, pending, active, locked and disabled IDs apart.

For each enumeration-sensitive endpoint (one state each), 16 answers per kind of ID
(``E.SAMPLES``),
asked in rounds that ask every kind once in a new order each (so load from the other
work on a shared machine hits every kind alike). Every pair of kinds is compared with
a two-sided Mann-Whitney U test; a pair fails if its p-value is below 1e-4 *and* its
medians differ by more than 25 ms, or if its lower quartiles differ by more than 30 ms
(``tests.support.enumeration.telling_pairs`` says why). A kind answering 50 ms faster
or slower fails; load noise does not.
``python -m bench.enumeration_timing`` takes 200 samples a kind and prints the table.

Rate limits are switched off for this app: they answer alike for every kind anyway,
and 16 requests for one ID would hit them.
"""

from __future__ import annotations

import random
import time

import pytest

from tests.support import enumeration as E
from tests.support import inprocess

# 85 answers per endpoint (0.25-0.8 s each) and five new people, on a busy machine.
pytestmark = pytest.mark.timeout(900)
ENDPOINTS = [("pahang", "activation"), ("melaka", "first-login"), ("kelantan", "recovery"),
             ("selangor", "site-key")]


@pytest.fixture(scope="module")
def stack(provisioned_realms, mail_inbox, tmp_path_factory) -> inprocess.Stack:
    return inprocess.Stack(provisioned_realms, mail_inbox,
                           tmp_path_factory.mktemp("timing") / "audit.jsonl", rate_limits=False)


def measure(stack, realm: str, endpoint: str, people: dict[str, E.Someone], samples: int,
            seed: str) -> dict[str, list[float]]:
    """Seconds per answer, by kind; one warm-up round first (tokens, connections)."""
    timings: dict[str, list[float]] = {kind: [] for kind in people}
    order = random.Random(seed)
    for n, kind in E.interleaved(list(people), samples + 1, order.shuffle):
        began = time.perf_counter()
        answer = E.ask(stack, realm, endpoint, people[kind], f"10.70.{n % 250}.{len(kind)}")
        elapsed = time.perf_counter() - began
        assert answer.status in (200, 303), (kind, answer.status, answer.body[:300])
        if n:
            timings[kind].append(elapsed)
    return timings


@pytest.mark.parametrize("realm, endpoint", ENDPOINTS)
def test_no_kind_of_id_answers_at_a_telling_speed(stack, realm, endpoint):
    people = E.people(stack, realm, f"timing:{realm}:{endpoint}")
    timings = measure(stack, realm, endpoint, people, E.SAMPLES, seed=f"{realm}:{endpoint}")
    verdicts = E.compare(timings)
    table = "\n".join(f"{v.a:>8} {v.median_a_ms:7.1f} ms  {v.b:>8} {v.median_b_ms:7.1f} ms"
                      f"  p={v.p_value:.2g}  lower quartiles {v.quartile_a_ms:.1f} / "
                      f"{v.quartile_b_ms:.1f} ms" for v in verdicts)
    assert not E.telling_pairs(verdicts), f"{realm} {endpoint}\n{table}"
