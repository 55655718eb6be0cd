"""The timing verdict of the enumeration tests: catches a 50 ms leak, ignores load noise."""

from __future__ import annotations

import random

import pytest

from tests.support import enumeration as E


def _answer_time(rng: random.Random, floor: float = 0.35) -> float:
    # A floor, scheduling jitter, and now and then a stall from a busy neighbour.
    stall = rng.choice([0.0] * 9 + [rng.uniform(0.05, 0.4)])
    return floor + rng.expovariate(1 / 0.015) + stall


def _samples(rng: random.Random, shift: dict[str, float] | None = None, n: int = E.SAMPLES):
    shift = shift or {}
    return {kind: [_answer_time(rng) + shift.get(kind, 0.0) for _ in range(n)]
            for kind in E.KINDS}


@pytest.mark.parametrize("shift", [-0.05, 0.05])
def test_a_kind_answering_50_ms_faster_or_slower_is_caught_every_time(shift):
    for seed in range(25):
        verdicts = E.compare(_samples(random.Random(seed), {"pending": shift}))
        telling = E.telling_pairs(verdicts)
        assert telling and all("pending" in (v.a, v.b) for v in telling), seed


def test_noise_alone_never_fails():
    for seed in range(100):
        assert not E.telling_pairs(E.compare(_samples(random.Random(seed)))), seed


def test_interleaving_asks_every_kind_once_a_round_in_varying_order():
    rounds = list(E.interleaved(list(E.KINDS), 4, random.Random(1).shuffle))
    assert len(rounds) == 20
    orders = [tuple(k for n, k in rounds if n == r) for r in range(4)]
    assert all(sorted(o) == sorted(E.KINDS) for o in orders) and len(set(orders)) > 1
