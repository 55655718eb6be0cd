"""Passwords the system makes itself (never the ones people choose)."""

from __future__ import annotations

import secrets
import string

SPECIALS = "!@#$%&*-_=+?"


def random_password(length: int = 16) -> str:
    """A random password that meets the realm policy (12+, upper, lower, digit, special)."""
    pools = [string.ascii_uppercase, string.ascii_lowercase, string.digits, SPECIALS]
    chars = [secrets.choice(pool) for pool in pools]
    everything = "".join(pools)
    chars += [secrets.choice(everything) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)
