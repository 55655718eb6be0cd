"""Paged reads of a realm's users (gateway/user_scan.py) against a fake connection."""

from __future__ import annotations

import json

import pytest

from idp_extension.gateway.errors import GatewayError, KeycloakUnavailable
from idp_extension.gateway.user_scan import UserScan


class Response:
    def __init__(self, status: int, body) -> None:
        self.status_code = status
        self.content = json.dumps(body).encode()


class Connection:
    def __init__(self, users: int, status: int = 200) -> None:
        self.users = [{"id": f"u{i}", "username": f"{i:012d}", "enabled": True,
                       "attributes": {"ispeks_activation_state": ["pending"]}}
                      for i in range(users)]
        self.status = status
        self.calls = []

    def raw_get(self, path, **params):
        self.calls.append((path, params))
        users = self.users
        if "q" in params:
            key, value = params["q"].split(":", 1)
            users = [u for u in users if u["attributes"].get(key) == [value]]
        if path.endswith("/count"):
            return Response(self.status, len(users))
        if "search" in params:
            # Keycloak's prefix search matches emails and names too.
            prefix = params["search"].rstrip("*")
            users = [u for u in users if u["username"].startswith(prefix)
                     or u.get("email", "").startswith(prefix)]
        first, size = params.get("first", 0), params.get("max", 100)
        return Response(self.status, users[first:first + size])


class Admin:
    def __init__(self, connection) -> None:
        self.connection = connection


def listings(connection):
    return [(path, params) for path, params in connection.calls if not path.endswith("/count")]


@pytest.mark.parametrize("users, pages", [(0, 1), (3, 1), (4, 2), (9, 3)])
def test_plain_pages_one_full_page_at_a_time(users, pages):
    connection = Connection(users)
    found = list(UserScan(Admin(connection), "pahang", page_size=4)._pages())
    assert [u.id for u in found] == [f"u{i}" for i in range(users)]
    assert len(connection.calls) == pages
    assert all(params["briefRepresentation"] == "false" and params["max"] == 4
               for _, params in connection.calls)
    assert [params["first"] for _, params in connection.calls] == list(range(0, 4 * pages, 4))


def test_the_scan_reads_every_user_once_in_slices_by_id_prefix():
    connection = Connection(0)
    ids = ["600101061234", "600202061234", "611231035555", "991231145555", "1234567-x",
           "001010101010"]
    connection.users = [{"id": f"u{i}", "username": name, "enabled": True,
                         # An email that begins like another slice's IDs.
                         "email": f"60{i}@pahang.gov.my",
                         "attributes": {"ispeks_activation_state": ["pending"]}}
                        for i, name in enumerate(ids)]
    found = list(UserScan(Admin(connection), "pahang", page_size=2).users())
    assert sorted(u.user_id for u in found) == sorted(ids)
    slices = [params["search"] for _, params in listings(connection)]
    assert slices[0] == "00*" and "99*" in slices and len(set(slices)) == 100
    assert all("search" in params for _, params in listings(connection)), "no plain listing"


def test_ids_outside_the_slices_are_read_with_a_plain_listing():
    connection = Connection(0)
    connection.users = [{"id": f"u{i}", "username": name, "enabled": True,
                         "attributes": {"ispeks_activation_state": ["active"]}}
                        for i, name in enumerate(["600101061234", "x-company", "7"])]
    connection.users.append({"id": "svc", "username": "service-account-x", "enabled": True,
                             "attributes": {}})
    found = list(UserScan(Admin(connection), "pahang", page_size=2).users())
    assert sorted(u.user_id for u in found) == ["600101061234", "7", "service-account-x",
                                                "x-company"]


def test_pending_users_ask_keycloak_to_filter():
    connection = Connection(2)
    list(UserScan(Admin(connection), "pahang").pending_users())
    assert connection.calls[0][1]["q"] == "ispeks_activation_state:pending"
    assert connection.calls[0][0] == "admin/realms/pahang/users"


@pytest.mark.parametrize("status, error", [(503, KeycloakUnavailable), (403, GatewayError)])
def test_keycloak_errors_become_the_gateways(status, error):
    with pytest.raises(error):
        list(UserScan(Admin(Connection(2, status=status)), "pahang").users())
    with pytest.raises(error):
        list(UserScan(Admin(Connection(2, status=status)), "pahang").pending_users())
