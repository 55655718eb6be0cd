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
        first, size = params.get("first", 0), params.get("max", 100)
        return Response(self.status, self.users[first:first + size])


class Admin:
    def __init__(self, connection) -> None:
        self.connection = connection


@pytest.mark.parametrize("users, pages", [(0, 1), (3, 1), (4, 2), (9, 3)])
def test_every_user_once_one_full_page_at_a_time(users, pages):
    connection = Connection(users)
    found = list(UserScan(Admin(connection), "pahang", page_size=4).users())
    assert [u.id for u in found] == [f"u{i}" for i in range(users)]
    assert len(connection.calls) == pages
    assert all(params["briefRepresentation"] == "false" and params["max"] == 4
               for _, params in connection.calls)
    assert [params["first"] for _, params in connection.calls] == list(range(0, 4 * pages, 4))


def test_pending_users_ask_keycloak_to_filter():
    connection = Connection(2)
    list(UserScan(Admin(connection), "pahang").pending_users())
    assert connection.calls[0][1]["q"] == "ispeks_activation_state:pending"
    assert connection.calls[0][0] == "admin/realms/pahang/users"


@pytest.mark.parametrize("status, error", [(503, KeycloakUnavailable), (403, GatewayError)])
def test_keycloak_errors_become_the_gateways(status, error):
    with pytest.raises(error):
        list(UserScan(Admin(Connection(2, status=status)), "pahang").users())
