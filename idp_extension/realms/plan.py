"""Plan a rendered realm's changes against a snapshot of Keycloak: pure, no network.

The planner is pure: ``plan_update(desired, current)`` compares the rendered
realm with a ``Current`` snapshot read from Keycloak and returns the ``Change`` lines to
show and the ``Operation`` list to run. Only keys the template sets are compared, so
Keycloak's own defaults and other people's clients are left alone. Users are never
touched (except the sidecar's service-account role mappings) and partial import is
never used: OVERWRITE wipes credentials (keycloak#36408).

Realm JSON flows are honoured only at creation, so existing realms get their browser
flow compared execution by execution (authenticator configs included) and fixed through
the admin API. A client's ``authenticationFlowBindingOverrides`` name flows by alias in
the template; Keycloak wants flow ids, so the plan turns aliases into ids: the existing
flow's, or for a flow still to be made a deterministic one (``flow_id``) that creation
then gives it. Protocol mappers are compared by name through their own endpoints (a
client PUT does not update them).

``realms/apply.py`` reads the snapshot and runs the plan through ``gateway.realm_admin``;
``ClientSecrets`` says which client secrets go into the desired realm (it reads and writes
only through the credential store it is given).
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from idp_extension.credentials import (
    SIDECAR_CLIENT_ID, STATE_IT_CLIENT_ID, CredentialStore, new_secret,
)
from idp_extension.realms.changes import Change, Operation
from idp_extension.realms.client_roles import diff_client_roles
from idp_extension.realms.render import CHECKSUM_ATTRIBUTE, SECRET_MASK

USER_PROFILE_PROVIDER = "org.keycloak.userprofile.UserProfileProvider"
USER_PROFILE_CONFIG_KEY = "kc.user.profile.config"
# Sections of the realm JSON that are compared through their own endpoints.
SEPARATE_SECTIONS = frozenset(
    {"id", "realm", "clients", "users", "authenticationFlows", "authenticatorConfig",
     "components", "roles", "attributes", "smtpServer"}
)
FLOW_OVERRIDES = "authenticationFlowBindingOverrides"
OTP_POLICY_PREFIX = "otpPolicy"
PROTOCOL_MAPPERS = "protocolMappers"
# Confidential clients whose secrets live in the credentials directory, one per realm.
MANAGED_CLIENTS = (SIDECAR_CLIENT_ID, STATE_IT_CLIENT_ID)
# Flows made by provisioning get ids derived from realm and alias (see ``flow_id``).
FLOW_ID_NAMESPACE = uuid.UUID("5d0c3a52-8f0e-4d53-9a43-6c1f1b7f0e11")

# Operation kinds, run in this order (the browser flow must exist before the realm
# binds it; the checksum goes last so that a failed run is retried in full).
CREATE_REALM = "create_realm"
CREATE_FLOW = "create_flow"
REBUILD_FLOW = "rebuild_flow"
SET_REQUIREMENTS = "set_requirements"
SET_AUTHENTICATOR_CONFIGS = "set_authenticator_configs"
PUT_USER_PROFILE = "put_user_profile"
CREATE_CLIENT = "create_client"
UPDATE_CLIENT = "update_client"
SYNC_PROTOCOL_MAPPERS = "sync_protocol_mappers"
SET_CLIENT_ROLES = "set_client_roles"
UPDATE_REALM = "update_realm"


@dataclass
class Plan:
    """What applying a template to one realm would change, and how."""

    realm: str
    create: bool = False
    changes: list[Change] = field(default_factory=list)
    operations: list[Operation] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.operations


@dataclass
class Current:
    """What Keycloak holds for one existing realm, as far as the template cares."""

    realm: dict
    clients: list[dict]
    user_profile: dict
    # Top-level flow alias -> its executions (GET .../flows/{alias}/executions); None if missing.
    flow_executions: dict[str, list[dict] | None]
    # Service-account clientId -> {client holding the roles -> direct role names};
    # None if the client or its service account does not exist yet.
    service_account_roles: dict[str, dict[str, list[str]] | None]
    # Every flow's alias -> its id (GET /authentication/flows).
    flow_ids: dict[str, str] = field(default_factory=dict)
    # Authenticator config id -> {"alias", "config"}, for the executions listed above.
    authenticator_configs: dict[str, dict] = field(default_factory=dict)
    # clientId -> role name -> realms.client_roles.role_state, for the clients whose
    # roles the template declares (roles.client); a client not created yet is absent.
    client_roles: dict[str, dict[str, dict]] = field(default_factory=dict)


def _normalise(value: Any) -> Any:
    # Keycloak returns set-like string lists (locales, redirect URIs) in any order.
    if isinstance(value, (list, tuple)) and all(not isinstance(v, (dict, list)) for v in value):
        return sorted(value, key=str)
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    return value


# --- realm settings -------------------------------------------------------------------

def diff_realm_settings(desired: Mapping, current: Mapping) -> tuple[list[Change], dict]:
    """Compare top-level settings, attributes and SMTP; return changes and a PUT body."""
    changes: list[Change] = []
    payload: dict[str, Any] = {}
    for key, want in desired.items():
        if key in SEPARATE_SECTIONS:
            continue
        have = current.get(key)
        if _normalise(want) != _normalise(have):
            changes.append(Change(f"realm.{key}", "update", have, want))
            payload[key] = want
    have_attrs = current.get("attributes") or {}
    want_attrs = desired.get("attributes") or {}
    for key, want in want_attrs.items():
        if have_attrs.get(key) != want:
            changes.append(Change(f"realm.attributes.{key}", "update", have_attrs.get(key), want))
    if any(key.startswith(OTP_POLICY_PREFIX) for key in payload):
        # Keycloak applies an OTP policy only as a whole (with its type): send all of it.
        payload.update({k: v for k, v in desired.items() if k.startswith(OTP_POLICY_PREFIX)})
    if any(c.path.startswith("realm.attributes.") for c in changes):
        # A PUT replaces the whole attribute map: send Keycloak's own keys back too.
        payload["attributes"] = {**have_attrs, **want_attrs}
    checksum_changed = have_attrs.get(CHECKSUM_ATTRIBUTE) != want_attrs.get(CHECKSUM_ATTRIBUTE)
    smtp_changes = diff_smtp(desired.get("smtpServer") or {}, current.get("smtpServer") or {},
                             checksum_changed)
    if smtp_changes:
        changes += smtp_changes
        payload["smtpServer"] = desired.get("smtpServer") or {}
    return changes, payload


def diff_smtp(desired: Mapping, current: Mapping, checksum_changed: bool) -> list[Change]:
    """Compare SMTP settings; Keycloak masks the stored password, so trust the checksum."""
    changes = []
    for key in sorted(set(desired) | set(current)):
        if key == "password":
            continue
        if str(desired.get(key, "")) != str(current.get(key, "")):
            changes.append(Change(f"realm.smtpServer.{key}", "update",
                                  current.get(key), desired.get(key)))
    want_pw, have_pw = bool(desired.get("password")), bool(current.get("password"))
    if want_pw != have_pw:
        changes.append(Change("realm.smtpServer.password", "update",
                              SECRET_MASK if have_pw else None, SECRET_MASK if want_pw else None))
    elif want_pw and checksum_changed:
        # The stored password cannot be read back: re-send it whenever the template's
        # checksum moved, since it may be the thing that changed.
        changes.append(Change("realm.smtpServer.password", "resend", after=SECRET_MASK))
    return changes


# --- clients --------------------------------------------------------------------------

def diff_clients(desired: Iterable[Mapping], current: Iterable[Mapping],
                 flow_aliases: Mapping[str, str] | None = None
                 ) -> tuple[list[Change], list[Operation]]:
    """Create missing template clients, update changed fields; leave other clients alone.

    ``desired`` carries flow ids in its binding overrides already (``resolve_flow_overrides``);
    ``flow_aliases`` (id -> alias) only makes the change lines readable.
    """
    by_client_id = {c["clientId"]: c for c in current}
    changes: list[Change] = []
    operations: list[Operation] = []
    for want in desired:
        client_id = want["clientId"]
        have = by_client_id.get(client_id)
        if have is None:
            # A new client's mappers are created with it.
            changes.append(Change(f"clients.{client_id}", "create"))
            operations.append(Operation(CREATE_CLIENT, client_id, dict(want)))
            continue
        client_changes = _diff_client(client_id, want, have, flow_aliases or {})
        if client_changes:
            changes += client_changes
            merged = {**have, **want, "id": have["id"],
                      "attributes": {**(have.get("attributes") or {}),
                                     **(want.get("attributes") or {})}}
            if FLOW_OVERRIDES in want:
                # The template's bindings are the whole list: Keycloak merges the map it
                # is sent, and removes a binding only when sent one with a null value.
                merged[FLOW_OVERRIDES] = {
                    **{binding: None for binding in have.get(FLOW_OVERRIDES) or {}},
                    **want[FLOW_OVERRIDES]}
            # Mappers have endpoints of their own; a client PUT leaves them as they are.
            merged.pop(PROTOCOL_MAPPERS, None)
            operations.append(Operation(UPDATE_CLIENT, have["id"], merged))
        mapper_changes, mapper_payload = _diff_mappers(
            client_id, want.get(PROTOCOL_MAPPERS) or [], have.get(PROTOCOL_MAPPERS) or [])
        if mapper_changes:
            changes += mapper_changes
            operations.append(Operation(SYNC_PROTOCOL_MAPPERS, have["id"], mapper_payload))
    return changes, operations


def _diff_client(client_id: str, want: Mapping, have: Mapping,
                 flow_aliases: Mapping[str, str]) -> list[Change]:
    changes = []
    for key, value in want.items():
        # An id is given only to a client being made (ispeks-tugas): it cannot change.
        if key in (PROTOCOL_MAPPERS, "id"):
            continue
        if key == "attributes":
            have_attrs = have.get("attributes") or {}
            for name, attr in value.items():
                if have_attrs.get(name) != attr:
                    changes.append(Change(f"clients.{client_id}.attributes.{name}", "update",
                                          have_attrs.get(name), attr))
        elif key == "secret":
            if have.get("secret") not in (value, SECRET_MASK):
                changes.append(Change(f"clients.{client_id}.secret", "update",
                                      SECRET_MASK, SECRET_MASK))
        elif key == FLOW_OVERRIDES:
            have_overrides = have.get(FLOW_OVERRIDES) or {}
            if have_overrides != value:
                def named(overrides: Mapping[str, str]) -> dict[str, str]:
                    return {k: flow_aliases.get(v, v) for k, v in overrides.items()}
                changes.append(Change(f"clients.{client_id}.{key}", "update",
                                      named(have_overrides), named(value)))
        elif _normalise(value) != _normalise(have.get(key)):
            changes.append(Change(f"clients.{client_id}.{key}", "update", have.get(key), value))
    return changes


def _mapper_fields(mapper: Mapping, config_keys: Iterable[str] | None = None) -> dict:
    """What is compared of a mapper; ``config_keys``: only these of its config (the
    template's: Keycloak fills in defaults of its own, e.g. for token introspection)."""
    config = mapper.get("config") or {}
    if config_keys is not None:
        config = {k: config.get(k) for k in config_keys}
    return {"protocol": mapper.get("protocol"), "protocolMapper": mapper.get("protocolMapper"),
            "config": config}


def _diff_mappers(client_id: str, want: Iterable[Mapping], have: Iterable[Mapping]
                  ) -> tuple[list[Change], dict]:
    """Compare the template's mappers with the client's by name (others are left alone)."""
    have_by_name = {m.get("name"): m for m in have}
    changes: list[Change] = []
    payload: dict[str, list] = {"create": [], "update": []}
    for mapper in want:
        name = mapper["name"]
        existing = have_by_name.get(name)
        if existing is None:
            changes.append(Change(f"clients.{client_id}.protocolMappers.{name}", "add"))
            payload["create"].append(dict(mapper))
        elif _mapper_fields(existing, mapper.get("config") or {}) != _mapper_fields(mapper):
            changes.append(Change(f"clients.{client_id}.protocolMappers.{name}", "update",
                                  _mapper_fields(existing, mapper.get("config") or {}),
                                  _mapper_fields(mapper)))
            payload["update"].append({**mapper, "id": existing["id"]})
    return changes, payload


def flow_id(realm: str, alias: str) -> str:
    """Return the id provisioning gives flow ``alias`` of ``realm`` when it creates it.

    Known before the flow exists, so one realm import (or one plan) can bind clients to
    it. Derived from the realm too: flow ids are unique across the whole server.
    """
    return str(uuid.uuid5(FLOW_ID_NAMESPACE, f"{realm}/{alias}"))


def resolve_flow_overrides(desired: Mapping, existing_ids: Mapping[str, str]) -> list[dict]:
    """Return the template's clients with flow aliases in their binding overrides made ids.

    ``existing_ids``: alias -> id of the flows Keycloak has; any other template flow gets
    ``flow_id`` (the id it is created with).
    """
    top_level = {f["alias"] for f in desired.get("authenticationFlows") or [] if f.get("topLevel")}
    clients = []
    for client in desired.get("clients") or []:
        overrides = client.get(FLOW_OVERRIDES)
        if overrides:
            unknown = sorted(set(overrides.values()) - top_level)
            if unknown:
                raise ValueError(f"client {client['clientId']} is bound to unknown flow(s) "
                                 f"{unknown}: not top-level flows of the template")
            client = {**client, FLOW_OVERRIDES: {
                binding: existing_ids.get(alias) or flow_id(desired["realm"], alias)
                for binding, alias in overrides.items()}}
        clients.append(client)
    return clients


# --- user profile ---------------------------------------------------------------------

def desired_user_profile(desired: Mapping) -> dict | None:
    """Return the UPConfig carried by the realm's declarative-user-profile component."""
    for component in (desired.get("components") or {}).get(USER_PROFILE_PROVIDER, []):
        if component.get("providerId") == "declarative-user-profile":
            return json.loads(component["config"][USER_PROFILE_CONFIG_KEY][0])
    return None


def _normalise_profile_item(item: Mapping) -> dict:
    # Keycloak fills in defaults (multivalued false, empty annotations) on the way back.
    return {k: _normalise(v) for k, v in item.items()
            if not (k == "multivalued" and v is False) and v not in (None, {}, [])}


def diff_user_profile(desired: Mapping, current: Mapping) -> list[Change]:
    """Compare two UPConfigs attribute by attribute (and groups, and the policy)."""
    changes = []
    for section in ("attributes", "groups"):
        want = {a["name"]: _normalise_profile_item(a) for a in desired.get(section) or []}
        have = {a["name"]: _normalise_profile_item(a) for a in current.get(section) or []}
        found = [Change(f"userProfile.{section}.{name}", "add") for name in want
                 if name not in have]
        found += [Change(f"userProfile.{section}.{name}", "update", have[name], want[name])
                  for name in want if name in have and want[name] != have[name]]
        found += [Change(f"userProfile.{section}.{name}", "remove") for name in have
                  if name not in want]
        if not found and list(want) != list(have):  # same items, another order
            found.append(Change(f"userProfile.{section}", "update", list(have), list(want)))
        changes += found
    if desired.get("unmanagedAttributePolicy") != current.get("unmanagedAttributePolicy"):
        changes.append(Change("userProfile.unmanagedAttributePolicy", "update",
                              current.get("unmanagedAttributePolicy"),
                              desired.get("unmanagedAttributePolicy")))
    return changes


# --- authentication flows -------------------------------------------------------------

Step = tuple[int, str, str]  # (level, "auth:<provider>" | "flow:<alias>", requirement)


def _flat_executions(flows: Iterable[Mapping], alias: str, level: int = 0) -> list[dict]:
    """Flatten a flow of the realm JSON in Keycloak's listing order, with config aliases."""
    by_alias = {f["alias"]: f for f in flows}
    flat: list[dict] = []
    executions = sorted(by_alias[alias].get("authenticationExecutions", []),
                        key=lambda e: e.get("priority", 0))
    for execution in executions:
        if execution.get("authenticatorFlow"):
            sub = execution["flowAlias"]
            flat.append({"step": (level, f"flow:{sub}", execution["requirement"]),
                         "config": None})
            flat += _flat_executions(by_alias.values(), sub, level + 1)
        else:
            flat.append({"step": (level, f"auth:{execution['authenticator']}",
                                  execution["requirement"]),
                         "config": execution.get("authenticatorConfig")})
    return flat


def flow_steps(flows: Iterable[Mapping], alias: str, level: int = 0) -> list[Step]:
    """Flatten a flow of the realm JSON as Keycloak lists its executions."""
    return [item["step"] for item in _flat_executions(flows, alias, level)]


def execution_steps(executions: Iterable[Mapping]) -> list[Step]:
    """Flatten GET /authentication/flows/{alias}/executions the same way."""
    return [
        (e["level"],
         f"flow:{e['displayName']}" if e.get("authenticationFlow") else f"auth:{e['providerId']}",
         e["requirement"])
        for e in executions
    ]


AMR_REFERENCE_PREFIX = "default.reference."


def _unmasked(have: Mapping[str, Any], want: Mapping[str, Any]) -> dict[str, Any]:
    """``have`` with Keycloak's masked values taken as the wanted ones.

    Keycloak's admin API answers an execution config's keys that its authenticator does
    not declare (the amr reference, ``default.reference.*``, on the OTP form) as
    ``**********``, or not at all: such a key is not compared.
    """
    shown = {key: (want.get(key, value) if isinstance(value, str) and value and
                   set(value) == {"*"} else value)
             for key, value in have.items()}
    # ... or leaves them out: the reference keys are write-only through that view.
    for key in want:
        if key.startswith(AMR_REFERENCE_PREFIX) and key not in shown:
            shown[key] = want[key]
    return shown


def authenticator_configs(desired: Mapping) -> dict[str, dict]:
    """The template's authenticator configs by alias: {"alias", "config"}."""
    return {c["alias"]: {"alias": c["alias"], "config": dict(c.get("config") or {})}
            for c in desired.get("authenticatorConfig") or []}


def _build_steps(flows: Iterable[Mapping], alias: str,
                 configs: Mapping[str, dict] | None = None) -> list[dict]:
    # Creation order for the admin API: parent first, then its executions.
    by_alias = {f["alias"]: f for f in flows}
    built: list[dict] = []
    for execution in sorted(by_alias[alias].get("authenticationExecutions", []),
                            key=lambda e: e.get("priority", 0)):
        if execution.get("authenticatorFlow"):
            sub = by_alias[execution["flowAlias"]]
            built.append({"parent": alias, "subflow": sub["alias"],
                          "description": sub.get("description", ""),
                          "requirement": execution["requirement"]})
            built += _build_steps(by_alias.values(), sub["alias"], configs)
        else:
            step = {"parent": alias, "provider": execution["authenticator"],
                    "requirement": execution["requirement"]}
            if execution.get("authenticatorConfig"):
                step["config"] = (configs or {})[execution["authenticatorConfig"]]
            built.append(step)
    return built


def _show_steps(steps: list[Step]) -> str:
    return ", ".join(f"{'>' * level}{kind.split(':', 1)[1]}={req}" for level, kind, req in steps)


def diff_flows(desired: Mapping, current: Mapping[str, list[dict] | None],
               current_configs: Mapping[str, dict] | None = None
               ) -> tuple[list[Change], list[Operation]]:
    """Compare every top-level flow of the template with Keycloak's executions.

    ``current_configs``: authenticator config id -> {"alias", "config"} of the executions.
    """
    flows = desired.get("authenticationFlows") or []
    configs = authenticator_configs(desired)
    changes: list[Change] = []
    operations: list[Operation] = []
    for flow in (f for f in flows if f.get("topLevel")):
        alias = flow["alias"]
        flat = _flat_executions(flows, alias)
        want = [item["step"] for item in flat]
        executions = current.get(alias)
        if executions is None:
            changes.append(Change(f"flows.{alias}", "create"))
            operations.append(Operation(CREATE_FLOW, alias, {
                "id": flow_id(desired["realm"], alias),
                "alias": alias, "description": flow.get("description", ""),
                "providerId": flow.get("providerId", "basic-flow"),
                "topLevel": True, "builtIn": False}))
            operations.append(Operation(REBUILD_FLOW, alias, {
                "delete": [], "steps": _build_steps(flows, alias, configs)}))
            continue
        have = execution_steps(executions)
        if have != want and [s[:2] for s in have] != [s[:2] for s in want]:
            changes.append(Change(f"flows.{alias}", "rebuild", _show_steps(have),
                                  _show_steps(want)))
            # Deleting a subflow's execution deletes the subflow (and configs) with it.
            top_level_ids = [e["id"] for e in executions if e["level"] == 0]
            operations.append(Operation(REBUILD_FLOW, alias, {
                "delete": top_level_ids, "steps": _build_steps(flows, alias, configs)}))
            continue
        fixes = []
        for execution, (_, kind, requirement) in zip(executions, want):
            if execution["requirement"] != requirement:
                changes.append(Change(f"flows.{alias}.{kind}", "update",
                                      execution["requirement"], requirement))
                fixes.append({"id": execution["id"], "requirement": requirement})
        if fixes:
            operations.append(Operation(SET_REQUIREMENTS, alias, fixes))
        config_fixes = []
        for execution, item in zip(executions, flat):
            want_config = configs[item["config"]] if item["config"] else None
            config_id = execution.get("authenticationConfig")
            have_config = (current_configs or {}).get(config_id) if config_id else None
            have_shown = ({"alias": have_config.get("alias"),
                           "config": _unmasked(have_config.get("config") or {},
                                               want_config["config"] if want_config else {})}
                          if have_config else None)
            if want_config is not None and have_shown != want_config:
                changes.append(Change(f"flows.{alias}.{item['step'][1]}.config", "update",
                                      have_shown, want_config))
                config_fixes.append({"execution": execution["id"],
                                     "config_id": config_id if have_config else None,
                                     **want_config})
        if config_fixes:
            operations.append(Operation(SET_AUTHENTICATOR_CONFIGS, alias, config_fixes))
    return changes, operations


# --- service-account roles ------------------------------------------------------------

def diff_service_account_roles(desired_users: Iterable[Mapping],
                               current: Mapping[str, dict[str, list[str]] | None]
                               ) -> tuple[list[Change], list[Operation]]:
    """Make each service account hold exactly the template's client roles."""
    changes: list[Change] = []
    operations: list[Operation] = []
    for user in desired_users:
        owner = user.get("serviceAccountClientId")
        if not owner:
            continue  # real users are never created or changed by provisioning
        have_all = current.get(owner) or {}
        for roles_client, roles in (user.get("clientRoles") or {}).items():
            have = set(have_all.get(roles_client, []))
            add = sorted(set(roles) - have)
            remove = sorted(have - set(roles))
            path = f"serviceAccount.{owner}.{roles_client}"
            changes += [Change(path, "add", after=r) for r in add]
            changes += [Change(path, "remove", after=r) for r in remove]
            if add or remove:
                operations.append(Operation(SET_CLIENT_ROLES, owner, {
                    "client": roles_client, "add": add, "remove": remove}))
    return changes, operations


# --- whole realm ----------------------------------------------------------------------

def creation_payload(desired: Mapping) -> dict:
    """Return the realm JSON to import: top-level flows get their ``flow_id`` and client
    binding overrides name those ids (the import keeps both as given)."""
    payload = copy.deepcopy(dict(desired))
    for flow in payload.get("authenticationFlows") or []:
        if flow.get("topLevel"):
            flow["id"] = flow_id(payload["realm"], flow["alias"])
    if payload.get("clients"):
        payload["clients"] = resolve_flow_overrides(payload, {})
    return payload


def plan_create(desired: Mapping) -> Plan:
    """Plan a realm that does not exist yet: create it from the full JSON."""
    return Plan(desired["realm"], create=True, changes=[Change("realm", "create")],
                operations=[Operation(CREATE_REALM, desired["realm"],
                                      creation_payload(desired))])


def plan_update(desired: Mapping, current: Current) -> Plan:
    """Plan an existing realm: the changes, and the writes that make it match."""
    plan = Plan(desired["realm"])
    flow_changes, flow_ops = diff_flows(desired, current.flow_executions,
                                        current.authenticator_configs)
    plan.changes += flow_changes
    plan.operations += flow_ops

    want_profile = desired_user_profile(desired)
    if want_profile is not None:
        profile_changes = diff_user_profile(want_profile, current.user_profile)
        if profile_changes:
            plan.changes += profile_changes
            plan.operations.append(Operation(PUT_USER_PROFILE, desired["realm"], want_profile))

    # Flows Keycloak has keep their ids; missing ones are created above with flow_id.
    existing = {alias: current.flow_ids[alias] for alias, executions
                in current.flow_executions.items()
                if executions is not None and alias in current.flow_ids}
    names = {flow_id(desired["realm"], f["alias"]): f["alias"]
             for f in desired.get("authenticationFlows") or [] if f.get("topLevel")}
    names.update({flow: alias for alias, flow in current.flow_ids.items()})
    client_changes, client_ops = diff_clients(
        resolve_flow_overrides(desired, existing), current.clients, names)
    plan.changes += client_changes
    plan.operations += client_ops

    # Tasks (client roles of ispeks-tugas): after their client exists, before anyone
    # maps them.
    task_changes, task_ops = diff_client_roles(desired, current.client_roles)
    plan.changes += task_changes
    plan.operations += task_ops

    role_changes, role_ops = diff_service_account_roles(
        desired.get("users") or [], current.service_account_roles)
    plan.changes += role_changes
    plan.operations += role_ops

    realm_changes, payload = diff_realm_settings(desired, current.realm)
    plan.changes += realm_changes
    if payload:
        plan.operations.append(Operation(UPDATE_REALM, desired["realm"], payload))
    return plan


# --- client secrets -------------------------------------------------------------------

@dataclass
class ClientSecrets:
    """The secrets of a realm's confidential clients, from the credentials directory.

    A client without a file gets a new random secret, saved before Keycloak is told.
    """

    realm: str
    candidates: dict[str, list[str]]
    new: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, store: CredentialStore, desired: Mapping) -> "ClientSecrets":
        realm = desired["realm"]
        found, new = {}, set()
        for client in desired.get("clients") or []:
            client_id = client["clientId"]
            if client_id not in MANAGED_CLIENTS:
                continue
            found[client_id] = store.read(realm, client_id)
            if not found[client_id]:
                found[client_id] = [new_secret()]
                new.add(client_id)
        return cls(realm, found, new)

    def changes(self) -> list[Change]:
        return [Change(f"credentials.{client_id}", "create") for client_id in sorted(self.new)]

    def save(self, store: CredentialStore) -> None:
        for client_id in sorted(self.new):
            store.write(self.realm, client_id, self.candidates[client_id])
        self.new.clear()

    def into(self, desired: Mapping, current: Current | None = None) -> dict:
        """``desired`` with each managed client's secret: Keycloak's if the file lists it."""
        have = {c["clientId"]: c.get("secret") for c in (current.clients if current else [])}
        clients = []
        for client in desired.get("clients") or []:
            listed = self.candidates.get(client["clientId"])
            if listed:
                keep = have.get(client["clientId"])
                client = {**client, "secret": keep if keep in listed else listed[0]}
            clients.append(client)
        return {**desired, "clients": clients}
