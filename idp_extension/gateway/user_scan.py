"""Read every user of a realm page by page, for summaries (the campaign report).

``GET /admin/realms/{r}/users?first=&max=``, one page in memory at a time: a summary
never holds a whole realm. Keycloak's brief representation carries no attributes
(department, activation state), so the pages are full representations. Their cost per
user depends on the page size (measured on Keycloak 26.7.3, dev-file H2, 3,000 users,
loaded 2-core machine): 100 per page 2.4-4 ms/user, 500 per page 1.4 ms/user, 1,000 per
page 2.1 ms/user, 2,000 per page 86 ms/user (Keycloak's work per page grows faster than
the page). One request per user costs 20-30 ms. Hence pages of 500. A page deep in the
realm costs more than the first (H2 sorts and skips the users before it): a whole scan of
20,000 users took 399 s under load, 20 ms/user (bench/activation_report.py);
``pending_users`` narrows a listing to not-yet-activated users with Keycloak's own
attribute search (``q=ispeks_activation_state:pending``) for the reminders.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import requests
from keycloak import KeycloakAdmin
from keycloak.exceptions import KeycloakError

from idp_extension.gateway.errors import GatewayError, KeycloakUnavailable
from idp_extension.gateway.users import ACTIVATION_STATE, PENDING, DirectoryUser

DEFAULT_PAGE = 500
UNAVAILABLE = frozenset({502, 503, 504})


class UserScan:
    """Paged reads of one realm's users (any admin client that may view users)."""

    def __init__(self, admin: KeycloakAdmin, realm: str, *, page_size: int = DEFAULT_PAGE):
        self._connection = admin.connection
        self.realm = realm
        self.page_size = max(1, page_size)
        self._users = f"admin/realms/{realm}/users"

    def _get(self, path: str, action: str, **params: Any) -> Any:
        try:
            response = self._connection.raw_get(path, **params)
        except KeycloakError as exc:
            if exc.response_code is None or exc.response_code in UNAVAILABLE:
                raise KeycloakUnavailable(f"{action}: Keycloak unreachable ({exc})") from exc
            raise GatewayError(f"{action}: Keycloak said {exc.response_code}") from exc
        except requests.RequestException as exc:
            raise KeycloakUnavailable(f"{action}: Keycloak unreachable ({exc})") from exc
        if response.status_code in UNAVAILABLE:
            raise KeycloakUnavailable(f"{action}: Keycloak unavailable ({response.status_code})")
        if response.status_code >= 300:
            raise GatewayError(f"{action}: Keycloak said {response.status_code}")
        return json.loads(response.content)

    def count(self) -> int:
        """How many users the realm has (service accounts included)."""
        return int(self._get(f"{self._users}/count", "count users"))

    def _pages(self, **query: Any) -> Iterator[DirectoryUser]:
        first = 0
        while True:
            page = self._get(self._users, "list users", first=first, max=self.page_size,
                             briefRepresentation="false", **query)
            for rep in page:
                yield DirectoryUser.from_representation(rep)
            if len(page) < self.page_size:
                return
            first += len(page)

    def users(self) -> Iterator[DirectoryUser]:
        """Every user of the realm, with attributes, a page at a time."""
        return self._pages()

    def pending_users(self) -> Iterator[DirectoryUser]:
        """Every user whose activation state is pending, a page at a time."""
        return self._pages(q=f"{ACTIVATION_STATE}:{PENDING}")
