"""The in-process stack's background work (tests/support/inprocess.py): settle() is a barrier.

Integration tests check "nothing was sent" after ``settle()``; that is only sound if
settle waits for every task still running, and lets failures through.
"""

from __future__ import annotations

import threading

import pytest

from tests.support.inprocess import SettledWork


def test_settle_waits_for_a_task_that_outlives_the_answer():
    work, release, sent = SettledWork(), threading.Event(), []

    def slow_send() -> None:
        release.wait(10)
        sent.append("mail")

    work.run(slow_send, within=0.01)
    assert sent == []  # the answer left first, as in production
    with pytest.raises(AssertionError, match="still busy"):
        work.settle(timeout=0.05)
    release.set()
    work.settle()
    assert sent == ["mail"]


def test_settle_returns_after_a_failed_task_too():
    work = SettledWork()

    def failing() -> None:
        raise RuntimeError("SMTP down")

    work.run(failing, within=5.0)
    work.settle(timeout=5.0)
