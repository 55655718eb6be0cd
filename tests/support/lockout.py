"""Wait for Keycloak's brute-force detector, which records a failure just after answering."""

from __future__ import annotations

import time


def wait_for_failures(directory, uuid: str, count: int, timeout: float = 15.0) -> None:
    """Block until Keycloak has counted ``count`` failed logins for the user."""
    deadline = time.monotonic() + timeout
    while directory.failed_logins(uuid).get("numFailures", 0) < count:
        assert time.monotonic() < deadline, f"Keycloak did not count {count} failures"
        time.sleep(0.1)


def wait_until_locked(directory, uuid: str, timeout: float = 15.0) -> None:
    """Block until three wrong passwords have locked the account for good."""
    deadline = time.monotonic() + timeout
    while not directory.get(uuid).permanently_locked:
        assert time.monotonic() < deadline, "three wrong passwords did not lock"
        time.sleep(0.1)
