"""Requests from an address of one's own on loopback.

Keycloak's login form limits failed posts per client address (the ispeks-login
provider). On Linux every 127.0.0.0/8 address reaches a server listening on 127.0.0.1,
so a test can come from as many "people" as it needs: ``fresh_loopback()`` picks a new
one, ``loopback_session(address)`` sends a requests session's traffic from it.
"""

from __future__ import annotations

import secrets

import requests
from requests.adapters import HTTPAdapter


def fresh_loopback() -> str:
    """A random 127.x.y.z address (never 127.0.0.1, which servers and browsers share)."""
    return f"127.{secrets.randbelow(254) + 1}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


class _SourceAddressAdapter(HTTPAdapter):
    def __init__(self, address: str, **kwargs) -> None:
        self._address = address
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self._address, 0)
        return super().init_poolmanager(*args, **kwargs)


def loopback_session(address: str | None = None) -> requests.Session:
    """A session whose connections leave from ``address`` (default: a fresh one)."""
    session = requests.Session()
    adapter = _SourceAddressAdapter(address or fresh_loopback())
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.source_address = adapter._address  # for the test's own messages
    return session
