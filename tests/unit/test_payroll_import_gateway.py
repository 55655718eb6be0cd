"""The import's Keycloak side without a server: payloads, merging, batching, errors."""

from __future__ import annotations

import base64
import json
import threading
from datetime import datetime
from types import SimpleNamespace

import pytest
import requests

from idp_extension.gateway.bulk_users import (
    ARGON2_CREDENTIAL_DATA, BulkUsers, merged_update, pending_representation,
)
from idp_extension.gateway.errors import GatewayError, KeycloakUnavailable
from idp_extension.importing.plan import UserUpdate
from idp_extension.payroll import PayrollRecord


def record(n: int = 0, **changes) -> PayrollRecord:
    values = dict(user_id=f"8501010455{n:02d}", name=f"ORANG {n}",
                  email=f"orang{n}@melaka.gov.my", department="Jabatan Kerja Raya",
                  registration_date=datetime(2026, 1, 5, 9, 30))
    values.update(changes)
    return PayrollRecord(**values)


def response(status: int, body=None) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = b"" if body is None else json.dumps(body).encode()
    return resp


class FakeConnection:
    """Answers raw_get/raw_post/raw_put from a handler; records every call."""

    def __init__(self, handler) -> None:
        self.handler = handler
        self.calls: list[tuple[str, str, dict, object]] = []
        self._lock = threading.Lock()

    def _call(self, method, path, data=None, **params):
        body = json.loads(data) if data else None
        with self._lock:
            self.calls.append((method, path, params, body))
        return self.handler(method, path, params, body)

    def raw_get(self, path, **params):
        return self._call("get", path, **params)

    def raw_post(self, path, data, **params):
        return self._call("post", path, data, **params)

    def raw_put(self, path, data, **params):
        return self._call("put", path, data, **params)


def bulk(handler, **options) -> tuple[BulkUsers, FakeConnection]:
    connection = FakeConnection(handler)
    return BulkUsers(SimpleNamespace(connection=connection), "melaka", **options), connection


def realm_ok(method, path, params, body):
    if path == "admin/realms/melaka":
        return response(200, {"passwordPolicy": "length(12) and passwordHistory(3)"})
    return None


def test_a_new_user_is_pending_enabled_verified_with_an_unknown_argon2_password():
    rep = pending_representation(record(1))
    other = pending_representation(record(2))

    assert rep["username"] == "850101045501"
    assert (rep["enabled"], rep["emailVerified"], rep["firstName"]) == (True, True, "ORANG 1")
    assert rep["attributes"] == {"department": ["Jabatan Kerja Raya"],
                                 "registration_date": ["2026-01-05T09:30:00"],
                                 "ispeks_activation_state": ["pending"]}
    (credential,) = rep["credentials"]
    assert "value" not in credential  # nothing for Keycloak to hash, nothing known
    assert json.loads(credential["credentialData"]) == ARGON2_CREDENTIAL_DATA
    secret = json.loads(credential["secretData"])
    assert len(base64.b64decode(secret["value"])) == 32
    assert len(base64.b64decode(secret["salt"])) == 16
    assert credential["secretData"] != other["credentials"][0]["secretData"]


def test_an_update_changes_only_the_changed_payroll_fields():
    current = {
        "id": "u1", "username": "850101045501", "firstName": "OLD", "lastName": "NAME",
        "email": "old@melaka.gov.my", "emailVerified": False, "enabled": False,
        "attributes": {"department": ["Lama"], "registration_date": ["2020-01-01T00:00:00"],
                       "ispeks_activation_state": ["active"],
                       "ispeks_security_answers": ['{"a": 1}']},
        "access": {"manage": True}, "createdTimestamp": 1, "totp": False,
        "requiredActions": [],
    }
    update = UserUpdate("u1", 2, record(1), ("name", "department"))

    out = merged_update(current, update)

    assert out["firstName"] == "ORANG 1" and "lastName" not in out
    assert (out["email"], out["emailVerified"], out["enabled"]) == (
        "old@melaka.gov.my", False, False)
    assert out["attributes"] == {
        "department": ["Jabatan Kerja Raya"], "registration_date": ["2020-01-01T00:00:00"],
        "ispeks_activation_state": ["active"], "ispeks_security_answers": ['{"a": 1}']}
    assert not {"access", "createdTimestamp", "totp"} & set(out)
    assert current["attributes"]["department"] == ["Lama"]  # the input is not modified


def test_an_email_change_keeps_the_address_verified():
    current = {"id": "u1", "username": "850101045501", "email": "old@melaka.gov.my",
               "emailVerified": False, "attributes": {}}

    out = merged_update(current, UserUpdate("u1", 2, record(1), ("email",)))

    assert (out["email"], out["emailVerified"]) == ("orang1@melaka.gov.my", True)


def test_users_are_created_in_batches_with_skip_never_overwrite():
    def handler(method, path, params, body):
        if (answer := realm_ok(method, path, params, body)) is not None:
            return answer
        assert path == "admin/realms/melaka/partialImport"
        return response(200, {"results": [
            {"action": "ADDED", "resourceType": "USER", "resourceName": u["username"]}
            for u in body["users"]]})

    store, connection = bulk(handler, batch_size=3, workers=2)

    outcome = store.create_pending([record(n) for n in range(7)])

    posts = [c for c in connection.calls if c[0] == "post"]
    assert sorted(len(c[3]["users"]) for c in posts) == [1, 3, 3]
    assert {c[3]["ifResourceExists"] for c in posts} == {"SKIP"}
    assert sorted(outcome.created) == sorted(record(n).user_id for n in range(7))


def test_users_keycloak_skipped_are_reported_as_appeared():
    def handler(method, path, params, body):
        if (answer := realm_ok(method, path, params, body)) is not None:
            return answer
        return response(200, {"results": [
            {"action": "SKIPPED" if u["username"].endswith("01") else "ADDED",
             "resourceType": "USER", "resourceName": u["username"]} for u in body["users"]]})

    store, _ = bulk(handler)

    outcome = store.create_pending([record(0), record(1)])

    assert outcome.created == (record(0).user_id,)
    assert outcome.appeared == (record(1).user_id,)


def test_a_refused_batch_is_retried_one_user_at_a_time():
    def handler(method, path, params, body):
        if (answer := realm_ok(method, path, params, body)) is not None:
            return answer
        if path.endswith("/partialImport"):
            return response(400, {"errorMessage": "one bad user"})
        if body["username"] == record(1).user_id:
            return response(400, {"errorMessage": "error-invalid-email"})
        if body["username"] == record(2).user_id:
            return response(409, {"errorMessage": "User exists with same username"})
        return response(201)

    store, _ = bulk(handler, batch_size=10)

    outcome = store.create_pending([record(0), record(1), record(2)])

    assert outcome.created == (record(0).user_id,)
    assert outcome.appeared == (record(2).user_id,)
    assert [(f.user_id, f.reason) for f in outcome.failed] == [
        (record(1).user_id, "error-invalid-email")]


def test_an_unreachable_keycloak_stops_the_import():
    def handler(method, path, params, body):
        if (answer := realm_ok(method, path, params, body)) is not None:
            return answer
        return response(503)

    store, _ = bulk(handler)

    with pytest.raises(KeycloakUnavailable):
        store.create_pending([record(0)])


def test_a_realm_with_its_own_password_hashing_is_refused_before_any_write():
    def handler(method, path, params, body):
        assert method == "get", "nothing may be written"
        return response(200, {"passwordPolicy": "length(12) and hashAlgorithm(pbkdf2-sha512)"})

    store, _ = bulk(handler)

    with pytest.raises(GatewayError, match="sets its own hashing"):
        store.create_pending([record(0)])


def test_an_empty_realm_is_not_read():
    store, connection = bulk(lambda method, path, params, body: response(200, 0))

    assert store.existing([record(0).user_id]) == {}
    assert [c[1] for c in connection.calls] == ["admin/realms/melaka/users/count"]


def _user(n: int) -> dict:
    rec = record(n)
    return {"id": f"uuid-{n}", "username": rec.user_id, "firstName": rec.name,
            "email": rec.email, "attributes": {"department": ["D"]}}


def test_a_small_realm_is_listed_briefly_then_only_file_users_read_in_full():
    def handler(method, path, params, body):
        if path.endswith("/count"):
            return response(200, 3)
        if path == "admin/realms/melaka/users":
            assert params["briefRepresentation"] == "true"
            return response(200, [_user(n) for n in range(3)] if params["first"] == 0 else [])
        return response(200, _user(int(path.rsplit("-", 1)[1])))

    store, connection = bulk(handler)

    found = store.existing([record(1).user_id, record(2).user_id, record(9).user_id])

    assert sorted(found) == [record(1).user_id, record(2).user_id]
    assert found[record(1).user_id].department == "D"
    reads = sorted(c[1] for c in connection.calls if "/users/uuid-" in c[1])
    assert reads == ["admin/realms/melaka/users/uuid-1", "admin/realms/melaka/users/uuid-2"]


def test_a_large_realm_is_asked_about_each_file_id():
    def handler(method, path, params, body):
        if path.endswith("/count"):
            return response(200, 100_000)
        assert params["exact"] == "true"
        return response(200, [_user(1)] if params["username"] == record(1).user_id else [])

    store, connection = bulk(handler)

    found = store.existing([record(1).user_id, record(2).user_id])

    assert list(found) == [record(1).user_id]
    assert len(connection.calls) == 3


def test_an_update_reads_the_user_afresh_and_writes_back_its_attributes():
    fresh = {"id": "u1", "username": record(1).user_id, "firstName": "OLD",
             "attributes": {"ispeks_activation_state": ["active"], "ispeks_nonce_recovery": ["n"]}}

    def handler(method, path, params, body):
        return response(200, fresh) if method == "get" else response(204)

    store, connection = bulk(handler)

    outcome = store.update_payroll_fields([UserUpdate("u1", 2, record(1), ("name", "department"))])

    assert outcome.updated == (record(1).user_id,)
    (put,) = [c for c in connection.calls if c[0] == "put"]
    assert put[1] == "admin/realms/melaka/users/u1"
    assert put[3]["attributes"] == {"ispeks_activation_state": ["active"],
                                    "ispeks_nonce_recovery": ["n"],
                                    "department": ["Jabatan Kerja Raya"]}


def test_an_update_keycloak_refuses_is_a_failure_not_an_abort():
    def handler(method, path, params, body):
        if method == "get":
            return response(404) if path.endswith("/gone") else response(200, {"id": "x"})
        return response(400, {"errorMessage": "error-person-name-invalid-character"})

    store, _ = bulk(handler)

    outcome = store.update_payroll_fields([
        UserUpdate("gone", 2, record(1), ("name",)), UserUpdate("x", 3, record(2), ("name",))])

    assert sorted((f.user_id, f.reason) for f in outcome.failed) == [
        (record(1).user_id, "deleted during the import"),
        (record(2).user_id, "error-person-name-invalid-character")]
