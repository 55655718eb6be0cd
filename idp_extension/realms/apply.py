"""Plan and apply a rendered realm against Keycloak, idempotently.

The planning half is pure: ``plan_update(desired, current)`` compares the rendered
realm with a ``Current`` snapshot read from Keycloak and returns the ``Change`` lines to
show and the ``Operation`` list to run. Only keys the template sets are compared, so
Keycloak's own defaults and other people's clients are left alone. Users are never
touched (except the sidecar's service-account role mappings) and partial import is
never used: OVERWRITE wipes credentials (keycloak#36408).

Realm JSON flows are honoured only at creation, so existing realms get their browser
flow compared execution by execution and fixed through the admin API.

``apply_realm``/``apply_states`` run a plan through ``gateway.realm_admin``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from idp_extension.realms.render import CHECKSUM_ATTRIBUTE, SECRET_MASK, render_realm
from idp_extension.settings import Settings
from idp_extension.tenants import list_states

USER_PROFILE_PROVIDER = "org.keycloak.userprofile.UserProfileProvider"
USER_PROFILE_CONFIG_KEY = "kc.user.profile.config"
# Sections of the realm JSON that are compared through their own endpoints.
SEPARATE_SECTIONS = frozenset(
    {"id", "realm", "clients", "users", "authenticationFlows", "components", "roles",
     "attributes", "smtpServer"}
)

# Operation kinds, run in this order (the browser flow must exist before the realm
# binds it; the checksum goes last so that a failed run is retried in full).
CREATE_REALM = "create_realm"
CREATE_FLOW = "create_flow"
REBUILD_FLOW = "rebuild_flow"
SET_REQUIREMENTS = "set_requirements"
PUT_USER_PROFILE = "put_user_profile"
CREATE_CLIENT = "create_client"
UPDATE_CLIENT = "update_client"
SET_CLIENT_ROLES = "set_client_roles"
UPDATE_REALM = "update_realm"


@dataclass(frozen=True)
class Change:
    """One human-readable difference between the template and Keycloak."""

    path: str
    action: str = "update"  # update | create | add | remove | rebuild | resend
    before: Any = None
    after: Any = None

    def line(self) -> str:
        if self.action == "update":
            return f"{self.path}: {_show(self.before)} -> {_show(self.after)}"
        if self.action == "rebuild":
            return f"{self.path}: rebuild [{self.before}] -> [{self.after}]"
        if self.after is not None and self.action != "create":
            return f"{self.path}: {self.action} {_show(self.after)}"
        return f"{self.path}: {self.action}"


@dataclass(frozen=True)
class Operation:
    """One write the gateway performs; ``target`` is an alias, id or clientId."""

    kind: str
    target: str = ""
    payload: Any = None


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


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


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

def diff_clients(desired: Iterable[Mapping], current: Iterable[Mapping]
                 ) -> tuple[list[Change], list[Operation]]:
    """Create missing template clients, update changed fields; leave other clients alone."""
    by_client_id = {c["clientId"]: c for c in current}
    changes: list[Change] = []
    operations: list[Operation] = []
    for want in desired:
        client_id = want["clientId"]
        have = by_client_id.get(client_id)
        if have is None:
            changes.append(Change(f"clients.{client_id}", "create"))
            operations.append(Operation(CREATE_CLIENT, client_id, dict(want)))
            continue
        client_changes = _diff_client(client_id, want, have)
        if client_changes:
            changes += client_changes
            merged = {**have, **want,
                      "attributes": {**(have.get("attributes") or {}),
                                     **(want.get("attributes") or {})}}
            operations.append(Operation(UPDATE_CLIENT, have["id"], merged))
    return changes, operations


def _diff_client(client_id: str, want: Mapping, have: Mapping) -> list[Change]:
    changes = []
    for key, value in want.items():
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
        elif _normalise(value) != _normalise(have.get(key)):
            changes.append(Change(f"clients.{client_id}.{key}", "update", have.get(key), value))
    return changes


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


def flow_steps(flows: Iterable[Mapping], alias: str, level: int = 0) -> list[Step]:
    """Flatten a flow of the realm JSON as Keycloak lists its executions."""
    by_alias = {f["alias"]: f for f in flows}
    steps: list[Step] = []
    executions = sorted(by_alias[alias].get("authenticationExecutions", []),
                        key=lambda e: e.get("priority", 0))
    for execution in executions:
        if execution.get("authenticatorFlow"):
            sub = execution["flowAlias"]
            steps.append((level, f"flow:{sub}", execution["requirement"]))
            steps += flow_steps(by_alias.values(), sub, level + 1)
        else:
            steps.append((level, f"auth:{execution['authenticator']}", execution["requirement"]))
    return steps


def execution_steps(executions: Iterable[Mapping]) -> list[Step]:
    """Flatten GET /authentication/flows/{alias}/executions the same way."""
    return [
        (e["level"],
         f"flow:{e['displayName']}" if e.get("authenticationFlow") else f"auth:{e['providerId']}",
         e["requirement"])
        for e in executions
    ]


def _build_steps(flows: Iterable[Mapping], alias: str) -> list[dict]:
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
            built += _build_steps(by_alias.values(), sub["alias"])
        else:
            built.append({"parent": alias, "provider": execution["authenticator"],
                          "requirement": execution["requirement"]})
    return built


def _show_steps(steps: list[Step]) -> str:
    return ", ".join(f"{'>' * level}{kind.split(':', 1)[1]}={req}" for level, kind, req in steps)


def diff_flows(desired: Mapping, current: Mapping[str, list[dict] | None]
               ) -> tuple[list[Change], list[Operation]]:
    """Compare every top-level flow of the template with Keycloak's executions."""
    flows = desired.get("authenticationFlows") or []
    changes: list[Change] = []
    operations: list[Operation] = []
    for flow in (f for f in flows if f.get("topLevel")):
        alias = flow["alias"]
        want = flow_steps(flows, alias)
        executions = current.get(alias)
        if executions is None:
            changes.append(Change(f"flows.{alias}", "create"))
            operations.append(Operation(CREATE_FLOW, alias, {
                "alias": alias, "description": flow.get("description", ""),
                "providerId": flow.get("providerId", "basic-flow"),
                "topLevel": True, "builtIn": False}))
            operations.append(Operation(REBUILD_FLOW, alias,
                                        {"delete": [], "steps": _build_steps(flows, alias)}))
            continue
        have = execution_steps(executions)
        if have == want:
            continue
        if [s[:2] for s in have] == [s[:2] for s in want]:
            fixes = []
            for execution, (_, kind, requirement) in zip(executions, want):
                if execution["requirement"] != requirement:
                    changes.append(Change(f"flows.{alias}.{kind}", "update",
                                          execution["requirement"], requirement))
                    fixes.append({"id": execution["id"], "requirement": requirement})
            operations.append(Operation(SET_REQUIREMENTS, alias, fixes))
        else:
            changes.append(Change(f"flows.{alias}", "rebuild", _show_steps(have),
                                  _show_steps(want)))
            # Deleting a subflow's execution deletes the subflow with it.
            top_level_ids = [e["id"] for e in executions if e["level"] == 0]
            operations.append(Operation(REBUILD_FLOW, alias, {
                "delete": top_level_ids, "steps": _build_steps(flows, alias)}))
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

def plan_create(desired: Mapping) -> Plan:
    """Plan a realm that does not exist yet: create it from the full JSON."""
    return Plan(desired["realm"], create=True, changes=[Change("realm", "create")],
                operations=[Operation(CREATE_REALM, desired["realm"], dict(desired))])


def plan_update(desired: Mapping, current: Current) -> Plan:
    """Plan an existing realm: the changes, and the writes that make it match."""
    plan = Plan(desired["realm"])
    flow_changes, flow_ops = diff_flows(desired, current.flow_executions)
    plan.changes += flow_changes
    plan.operations += flow_ops

    want_profile = desired_user_profile(desired)
    if want_profile is not None:
        profile_changes = diff_user_profile(want_profile, current.user_profile)
        if profile_changes:
            plan.changes += profile_changes
            plan.operations.append(Operation(PUT_USER_PROFILE, desired["realm"], want_profile))

    client_changes, client_ops = diff_clients(desired.get("clients") or [], current.clients)
    plan.changes += client_changes
    plan.operations += client_ops

    role_changes, role_ops = diff_service_account_roles(
        desired.get("users") or [], current.service_account_roles)
    plan.changes += role_changes
    plan.operations += role_ops

    realm_changes, payload = diff_realm_settings(desired, current.realm)
    plan.changes += realm_changes
    if payload:
        plan.operations.append(Operation(UPDATE_REALM, desired["realm"], payload))
    return plan


@dataclass(frozen=True)
class ApplyResult:
    """The outcome of applying one state's template."""

    realm: str
    created: bool
    changes: tuple[Change, ...]
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def summary(self) -> str:
        would = "would be " if self.dry_run else ""
        if self.created:
            return f"{would}created"
        if not self.changes:
            return "no changes"
        count = len(self.changes)
        return f"{would}updated: {count} change{'' if count == 1 else 's'}"

    def lines(self) -> list[str]:
        return [c.line() for c in self.changes]


def apply_realm(settings: Settings, state: str, dry_run: bool = False,
                templates_dir: Path | None = None) -> ApplyResult:
    """Render one state's realm and make Keycloak match it (or only say what would change)."""
    return apply_desired(settings, render_realm(settings, state, templates_dir), dry_run)


def apply_desired(settings: Settings, desired: Mapping, dry_run: bool = False) -> ApplyResult:
    """Apply an already rendered realm (see ``apply_realm``)."""
    # Imported here: the gateway imports this module's plan types.
    from idp_extension.gateway.realm_admin import RealmAdmin

    admin = RealmAdmin(settings)
    realm = desired["realm"]
    if not admin.realm_exists(realm):
        plan = plan_create(desired)
        if dry_run:
            return ApplyResult(realm, True, tuple(plan.changes), dry_run=True)
        admin.run(plan)
        # Whatever the import did not honour is fixed at once, and shown.
        follow_up = plan_update(desired, admin.snapshot(desired))
        admin.run(follow_up)
        return ApplyResult(realm, True, tuple(plan.changes + follow_up.changes))
    plan = plan_update(desired, admin.snapshot(desired))
    if not dry_run:
        admin.run(plan)
    return ApplyResult(realm, False, tuple(plan.changes), dry_run=dry_run)


def apply_states(settings: Settings, states: Iterable[str] | None = None,
                 dry_run: bool = False, templates_dir: Path | None = None) -> list[ApplyResult]:
    """Apply several states (default: every values file); render all before any write."""
    templates_dir = Path(templates_dir or settings.realm_templates_dir)
    states = list(states) if states is not None else list_states(templates_dir)
    rendered = [render_realm(settings, state, templates_dir) for state in states]
    return [apply_desired(settings, desired, dry_run) for desired in rendered]
