"""Wait for Keycloak's brute-force detector, which records a failure just after answering."""

from __future__ import annotations

from tests.support.waiting import wait_until


def wait_for_failures(directory, uuid: str, count: int, timeout: float = 15.0) -> None:
    """Block until Keycloak has counted ``count`` failed logins for the user."""
    wait_until(lambda: directory.failed_logins(uuid).get("numFailures", 0),
               lambda failures: failures >= count, timeout=timeout,
               what=f"Keycloak counting {count} failures")


def wait_until_locked(directory, uuid: str, timeout: float = 15.0) -> None:
    """Block until three wrong passwords have locked the account for good."""
    wait_until(lambda: directory.get(uuid).permanently_locked, bool, timeout=timeout,
               what="the lock after three wrong passwords")
