"""One ``UserDirectory`` per realm for the sidecar, built on first use and then shared.

Each realm's directory speaks as that realm's own sidecar service account (least
privilege). A directory holds a python-keycloak client whose access token and HTTP
connection pool are worth keeping across requests, so the sidecar keeps one per realm
for the life of the process; python-keycloak refreshes the token as it expires.
"""

from __future__ import annotations

import threading

from idp_extension.gateway.connection import sidecar_admin
from idp_extension.gateway.users import UserDirectory
from idp_extension.settings import Settings


# Connections kept open to Keycloak per realm (opened only as needed). At least the
# threads of a worker (deploy/gunicorn.conf.py: 64), or urllib3 drops and reopens
# connections beyond it.
DEFAULT_POOL_SIZE = 64


class KeycloakDirectories:
    """``directories(realm)`` → that realm's ``UserDirectory`` (thread-safe, cached)."""

    def __init__(self, settings: Settings, *, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self._settings = settings
        self._pool_size = pool_size
        self._directories: dict[str, UserDirectory] = {}
        self._lock = threading.Lock()

    def __call__(self, realm: str) -> UserDirectory:
        with self._lock:
            directory = self._directories.get(realm)
            if directory is None:
                admin = sidecar_admin(self._settings, realm, pool_size=self._pool_size)
                directory = self._directories[realm] = UserDirectory(admin, realm)
            return directory

    def __repr__(self) -> str:
        return f"KeycloakDirectories({self._settings.keycloak_url!r})"
