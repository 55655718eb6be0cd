"""Wait for something that will happen (never to show that something did not)."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_until(read: Callable[[], T], ready: Callable[[T], bool], *, timeout: float = 15.0,
               interval: float = 0.05, what: str = "the condition") -> T:
    """Call ``read`` until ``ready`` accepts its value; return that value.

    For what another process does a moment after answering (Keycloak counting a failed
    login, gunicorn writing its access log). Fails after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if ready(value):
            return value
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout} s"
        time.sleep(interval)
