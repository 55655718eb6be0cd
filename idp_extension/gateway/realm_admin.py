"""Read and write state realms for provisioning, as master's bootstrap service account.

The only provisioning code that calls python-keycloak. ``snapshot`` reads what the
planner (``realms.plan``) compares; ``run`` performs a plan's operations. Keycloak and
network failures leave as ``GatewayError`` / ``KeycloakUnavailable``.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

import requests
from keycloak import KeycloakAdmin
from keycloak.exceptions import (
    KeycloakConnectionError, KeycloakError, KeycloakPostError, raise_error_from_response,
)

from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.errors import GatewayError, KeycloakUnavailable
from idp_extension.realms.client_roles import role_state
from idp_extension.realms.plan import PROTOCOL_MAPPERS, Current, Operation, Plan
from idp_extension.settings import Settings

UNAVAILABLE_STATUSES = frozenset({502, 503, 504})


@contextmanager
def keycloak_errors(action: str) -> Iterator[None]:
    """Turn python-keycloak's and requests' exceptions into the gateway's own."""
    try:
        yield
    except KeycloakConnectionError as exc:
        raise KeycloakUnavailable(f"{action}: Keycloak unreachable ({exc})") from exc
    except requests.RequestException as exc:
        raise KeycloakUnavailable(f"{action}: Keycloak unreachable ({exc})") from exc
    except KeycloakError as exc:
        if exc.response_code in UNAVAILABLE_STATUSES:
            raise KeycloakUnavailable(f"{action}: Keycloak unavailable ({exc})") from exc
        detail = exc.error_message
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise GatewayError(f"{action}: Keycloak said {exc.response_code}: {detail}") from exc
    except TypeError as exc:
        # python-keycloak 7 raises TypeError when a response has an unexpected shape.
        if "Unexpected response type" not in str(exc):
            raise
        raise GatewayError(f"{action}: {exc}") from exc


class RealmAdmin:
    """Provisioning verbs on state realms."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._admins: dict[str, KeycloakAdmin] = {}

    def _admin(self, realm: str) -> KeycloakAdmin:
        # One client per target realm: python-keycloak sends calls to its realm_name.
        if realm not in self._admins:
            self._admins[realm] = bootstrap_admin(self._settings, realm)
        return self._admins[realm]

    # --- reading ----------------------------------------------------------------------

    def realm_exists(self, realm: str) -> bool:
        with keycloak_errors("list realms"):
            return any(r["realm"] == realm for r in self._admin("master").get_realms())

    def snapshot(self, desired: Mapping[str, Any]) -> Current:
        """Read everything of one existing realm that the template speaks about."""
        realm = desired["realm"]
        kc = self._admin(realm)
        with keycloak_errors(f"read realm {realm}"):
            representation = kc.get_realm(realm)
            clients = kc.get_clients()
            profile = kc.get_realm_users_profile()
            flow_ids = {f["alias"]: f["id"] for f in kc.get_authentication_flows()}
            executions = {
                flow["alias"]: (kc.get_authentication_flow_executions(flow["alias"])
                                if flow["alias"] in flow_ids else None)
                for flow in desired.get("authenticationFlows") or [] if flow.get("topLevel")
            }
            configs = {
                e["authenticationConfig"]: kc.get_authenticator_config(e["authenticationConfig"])
                for listed in executions.values() if listed
                for e in listed if e.get("authenticationConfig")
            }
            roles = {
                user["serviceAccountClientId"]: self._service_account_roles(
                    kc, clients, user["serviceAccountClientId"], user.get("clientRoles") or {})
                for user in desired.get("users") or [] if user.get("serviceAccountClientId")
            }
            client_roles = {
                client_id: self._client_roles(kc, clients, client_id)
                for client_id in ((desired.get("roles") or {}).get("client") or {})
            }
        return Current(representation, clients, profile, executions, roles, flow_ids, configs,
                         {k: v for k, v in client_roles.items() if v is not None})

    @staticmethod
    def _client_roles(kc: KeycloakAdmin, clients: list[dict], client_id: str
                      ) -> dict[str, dict] | None:
        """Role name -> role_state of one client's roles; None if the client is missing."""
        client = next((c for c in clients if c["clientId"] == client_id), None)
        if client is None:
            return None
        found = {}
        for rep in kc.get_client_roles(client["id"], brief_representation=False):
            composites = []
            if rep.get("composite"):
                composites = [r["name"] for r in kc.get_composite_client_roles_of_role(
                    client["id"], rep["name"]) if r.get("containerId") == client["id"]]
            found[rep["name"]] = role_state(rep, composites)
        return found

    @staticmethod
    def _service_account_roles(kc: KeycloakAdmin, clients: list[dict], owner: str,
                               wanted: Mapping[str, list[str]]) -> dict[str, list[str]] | None:
        client = next((c for c in clients if c["clientId"] == owner), None)
        if client is None or not client.get("serviceAccountsEnabled"):
            return None
        user_id = kc.get_client_service_account_user(client["id"])["id"]
        by_client_id = {c["clientId"]: c["id"] for c in clients}
        # Direct mappings only: composites (view-users -> query-groups) are not ours.
        return {
            roles_client: [r["name"] for r in kc.get_client_roles_of_user(
                user_id, by_client_id[roles_client])]
            for roles_client in wanted if roles_client in by_client_id
        }

    # --- writing ----------------------------------------------------------------------

    def run(self, plan: Plan) -> None:
        """Perform a plan's operations in order."""
        for op in plan.operations:
            with keycloak_errors(f"{plan.realm}: {op.kind} {op.target}"):
                getattr(self, f"_{op.kind}")(plan.realm, op)

    def _create_realm(self, realm: str, op: Operation) -> None:
        self._admin("master").create_realm(op.payload)

    def _update_realm(self, realm: str, op: Operation) -> None:
        self._admin(realm).update_realm(realm, op.payload)

    def _put_user_profile(self, realm: str, op: Operation) -> None:
        self._admin(realm).update_realm_users_profile(op.payload)

    def _create_client(self, realm: str, op: Operation) -> None:
        self._admin(realm).create_client(op.payload)

    def _update_client(self, realm: str, op: Operation) -> None:
        self._admin(realm).update_client(op.target, op.payload)

    def _set_client_roles(self, realm: str, op: Operation) -> None:
        kc = self._admin(realm)
        owner_id = kc.get_client_id(op.target)
        roles_client_id = kc.get_client_id(op.payload["client"])
        if owner_id is None or roles_client_id is None:
            raise GatewayError(f"{realm}: client {op.target} or {op.payload['client']} missing")
        user_id = kc.get_client_service_account_user(owner_id)["id"]
        if op.payload["add"]:
            kc.assign_client_role(user_id, roles_client_id, [
                kc.get_client_role(roles_client_id, name) for name in op.payload["add"]])
        if op.payload["remove"]:
            kc.delete_client_roles_of_user(user_id, roles_client_id, [
                kc.get_client_role(roles_client_id, name) for name in op.payload["remove"]])

    def _sync_client_roles(self, realm: str, op: Operation) -> None:
        kc = self._admin(realm)
        client_uuid = kc.get_client_id(op.target)
        if client_uuid is None:
            raise GatewayError(f"{realm}: client {op.target} missing")
        for role in op.payload["create"]:
            kc.create_client_role(client_uuid, {**role, "clientRole": True}, skip_exists=True)
        for role in op.payload["update"]:
            kc.update_client_role(client_uuid, role["name"], {**role, "clientRole": True})
        for name, change in op.payload["composites"].items():
            if change["add"]:
                kc.add_composite_client_roles_to_role(client_uuid, name, [
                    kc.get_client_role(client_uuid, r) for r in change["add"]])
            if change["remove"]:
                kc.remove_composite_client_roles_from_role(client_uuid, name, [
                    kc.get_client_role(client_uuid, r) for r in change["remove"]])

    def _create_flow(self, realm: str, op: Operation) -> None:
        self._admin(realm).create_authentication_flow(op.payload)

    def _rebuild_flow(self, realm: str, op: Operation) -> None:
        kc = self._admin(realm)
        for execution_id in op.payload["delete"]:
            kc.delete_authentication_flow_execution(execution_id)
        for step in op.payload["steps"]:
            parent = step["parent"]
            if "subflow" in step:
                kc.create_authentication_flow_subflow(
                    {"alias": step["subflow"], "type": "basic-flow",
                     "provider": "registration-page-form", "description": step["description"]},
                    parent)
                created = [e for e in kc.get_authentication_flow_executions(parent)
                           if e.get("authenticationFlow") and e["displayName"] == step["subflow"]]
            else:
                kc.create_authentication_flow_execution({"provider": step["provider"]}, parent)
                created = [e for e in kc.get_authentication_flow_executions(parent)
                           if e["level"] == 0 and e.get("providerId") == step["provider"]]
            # New executions start DISABLED (or the provider's only choice).
            execution = created[-1]
            if execution["requirement"] != step["requirement"]:
                kc.update_authentication_flow_executions(
                    {**execution, "requirement": step["requirement"]}, parent)
            if step.get("config"):
                self._create_authenticator_config(kc, realm, execution["id"], step["config"])

    @staticmethod
    def _create_authenticator_config(kc: KeycloakAdmin, realm: str, execution_id: str,
                                     config: Mapping[str, Any]) -> None:
        # python-keycloak 7 has no verb for POST .../executions/{id}/config.
        answer = kc.connection.raw_post(
            f"admin/realms/{realm}/authentication/executions/{execution_id}/config",
            data=json.dumps({"alias": config["alias"], "config": config["config"]}))
        raise_error_from_response(answer, KeycloakPostError, expected_codes=[201, 204])

    def _set_authenticator_configs(self, realm: str, op: Operation) -> None:
        kc = self._admin(realm)
        for fix in op.payload:
            body = {"alias": fix["alias"], "config": fix["config"]}
            if fix["config_id"]:
                kc.update_authenticator_config({**body, "id": fix["config_id"]},
                                               fix["config_id"])
            else:
                self._create_authenticator_config(kc, realm, fix["execution"], body)

    def _sync_protocol_mappers(self, realm: str, op: Operation) -> None:
        kc = self._admin(realm)
        for mapper in op.payload["create"]:
            kc.add_mapper_to_client(op.target, mapper)
        for mapper in op.payload["update"]:
            kc.update_client_mapper(op.target, mapper["id"], mapper)

    def _set_requirements(self, realm: str, op: Operation) -> None:
        kc = self._admin(realm)
        by_id = {e["id"]: e for e in kc.get_authentication_flow_executions(op.target)}
        for fix in op.payload:
            kc.update_authentication_flow_executions(
                {**by_id[fix["id"]], "requirement": fix["requirement"]}, op.target)

    # --- client secrets -------------------------------------------------------------

    def _client_uuid(self, kc: KeycloakAdmin, realm: str, client_id: str) -> str:
        uuid = kc.get_client_id(client_id)
        if uuid is None:
            raise GatewayError(f"{realm} has no client {client_id}: run `ispeks-idp realms "
                               f"apply --state {realm}` first")
        return uuid

    def client_secret(self, realm: str, client_id: str) -> str | None:
        """The secret Keycloak holds for ``client_id`` of ``realm``."""
        kc = self._admin(realm)
        with keycloak_errors(f"read the secret of {client_id} in {realm}"):
            answer = kc.get_client_secrets(self._client_uuid(kc, realm, client_id))
        return answer.get("value") if isinstance(answer, dict) else None

    def set_client_secret(self, realm: str, client_id: str, secret: str) -> None:
        """Make ``secret`` the only secret Keycloak accepts for ``client_id`` of ``realm``."""
        kc = self._admin(realm)
        with keycloak_errors(f"set the secret of {client_id} in {realm}"):
            uuid = self._client_uuid(kc, realm, client_id)
            representation = kc.get_client(uuid)
            # Mappers have endpoints of their own; a client PUT leaves them as they are.
            representation.pop(PROTOCOL_MAPPERS, None)
            kc.update_client(uuid, {**representation, "secret": secret})

    # --- for tests and reports --------------------------------------------------------

    def admin_events(self, realm: str, **query: Any) -> list[dict]:
        """Return the admin events recorded in ``realm``, newest first."""
        with keycloak_errors(f"read admin events of {realm}"):
            return self._admin(realm).get_admin_events(query or None)
