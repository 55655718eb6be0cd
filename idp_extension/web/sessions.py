"""Sign-ins kept in the Flask session cookie, alive only while the server says so.

::

    callback ──► start(key, record)   the old session is dropped whole (its sign-ins
                                      revoked), a new random session id is registered in
                                      the shared claims store, the cookie holds the record
    each page ─► current(key)         the record, only while its id is still registered
    Log Keluar ► end(key)             the id is released: every copy of the cookie is dead

The cookie is signed (itsdangerous), not encrypted: it holds who signed in and when, a
random session id, never a token or a password. Without a server-side record a signed
cookie stays valid until it expires, whoever copied it; the record makes logout real.
The record lives in ``services.claims`` (memory in one process, Redis when workers or
instances share it), under ``sidecar-session:<id>``, for as long as the sign-in may last.
"""

from __future__ import annotations

import secrets
from typing import Any, Mapping

from flask import session

from idp_extension.web.services import current_services

SESSION_ID_KEY = "sid"
STORE_PREFIX = "sidecar-session:"
# 256 bits (ASVS 7.2.3 asks for at least 128).
SESSION_ID_BYTES = 32


def _store_key(session_id: str) -> str:
    return STORE_PREFIX + session_id


def _revoke(record: Any) -> None:
    session_id = record.get(SESSION_ID_KEY) if isinstance(record, dict) else None
    if isinstance(session_id, str) and session_id:
        current_services().claims.release(_store_key(session_id))


def start(key: str, record: Mapping[str, Any], ttl_seconds: int) -> dict[str, Any]:
    """Begin a new session that holds only this sign-in (no fixation); return the record."""
    # Whatever the browser brought (someone else's sign-in on a shared computer, a
    # cookie planted before login, an old CSRF token) ends here.
    for value in list(session.values()):
        _revoke(value)
    session.clear()
    claims = current_services().claims
    session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
    while not claims.claim(_store_key(session_id), ttl_seconds):  # pragma: no cover
        session_id = secrets.token_urlsafe(SESSION_ID_BYTES)  # a collision: never in practice
    stored = {**record, SESSION_ID_KEY: session_id}
    session[key] = stored
    return stored


def current(key: str) -> dict[str, Any] | None:
    """The sign-in under ``key`` if the server still knows its session, else None."""
    record = session.get(key)
    if not isinstance(record, dict):
        return None
    session_id = record.get(SESSION_ID_KEY)
    if not isinstance(session_id, str) or not session_id or not (
            current_services().claims.is_claimed(_store_key(session_id))):
        session.pop(key, None)
        return None
    return record


def end(key: str) -> dict[str, Any] | None:
    """Revoke the sign-in under ``key`` server-side and forget it; return what it was."""
    record = session.pop(key, None)
    _revoke(record)
    return record if isinstance(record, dict) else None
