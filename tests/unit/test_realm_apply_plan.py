"""Plan realm updates without a network: diff lines and the writes they need."""

from __future__ import annotations

import copy

import pytest

from idp_extension.realms import plan as A
from idp_extension.realms.apply import ApplyResult
from idp_extension.realms.client_roles import desired_roles
from idp_extension.realms.plan import (
    Change,
    Current,
    flow_steps,
    plan_create,
    plan_update,
)
from idp_extension.realms.render import CHECKSUM_ATTRIBUTE, SECRET_MASK, render_realm
from idp_extension.settings import PROJECT_ROOT, Settings

TEMPLATES = PROJECT_ROOT / "realm-templates"


@pytest.fixture
def settings() -> Settings:
    return Settings(admin_client_secret="plan-test-admin-secret", smtp_user="mailer",
                    smtp_password="smtp-pw",
                    extra_redirect_uris=("http://127.0.0.1:18765/callback",))


@pytest.fixture
def desired(settings) -> dict:
    # With the secrets ``apply`` takes from the credentials files.
    secrets = A.ClientSecrets("pahang", {"ispeks-sidecar": ["sidecar-secret-1"],
                                         "ispeks-state-it": ["state-it-secret-1"]})
    return secrets.into(render_realm(settings, "pahang", TEMPLATES))


def _executions(desired: dict, alias: str) -> list[dict]:
    """What GET /authentication/flows/{alias}/executions answers for the template's flow."""
    rows = []
    configs = _config_refs(desired, alias)
    for number, (level, kind, requirement) in enumerate(
            flow_steps(desired["authenticationFlows"], alias)):
        what, name = kind.split(":", 1)
        row = {"id": f"exec-{number}", "level": level, "index": number,
               "requirement": requirement, "priority": number}
        if what == "flow":
            row.update(authenticationFlow=True, displayName=name, flowId=f"flow-{number}")
        else:
            row.update(providerId=name, displayName=name.title())
        if configs[number]:
            row.update(authenticationConfig=f"config-{configs[number]}")
        rows.append(row)
    return rows


def _config_refs(desired: dict, alias: str) -> list[str | None]:
    """The config alias of each flattened execution of the template's flow (or None)."""
    by_alias = {f["alias"]: f for f in desired["authenticationFlows"]}
    refs: list[str | None] = []
    for execution in sorted(by_alias[alias]["authenticationExecutions"],
                            key=lambda e: e["priority"]):
        refs.append(execution.get("authenticatorConfig"))
        if execution.get("authenticatorFlow"):
            refs += _config_refs(desired, execution["flowAlias"])
    return refs


def _top_level(desired: dict) -> list[str]:
    return [f["alias"] for f in desired["authenticationFlows"] if f["topLevel"]]


def keycloak_view(desired: dict) -> Current:
    """What Keycloak returns for a realm that matches the template exactly."""
    realm = {k: copy.deepcopy(v) for k, v in desired.items()
             if k not in ("clients", "users", "authenticationFlows", "components")}
    # Keycloak adds its own defaults, keeps its own attributes, masks the SMTP password
    # and answers set-like lists in any order.
    realm.update(id="realm-uuid", accessTokenLifespan=300, bruteForceStrategy="MULTIPLE")
    realm["supportedLocales"] = list(reversed(realm["supportedLocales"]))
    realm["attributes"] = {**realm["attributes"], "cibaInterval": "5"}
    if realm["smtpServer"].get("password"):
        realm["smtpServer"]["password"] = SECRET_MASK
    clients = [{"id": "account-uuid", "clientId": "account", "publicClient": True}]
    flow_ids = {alias: f"flow-id-{alias}" for alias in _top_level(desired)}
    flow_ids["browser"] = "flow-id-builtin-browser"
    for number, client in enumerate(desired["clients"]):
        view = copy.deepcopy(client)
        view.update(id=f"client-{number}", surrogateAuthRequired=False, notBefore=0,
                    redirectUris=list(reversed(client["redirectUris"])))
        view["attributes"] = {**client.get("attributes", {}), "realm_client": "false"}
        # Keycloak stores flow ids, and gives every mapper an id.
        view["authenticationFlowBindingOverrides"] = {
            binding: flow_ids[alias]
            for binding, alias in client.get("authenticationFlowBindingOverrides", {}).items()}
        view["protocolMappers"] = [{**mapper, "id": f"mapper-{number}-{i}"}
                                   for i, mapper in enumerate(view.get("protocolMappers", []))]
        clients.append(view)
    profile = copy.deepcopy(A.desired_user_profile(desired))
    profile["attributes"][0]["annotations"] = {}
    return Current(
        realm=realm, clients=clients, user_profile=profile,
        flow_executions={alias: _executions(desired, alias) for alias in _top_level(desired)},
        service_account_roles={
            "ispeks-sidecar": {"realm-management": ["view-users", "manage-users", "query-users"]},
            "ispeks-state-it": {"realm-management": ["view-users", "manage-users", "query-users"]}},
        flow_ids=flow_ids,
        authenticator_configs={
            f"config-{c['alias']}": {"id": f"config-{c['alias']}", **copy.deepcopy(c)}
            for c in desired["authenticatorConfig"]},
        client_roles=desired_roles(desired),
    )


def _kinds(plan) -> list[str]:
    return [op.kind for op in plan.operations]


def test_matching_realm_plans_nothing(desired):
    plan = plan_update(desired, keycloak_view(desired))

    assert plan.changes == [] and plan.operations == [] and plan.empty


def test_changed_password_policy_is_one_line_and_one_realm_write(desired):
    current = keycloak_view(desired)
    current.realm["passwordPolicy"] = "length(8)"

    plan = plan_update(desired, current)

    assert [c.line() for c in plan.changes] == [
        f"realm.passwordPolicy: 'length(8)' -> {desired['passwordPolicy']!r}"]
    assert _kinds(plan) == [A.UPDATE_REALM]
    assert plan.operations[0].payload == {"passwordPolicy": desired["passwordPolicy"]}


def test_changed_attribute_sends_keycloaks_own_attributes_back(desired):
    current = keycloak_view(desired)
    current.realm["attributes"]["ispeks.versionLabel"] = "Versi 1.0"

    plan = plan_update(desired, current)

    assert [c.path for c in plan.changes] == ["realm.attributes.ispeks.versionLabel"]
    sent = plan.operations[0].payload["attributes"]
    assert sent["ispeks.versionLabel"] == "Versi 3.0.07"
    assert sent["cibaInterval"] == "5"  # a PUT replaces the map: keep Keycloak's keys


def test_masked_smtp_password_is_not_a_change_while_the_checksum_holds(desired):
    current = keycloak_view(desired)
    assert current.realm["smtpServer"]["password"] == SECRET_MASK

    assert plan_update(desired, current).empty


def test_new_checksum_resends_the_smtp_password(desired):
    current = keycloak_view(desired)
    current.realm["attributes"][CHECKSUM_ATTRIBUTE] = "hmac-sha256:old"

    plan = plan_update(desired, current)

    assert [c.path for c in plan.changes] == [
        f"realm.attributes.{CHECKSUM_ATTRIBUTE}", "realm.smtpServer.password"]
    assert plan.changes[1].line() == f"realm.smtpServer.password: resend {SECRET_MASK!r}"
    assert plan.operations[-1].payload["smtpServer"]["password"] == "smtp-pw"
    assert "smtp-pw" not in "\n".join(c.line() for c in plan.changes)


def test_removed_smtp_auth_is_a_change(settings):
    desired = render_realm(settings.with_overrides(smtp_user="", smtp_password=""),
                           "pahang", TEMPLATES)
    current = keycloak_view(desired)
    current.realm["smtpServer"].update(auth="true", user="old", password=SECRET_MASK)

    paths = [c.path for c in plan_update(desired, current).changes]

    assert paths == ["realm.smtpServer.auth", "realm.smtpServer.user",
                     "realm.smtpServer.password"]


def test_missing_client_is_created_and_unknown_clients_are_left_alone(desired):
    current = keycloak_view(desired)
    current.clients = [c for c in current.clients if c["clientId"] != "portal-ispeks"]

    plan = plan_update(desired, current)

    assert [c.line() for c in plan.changes] == ["clients.portal-ispeks: create"]
    (op,) = plan.operations
    assert (op.kind, op.target) == (A.CREATE_CLIENT, "portal-ispeks")
    assert op.payload["publicClient"] is True
    assert all(o.target != "account-uuid" for o in plan.operations)


def test_changed_client_fields_update_only_that_client_keeping_its_id(desired):
    current = keycloak_view(desired)
    main = next(c for c in current.clients if c["clientId"] == "ispeks-main")
    main["redirectUris"] = ["https://evil.example/*"]
    main["directAccessGrantsEnabled"] = True
    del main["attributes"]["pkce.code.challenge.method"]

    plan = plan_update(desired, current)

    assert sorted(c.path for c in plan.changes) == [
        "clients.ispeks-main.attributes.pkce.code.challenge.method",
        "clients.ispeks-main.directAccessGrantsEnabled",
        "clients.ispeks-main.redirectUris",
    ]
    (op,) = plan.operations
    assert (op.kind, op.target) == (A.UPDATE_CLIENT, main["id"])
    assert op.payload["id"] == main["id"] and op.payload["notBefore"] == 0
    assert op.payload["attributes"]["realm_client"] == "false"
    assert op.payload["attributes"]["pkce.code.challenge.method"] == "S256"
    assert op.payload["directAccessGrantsEnabled"] is False


def test_client_secret_change_is_shown_masked(desired):
    current = keycloak_view(desired)
    sidecar = next(c for c in current.clients if c["clientId"] == "ispeks-sidecar")
    sidecar["secret"] = "old-secret"

    plan = plan_update(desired, current)

    assert [c.line() for c in plan.changes] == [
        f"clients.ispeks-sidecar.secret: {SECRET_MASK!r} -> {SECRET_MASK!r}"]
    assert plan.operations[0].payload["secret"] == desired["clients"][0]["secret"]


def _marker_condition(subflow: str, alias: str, *, negate: bool) -> dict:
    """A TOTP subflow's condition: the user holds (or, negated, lacks) the marker role."""
    return {"parent": subflow, "provider": "conditional-user-role", "requirement": "REQUIRED",
            "config": {"alias": alias, "config": {"condUserRole": "ispeks-tugas.totp-wajib",
                                                  "negate": str(negate).lower()}}}


def _otp_form(subflow: str) -> dict:
    """A TOTP subflow's OTP form; the console (issue 13) reads the step from amr: "otp"."""
    return {"parent": subflow, "provider": "auth-otp-form", "requirement": "REQUIRED",
            "config": {"alias": f"{subflow}-amr",
                       "config": {"default.reference.value": "otp",
                                  "default.reference.maxAge": "300"}}}


def test_missing_flow_is_created_then_built_before_the_realm_binds_it(desired):
    current = keycloak_view(desired)
    current.flow_executions["ispeks-browser"] = None
    current.realm["browserFlow"] = "browser"

    plan = plan_update(desired, current)

    # The sidecar's binding follows the flow to its new (deterministic) id.
    assert _kinds(plan) == [A.CREATE_FLOW, A.REBUILD_FLOW, A.UPDATE_CLIENT, A.UPDATE_REALM]
    assert plan.operations[0].payload["id"] == A.flow_id("pahang", "ispeks-browser")
    assert plan.operations[2].payload["authenticationFlowBindingOverrides"] == {
        "browser": A.flow_id("pahang", "ispeks-browser")}
    assert plan.operations[1].payload == {"delete": [], "steps": [
        {"parent": "ispeks-browser", "provider": "auth-cookie", "requirement": "ALTERNATIVE"},
        {"parent": "ispeks-browser", "subflow": "ispeks-browser-forms",
         "description": "Username and password in one form, then TOTP where due",
         "requirement": "ALTERNATIVE"},
        {"parent": "ispeks-browser-forms", "provider": "ispeks-username-password-form",
         "requirement": "REQUIRED",
         "config": {"alias": "ispeks-login-limits",
                    "config": {"failedPostsPerAddressPerMinute": "10",
                               "failedPostsPerAddressPerHour": "50"}}},
        # TOTP where a task requires it (issue 12), then where the user turned it on.
        {"parent": "ispeks-browser-forms", "subflow": "ispeks-browser-forms-totp-wajib",
         "description": ("TOTP for privileged tasks (ispeks-tugas totp-wajib): enrol at "
                         "first, then every login"),
         "requirement": "CONDITIONAL"},
        _marker_condition("ispeks-browser-forms-totp-wajib", "ispeks-totp-wajib", negate=False),
        _otp_form("ispeks-browser-forms-totp-wajib"),
        {"parent": "ispeks-browser-forms", "subflow": "ispeks-browser-forms-totp-pilihan",
         "description": "TOTP a user without a privileged task turned on",
         "requirement": "CONDITIONAL"},
        _marker_condition("ispeks-browser-forms-totp-pilihan", "ispeks-bukan-totp-wajib",
                          negate=True),
        {"parent": "ispeks-browser-forms-totp-pilihan", "provider": "conditional-user-configured",
         "requirement": "REQUIRED"},
        _otp_form("ispeks-browser-forms-totp-pilihan"),
    ]}
    assert plan.operations[3].payload == {"browserFlow": "ispeks-browser-portal"}


def test_changed_requirement_is_fixed_in_place(desired):
    current = keycloak_view(desired)
    current.flow_executions["ispeks-browser"][0]["requirement"] = "DISABLED"

    plan = plan_update(desired, current)

    assert [c.line() for c in plan.changes] == [
        "flows.ispeks-browser.auth:auth-cookie: 'DISABLED' -> 'ALTERNATIVE'"]
    assert plan.operations == [A.Operation(A.SET_REQUIREMENTS, "ispeks-browser",
                                           [{"id": "exec-0", "requirement": "ALTERNATIVE"}])]


def test_username_form_in_the_flow_forces_a_rebuild(desired):
    current = keycloak_view(desired)
    executions = current.flow_executions["ispeks-browser"]
    executions[1:] = [{"id": "exec-x", "level": 0, "index": 1, "requirement": "REQUIRED",
                       "providerId": "auth-username-form", "displayName": "Username Form"},
                      {"id": "exec-y", "level": 0, "index": 2, "requirement": "REQUIRED",
                       "providerId": "auth-password-form", "displayName": "Password Form"}]

    plan = plan_update(desired, current)

    (change,) = plan.changes
    assert change.action == "rebuild" and "auth-username-form=REQUIRED" in change.line()
    (op,) = plan.operations
    assert op.kind == A.REBUILD_FLOW
    assert op.payload["delete"] == ["exec-0", "exec-x", "exec-y"]
    assert [s.get("provider") or s.get("subflow") for s in op.payload["steps"]] == [
        "auth-cookie", "ispeks-browser-forms", "ispeks-username-password-form",
        "ispeks-browser-forms-totp-wajib", "conditional-user-role", "auth-otp-form",
        "ispeks-browser-forms-totp-pilihan", "conditional-user-role",
        "conditional-user-configured", "auth-otp-form"]


def test_keycloaks_stock_form_is_replaced_by_the_projects_with_its_limits(desired):
    """A realm made before the ispeks-login provider still has Keycloak's own form."""
    current = keycloak_view(desired)
    for alias in ("ispeks-browser", "ispeks-browser-portal"):
        for execution in current.flow_executions[alias]:
            if execution.get("providerId") == "ispeks-username-password-form":
                execution["providerId"] = "auth-username-password-form"
                execution.pop("authenticationConfig")

    plan = plan_update(desired, current)

    assert [(c.path, c.action) for c in plan.changes] == [
        ("flows.ispeks-browser", "rebuild"), ("flows.ispeks-browser-portal", "rebuild")]
    for op in plan.operations:
        assert op.kind == A.REBUILD_FLOW
        (form,) = [s for s in op.payload["steps"]
                   if s.get("provider") == "ispeks-username-password-form"]
        assert form["config"]["alias"].startswith("ispeks-login-limits")
        assert form["config"]["config"] == {"failedPostsPerAddressPerMinute": "10",
                                            "failedPostsPerAddressPerHour": "50"}


def test_changed_address_limits_are_written_to_the_forms_config(desired):
    current = keycloak_view(desired)
    current.authenticator_configs["config-ispeks-login-limits"]["config"][
        "failedPostsPerAddressPerHour"] = "500"

    plan = plan_update(desired, current)

    assert [c.path for c in plan.changes] == [
        "flows.ispeks-browser.auth:ispeks-username-password-form.config"]
    (op,) = plan.operations
    (fix,) = op.payload
    assert fix["config_id"] == "config-ispeks-login-limits"
    assert fix["config"]["failedPostsPerAddressPerHour"] == "50"


def test_user_profile_drift_is_put_back_whole(desired):
    current = keycloak_view(desired)
    attributes = current.user_profile["attributes"]
    current.user_profile["attributes"] = [a for a in attributes
                                          if a["name"] != "ispeks_image_id"]
    current.user_profile["attributes"].append({"name": "favourite_colour"})
    secret = next(a for a in attributes if a["name"] == "ispeks_secret_phrase")
    secret["permissions"] = {"view": ["admin", "user"], "edit": ["admin"]}
    current.user_profile["unmanagedAttributePolicy"] = "ENABLED"

    plan = plan_update(desired, current)

    assert [(c.path, c.action) for c in plan.changes] == [
        ("userProfile.attributes.ispeks_image_id", "add"),
        ("userProfile.attributes.ispeks_secret_phrase", "update"),
        ("userProfile.attributes.favourite_colour", "remove"),
        ("userProfile.unmanagedAttributePolicy", "update"),
    ]
    (op,) = plan.operations
    assert op.kind == A.PUT_USER_PROFILE
    assert op.payload == A.desired_user_profile(desired)


def test_service_account_gets_exactly_its_roles(desired):
    current = keycloak_view(desired)
    current.service_account_roles["ispeks-sidecar"]["realm-management"] = [
        "manage-users", "realm-admin", "view-realm"]

    plan = plan_update(desired, current)

    assert [c.line() for c in plan.changes] == [
        "serviceAccount.ispeks-sidecar.realm-management: add 'query-users'",
        "serviceAccount.ispeks-sidecar.realm-management: add 'view-users'",
        "serviceAccount.ispeks-sidecar.realm-management: remove 'realm-admin'",
        "serviceAccount.ispeks-sidecar.realm-management: remove 'view-realm'",
    ]
    assert plan.operations == [A.Operation(A.SET_CLIENT_ROLES, "ispeks-sidecar", {
        "client": "realm-management", "add": ["query-users", "view-users"],
        "remove": ["realm-admin", "view-realm"]})]


def test_recreated_sidecar_client_gets_its_roles_after_creation(desired):
    current = keycloak_view(desired)
    current.clients = [c for c in current.clients if c["clientId"] != "ispeks-sidecar"]
    current.service_account_roles["ispeks-sidecar"] = None

    plan = plan_update(desired, current)

    assert _kinds(plan) == [A.CREATE_CLIENT, A.SET_CLIENT_ROLES]
    assert plan.operations[1].payload["add"] == ["manage-users", "query-users", "view-users"]


def test_operations_run_flows_first_and_the_realm_last(desired):
    current = keycloak_view(desired)
    current.flow_executions["ispeks-browser"][0]["requirement"] = "DISABLED"
    current.user_profile["attributes"].pop()
    current.clients = [c for c in current.clients if c["clientId"] != "ispeks-main"]
    current.service_account_roles["ispeks-sidecar"]["realm-management"].append("realm-admin")
    current.realm["rememberMe"] = True

    assert _kinds(plan_update(desired, current)) == [
        A.SET_REQUIREMENTS, A.PUT_USER_PROFILE, A.CREATE_CLIENT, A.SET_CLIENT_ROLES,
        A.UPDATE_REALM]


def test_new_realm_is_created_from_the_full_json(desired):
    plan = plan_create(desired)

    assert plan.create and [c.line() for c in plan.changes] == ["realm: create"]
    assert plan.operations == [A.Operation(A.CREATE_REALM, "pahang",
                                           A.creation_payload(desired))]


def test_apply_result_summaries():
    change = Change("realm.rememberMe", "update", True, False)

    assert ApplyResult("pahang", True, (Change("realm", "create"),)).summary() == "created"
    assert ApplyResult("pahang", False, ()).summary() == "no changes"
    assert ApplyResult("pahang", False, (change,)).summary() == "updated: 1 change"
    assert ApplyResult("pahang", False, (change, change), dry_run=True).summary() == (
        "would be updated: 2 changes")
    assert ApplyResult("pahang", False, (change,)).lines() == [
        "realm.rememberMe: True -> False"]


# --- flows bound by id, authenticator configs, protocol mappers --------------------------

def test_creation_gives_flows_known_ids_and_binds_clients_by_id(desired):
    payload = A.creation_payload(desired)

    flows = {f["alias"]: f for f in payload["authenticationFlows"]}
    assert flows["ispeks-browser"]["id"] == A.flow_id("pahang", "ispeks-browser")
    assert flows["ispeks-browser-portal"]["id"] == A.flow_id("pahang", "ispeks-browser-portal")
    assert "id" not in flows["ispeks-browser-forms"]  # subflows get Keycloak's ids
    sidecar = next(c for c in payload["clients"] if c["clientId"] == "ispeks-sidecar")
    assert sidecar["authenticationFlowBindingOverrides"] == {
        "browser": A.flow_id("pahang", "ispeks-browser")}
    # Flow ids are unique across the server: another realm gets other ids.
    assert A.flow_id("kelantan", "ispeks-browser") != A.flow_id("pahang", "ispeks-browser")
    # The rendered template itself is left as it was (by alias).
    assert next(c for c in desired["clients"] if c["clientId"] == "ispeks-sidecar")[
        "authenticationFlowBindingOverrides"] == {"browser": "ispeks-browser"}


def test_lost_binding_is_put_back_with_the_existing_flows_id(desired):
    current = keycloak_view(desired)
    sidecar = next(c for c in current.clients if c["clientId"] == "ispeks-sidecar")
    sidecar["authenticationFlowBindingOverrides"] = {}

    plan = plan_update(desired, current)

    assert [c.line() for c in plan.changes] == [
        "clients.ispeks-sidecar.authenticationFlowBindingOverrides: {} -> "
        "{'browser': 'ispeks-browser'}"]
    (op,) = plan.operations
    assert op.kind == A.UPDATE_CLIENT
    assert op.payload["authenticationFlowBindingOverrides"] == {
        "browser": "flow-id-ispeks-browser"}


def test_a_portal_bound_by_hand_to_the_sidecars_flow_is_unbound(desired):
    current = keycloak_view(desired)
    portal = next(c for c in current.clients if c["clientId"] == "portal-ispeks")
    portal["authenticationFlowBindingOverrides"] = {"browser": "flow-id-ispeks-browser"}

    plan = plan_update(desired, current)

    assert [c.line() for c in plan.changes] == [
        "clients.portal-ispeks.authenticationFlowBindingOverrides: "
        "{'browser': 'ispeks-browser'} -> {}"]
    (op,) = plan.operations
    assert op.payload["authenticationFlowBindingOverrides"] == {"browser": None}


def test_binding_to_a_flow_the_template_lacks_is_refused(desired):
    desired["clients"][0]["authenticationFlowBindingOverrides"] = {"browser": "browser"}

    with pytest.raises(ValueError, match="unknown flow"):
        plan_update(desired, keycloak_view(desired))


def test_changed_and_missing_authenticator_configs_are_fixed_in_place(desired):
    current = keycloak_view(desired)
    current.authenticator_configs["config-ispeks-pending-user"]["config"][
        "attribute_expected_value"] = "active"
    executions = current.flow_executions["ispeks-browser-portal"]
    deny = next(e for e in executions if e.get("providerId") == "deny-access-authenticator")
    del deny["authenticationConfig"]

    plan = plan_update(desired, current)

    assert [c.path for c in plan.changes] == [
        "flows.ispeks-browser-portal.auth:conditional-user-attribute.config",
        "flows.ispeks-browser-portal.auth:deny-access-authenticator.config"]
    (op,) = plan.operations
    assert (op.kind, op.target) == (A.SET_AUTHENTICATOR_CONFIGS, "ispeks-browser-portal")
    changed, created = op.payload
    assert changed["config_id"] == "config-ispeks-pending-user"
    assert changed["config"]["attribute_expected_value"] == "pending"
    assert created == {"execution": deny["id"], "config_id": None,
                       "alias": "ispeks-deny-pending",
                       "config": {"denyErrorMessage": "ispeksAccountNotActivated"}}


def test_rebuilt_flow_brings_its_authenticator_configs(desired):
    current = keycloak_view(desired)
    current.flow_executions["ispeks-browser-portal"] = None

    plan = plan_update(desired, current)

    rebuild = next(op for op in plan.operations if op.kind == A.REBUILD_FLOW)
    configured = [(s["provider"], s["config"]["alias"]) for s in rebuild.payload["steps"]
                  if "config" in s]
    assert configured == [("ispeks-username-password-form", "ispeks-login-limits-portal"),
                          ("conditional-user-role", "ispeks-totp-wajib-portal"),
                          ("auth-otp-form", "ispeks-browser-portal-forms-totp-wajib-amr"),
                          ("conditional-user-role", "ispeks-bukan-totp-wajib-portal"),
                          ("auth-otp-form", "ispeks-browser-portal-forms-totp-pilihan-amr"),
                          ("conditional-user-attribute", "ispeks-pending-user"),
                          ("deny-access-authenticator", "ispeks-deny-pending")]
    assert _kinds(plan) == [A.CREATE_FLOW, A.REBUILD_FLOW]


def test_mappers_are_compared_by_name_and_others_left_alone(desired):
    current = keycloak_view(desired)
    portal = next(c for c in current.clients if c["clientId"] == "portal-ispeks")
    main = next(c for c in current.clients if c["clientId"] == "ispeks-main")
    portal["protocolMappers"] = [{"id": "foreign", "name": "someone-elses",
                                  "protocol": "openid-connect", "config": {}}]
    department = next(m for m in main["protocolMappers"] if m["name"] == "department")
    department["config"]["id.token.claim"] = "false"

    plan = plan_update(desired, current)

    assert sorted(c.line().split(":")[0] for c in plan.changes) == [
        "clients.ispeks-main.protocolMappers.department",
        "clients.portal-ispeks.protocolMappers.audience",
        "clients.portal-ispeks.protocolMappers.department",
        "clients.portal-ispeks.protocolMappers.tugas"]
    by_target = {op.target: op for op in plan.operations}
    assert {op.kind for op in plan.operations} == {A.SYNC_PROTOCOL_MAPPERS}
    assert by_target[main["id"]].payload["update"][0]["id"] == department["id"]
    assert by_target[main["id"]].payload["update"][0]["config"]["id.token.claim"] == "true"
    assert [m["name"] for m in by_target[portal["id"]].payload["create"]] == ["audience", "department",
                                                                          "tugas"]


def test_config_keys_keycloak_adds_to_a_mapper_are_no_change(desired):
    """Keycloak fills in defaults the template does not name (token introspection):
    apply compares the template's keys only, or it would never say "no changes"."""
    current = keycloak_view(desired)
    for client in current.clients:
        for mapper in client.get("protocolMappers", []):
            mapper["config"] = {**mapper["config"], "keycloak.default.added": "true"}

    assert plan_update(desired, current).changes == []


def test_client_update_leaves_mappers_to_their_own_endpoint(desired):
    current = keycloak_view(desired)
    portal = next(c for c in current.clients if c["clientId"] == "portal-ispeks")
    portal["directAccessGrantsEnabled"] = True

    (op,) = plan_update(desired, current).operations

    assert op.kind == A.UPDATE_CLIENT and "protocolMappers" not in op.payload


def test_a_client_without_a_secret_file_gets_a_new_random_one(tmp_path, settings):
    from idp_extension.credentials import CredentialStore

    store = CredentialStore(tmp_path / "credentials")
    rendered = render_realm(settings, "pahang", TEMPLATES)
    assert all("secret" not in c for c in rendered["clients"])  # never in the template
    store.write("pahang", "ispeks-sidecar", ["kept-sidecar-secret"])

    secrets = A.ClientSecrets.load(store, rendered)

    assert secrets.candidates["ispeks-sidecar"] == ["kept-sidecar-secret"]
    made = secrets.candidates["ispeks-state-it"][0]
    assert len(made) >= 43 and made not in ("kept-sidecar-secret",)
    assert [c.line() for c in secrets.changes()] == ["credentials.ispeks-state-it: create"]
    # Nothing is written before ``save`` (a dry run writes nothing).
    assert store.read("pahang", "ispeks-state-it") == []
    secrets.save(store)
    assert store.read("pahang", "ispeks-state-it") == [made]
    mode = store.path("pahang", "ispeks-state-it").stat().st_mode & 0o777
    assert mode == 0o600 and (store.root / "pahang").stat().st_mode & 0o777 == 0o700
    # Another realm's secrets are drawn afresh: nothing is shared or derived.
    other = A.ClientSecrets.load(store, {**rendered, "realm": "selangor"})
    assert set(other.candidates["ispeks-state-it"]).isdisjoint({made})


def test_keycloaks_secret_is_kept_while_the_file_lists_it(desired):
    current = keycloak_view(desired)
    sidecar = next(c for c in current.clients if c["clientId"] == "ispeks-sidecar")
    sidecar["secret"] = "previous-secret"
    secrets = A.ClientSecrets("pahang", {"ispeks-sidecar": ["new-secret", "previous-secret"],
                                         "ispeks-state-it": ["state-it-secret-1"]})

    plan = plan_update(secrets.into(desired, current), current)

    # A rotation half done (both secrets in the file) is not undone by an apply.
    assert plan.changes == []


def test_an_otp_policy_change_sends_the_whole_policy(desired):
    """Keycloak applies the OTP policy of a realm PUT only whole, with its type."""
    current = keycloak_view(desired)
    current.realm["otpPolicyLookAheadWindow"] = 3

    plan = plan_update(desired, current)

    assert [c.path for c in plan.changes] == ["realm.otpPolicyLookAheadWindow"]
    (op,) = plan.operations
    assert op.kind == A.UPDATE_REALM
    assert {k: v for k, v in op.payload.items() if k.startswith("otpPolicy")} == {
        "otpPolicyType": "totp", "otpPolicyAlgorithm": "HmacSHA1", "otpPolicyDigits": 6,
        "otpPolicyPeriod": 30, "otpPolicyLookAheadWindow": 1, "otpPolicyInitialCounter": 0,
        "otpPolicyCodeReusable": False}


def test_masked_amr_reference_values_count_as_the_wanted_ones():
    from idp_extension.realms.plan import _unmasked

    want = {"default.reference.value": "otp", "default.reference.maxAge": "300"}
    masked = {"default.reference.value": "**********", "default.reference.maxAge": "**********"}
    assert _unmasked(masked, want) == want
    assert _unmasked({}, want) == want
    assert _unmasked({"default.reference.value": "pwd"}, want)["default.reference.value"] == "pwd"
