"""Break a signed token the way an attacker would: a changed signature byte."""

from __future__ import annotations


def with_flipped_signature(token: str) -> str:
    """Return ``token`` (``payload.signature``) with its signature's first character changed.

    Not the last character: in base64 the last one carries padding bits, and changing
    only those decodes to the very same signature, so such a "tampered" token is valid.
    """
    payload, dot, signature = token.rpartition(".")
    return payload + dot + ("A" if signature[0] != "A" else "B") + signature[1:]
