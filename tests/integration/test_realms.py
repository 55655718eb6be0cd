"""Provision the state realms into the real Keycloak and read them back."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import shutil
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from idp_extension.commands.realms import realms
from idp_extension.credentials import CredentialStore
from idp_extension.demo_users import synthetic_people
from idp_extension.gateway.connection import bootstrap_admin, sidecar_admin
from idp_extension.gateway.users import UserDirectory
from idp_extension.passwords import random_password
from idp_extension.realms.apply import apply_realm, apply_states
from idp_extension.realms.plan import execution_steps
from idp_extension.realms.profile import ADMIN_ONLY, SIDECAR_ATTRIBUTES, attribute_names
from idp_extension.tenants import load_tenant, load_values
from tests.support.oidc_login import decode_jwt_claims, login
from tests.support.realm_shape import (
    BROWSER_FLOW, JOHOR, POLICY, PORTAL_FLOW, STATES, VERSION_LABELS, assert_portal_client,
)

pytestmark = pytest.mark.integration

SIDECAR_ROLES = {"manage-users", "query-users", "view-users"}


@pytest.fixture(scope="module")
def settings_(provisioned_realms):
    """The session's settings, once every state's realm has been applied."""
    return provisioned_realms


def _admin(settings, realm: str):
    return bootstrap_admin(settings, realm)


def _write_events(settings, realm: str) -> list[dict]:
    return _admin(settings, realm).get_admin_events({"max": 10000})


def _sidecar_roles(kc) -> tuple[set[str], set[str]]:
    clients = {c["clientId"]: c["id"] for c in kc.get_clients()}
    user = kc.get_client_service_account_user(clients["ispeks-sidecar"])
    direct = {r["name"] for r in kc.get_client_roles_of_user(user["id"],
                                                             clients["realm-management"])}
    realm_roles = {r["name"] for r in kc.get_realm_roles_of_user(user["id"])}
    return direct, realm_roles


@pytest.mark.parametrize("state", STATES)
def test_realm_settings_read_back(settings_, state):
    realm = _admin(settings_, state).get_realm(state)

    assert realm["enabled"] is True and realm["loginTheme"] == f"ispeks-{state}"
    assert realm["passwordPolicy"] == POLICY
    assert (realm["bruteForceProtected"], realm["failureFactor"], realm["permanentLockout"],
            realm["maxTemporaryLockouts"]) == (True, 3, True, 0)
    assert realm["internationalizationEnabled"] is True
    assert sorted(realm["supportedLocales"]) == ["en", "ms"] and realm["defaultLocale"] == "ms"
    assert realm["loginWithEmailAllowed"] is False and realm["duplicateEmailsAllowed"] is True
    assert realm["registrationAllowed"] is False and realm["resetPasswordAllowed"] is False
    assert realm["rememberMe"] is False and realm["editUsernameAllowed"] is False
    assert realm["eventsEnabled"] and realm["adminEventsEnabled"]
    assert realm["adminEventsDetailsEnabled"] is False
    assert realm["smtpServer"]["host"] == settings_.smtp_host
    assert realm["attributes"]["ispeks.versionLabel"] == VERSION_LABELS[state]
    questions = json.loads(realm["attributes"]["ispeks.securityQuestions"])
    assert questions == load_values(settings_.realm_templates_dir, state)["security_questions"]


@pytest.mark.parametrize("state", STATES)
def test_browser_flow_is_the_single_username_password_form(settings_, state):
    kc = _admin(settings_, state)

    assert kc.get_realm(state)["browserFlow"] == "ispeks-browser-portal"
    executions = kc.get_authentication_flow_executions("ispeks-browser")
    assert execution_steps(executions) == BROWSER_FLOW
    assert not any(e.get("providerId") == "auth-username-form" for e in executions)


@pytest.mark.parametrize("state", STATES)
def test_default_flow_refuses_pending_accounts_and_only_the_sidecar_skips_that(settings_, state):
    kc = _admin(settings_, state)
    flows = {f["alias"]: f["id"] for f in kc.get_authentication_flows()}
    executions = kc.get_authentication_flow_executions("ispeks-browser-portal")

    assert execution_steps(executions) == PORTAL_FLOW
    configs = {e["providerId"]: kc.get_authenticator_config(e["authenticationConfig"])["config"]
               for e in executions if e.get("authenticationConfig")}
    assert configs["conditional-user-attribute"]["attribute_name"] == "ispeks_activation_state"
    assert configs["conditional-user-attribute"]["attribute_expected_value"] == "pending"
    assert configs["deny-access-authenticator"] == {"denyErrorMessage": "ispeksAccountNotActivated"}
    clients = {c["clientId"]: c for c in kc.get_clients()}
    assert clients["ispeks-sidecar"]["authenticationFlowBindingOverrides"] == {
        "browser": flows["ispeks-browser"]}
    for portal in load_values(settings_.realm_templates_dir, state)["portal_clients"]:
        client = clients[portal["client_id"]]
        assert not client.get("authenticationFlowBindingOverrides")
        (mapper,) = [m for m in client["protocolMappers"] if m["name"] == "department"]
        assert mapper["config"]["user.attribute"] == "department"
        assert mapper["config"]["id.token.claim"] == "true"


@pytest.mark.parametrize("state", STATES)
def test_user_profile_declares_everything_and_hides_internals(settings_, state):
    profile = _admin(settings_, state).get_realm_users_profile()
    attributes = {a["name"]: a for a in profile["attributes"]}

    assert list(attributes) == attribute_names()
    assert profile.get("unmanagedAttributePolicy") in (None, "DISABLED")
    for name in SIDECAR_ATTRIBUTES:
        assert attributes[name]["permissions"] == ADMIN_ONLY, name
    for name in ("department", "registration_date"):
        assert attributes[name]["permissions"] == {"view": ["admin", "user"], "edit": ["admin"]}
    assert "required" not in attributes["firstName"] and "required" not in attributes["lastName"]


@pytest.mark.parametrize("state", STATES)
def test_clients_are_pkce_with_the_right_kind_and_redirects(settings_, state):
    clients = {c["clientId"]: c for c in _admin(settings_, state).get_clients()}
    values = load_values(settings_.realm_templates_dir, state)

    sidecar = clients["ispeks-sidecar"]
    assert sidecar["publicClient"] is False and sidecar["serviceAccountsEnabled"] is True
    assert sidecar["directAccessGrantsEnabled"] is False
    assert sidecar["attributes"]["pkce.code.challenge.method"] == "S256"
    base = f"{settings_.sidecar_public_url}/{state}"
    assert set(sidecar["redirectUris"]) == {f"{base}/first-login/callback",
                                            f"{base}/settings/callback",
                                            f"{base}/pentadbiran/callback"}
    for portal in values["portal_clients"]:
        client = clients[portal["client_id"]]
        assert_portal_client(client)
        demo = {f"{base}/portal/callback"} if portal["client_id"] == "portal-ispeks" else set()
        assert set(client["redirectUris"]) == set(portal["redirect_uris"]) | set(
            settings_.extra_redirect_uris) | demo
        assert {"profile", "email"} <= set(client["defaultClientScopes"])


@pytest.mark.parametrize("state", STATES)
def test_sidecar_service_account_holds_only_user_management_roles(settings_, state):
    direct, realm_roles = _sidecar_roles(_admin(settings_, state))

    assert direct == SIDECAR_ROLES
    assert not realm_roles & {"admin", "create-realm"}


@pytest.mark.parametrize("state", STATES)
def test_discovery_and_jwks_answer(settings_, state):
    issuer = f"{settings_.keycloak_url}/realms/{state}"

    discovery = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10)
    assert discovery.status_code == 200
    config = discovery.json()
    assert config["issuer"] == issuer
    assert "S256" in config["code_challenge_methods_supported"]
    jwks = requests.get(config["jwks_uri"], timeout=10)
    assert jwks.status_code == 200
    assert any(k["alg"] == "RS256" and k["use"] == "sig" for k in jwks.json()["keys"])


@pytest.mark.parametrize("state", ["pahang", "selangor"])
def test_login_page_is_one_form_with_id_and_password(settings_, state):
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    page = requests.get(
        f"{settings_.keycloak_url}/realms/{state}/protocol/openid-connect/auth",
        params={"client_id": "portal-ispeks", "response_type": "code", "scope": "openid",
                "redirect_uri": settings_.extra_redirect_uris[-1],
                "code_challenge": challenge.rstrip(b"=").decode(),
                "code_challenge_method": "S256"},
        timeout=10,
    )

    assert page.status_code == 200
    # ispeks-username-password-form (Keycloak's form, extended): ID and password in one form.
    assert 'name="username"' in page.text and 'name="password"' in page.text


def _authorize(settings, state: str, client_id: str, redirect_uri: str) -> requests.Response:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return requests.get(
        f"{settings.keycloak_url}/realms/{state}/protocol/openid-connect/auth",
        params={"client_id": client_id, "response_type": "code", "scope": "openid",
                "redirect_uri": redirect_uri, "state": "s",
                "code_challenge": challenge.rstrip(b"=").decode(),
                "code_challenge_method": "S256"},
        timeout=10, allow_redirects=False,
    )


@pytest.mark.parametrize("client_id, listed, unlisted", [
    ("ispeks-sidecar", "{sidecar}/{state}/settings/callback", "{sidecar}/{state}/settings/evil"),
    ("ispeks-sidecar", "{sidecar}/{state}/first-login/callback", "{sidecar}/{state}/portal/callback"),
    ("ispeks-sidecar", "{sidecar}/{state}/settings/callback", "{sidecar}/kelantan/settings/callback"),
    ("portal-ispeks", "{sidecar}/{state}/portal/callback", "{sidecar}/{state}/portal/callback/x"),
    ("portal-ispeks", "{sidecar}/{state}/portal/callback", "{sidecar}/{state}/recovery"),
    ("ispeks-main", "https://ispeks.pahang.gov.my/iSPEKSv2/oidc/callback",
     "https://ispeks.pahang.gov.my/iSPEKSv2/anything"),
])
def test_a_redirect_uri_not_listed_exactly_is_refused_by_keycloak(settings_, client_id, listed,
                                                                  unlisted):
    state = "pahang"
    fill = {"sidecar": settings_.sidecar_public_url, "state": state}

    allowed = _authorize(settings_, state, client_id, listed.format(**fill))
    refused = _authorize(settings_, state, client_id, unlisted.format(**fill))

    assert allowed.status_code == 200 and 'id="kc-form-login"' in allowed.text
    # Keycloak's error page, never a redirect to the unlisted address.
    assert refused.status_code == 400 and "Location" not in refused.headers
    assert "redirect_uri" in refused.text


def _sidecar_token(settings, realm: str) -> str:
    answer = requests.post(
        f"{settings.keycloak_url}/realms/{realm}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials", "client_id": "ispeks-sidecar",
              "client_secret": CredentialStore.from_settings(settings).read(
                  realm, "ispeks-sidecar")[0]},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def test_sidecar_service_account_is_confined_to_its_own_realms_users(settings_):
    assert isinstance(sidecar_admin(settings_, "pahang").get_users({"max": 5}), list)
    headers = {"Authorization": f"Bearer {_sidecar_token(settings_, 'pahang')}"}
    admin_url = f"{settings_.keycloak_url}/admin/realms"

    def status(method: str, path: str, **kwargs) -> int:
        return requests.request(method, f"{admin_url}/{path}", headers=headers, timeout=10,
                                **kwargs).status_code

    assert status("GET", "pahang/users") == 200
    assert status("GET", "kelantan/users") in (401, 403)
    assert status("GET", "master/users") in (401, 403)
    assert status("GET", "pahang/clients") in (401, 403)
    assert status("PUT", "pahang", json={"displayName": "taken over"}) == 403
    assert _admin(settings_, "pahang").get_realm("pahang")["displayName"] != "taken over"


def test_second_apply_changes_nothing_and_writes_nothing(settings_):
    before = {state: len(_write_events(settings_, state)) for state in STATES}

    results = apply_states(settings_, STATES)

    assert {r.realm: r.summary() for r in results} == {s: "no changes" for s in STATES}
    assert all(r.changes == () for r in results)
    assert {state: len(_write_events(settings_, state)) for state in STATES} == before


@pytest.fixture
def edited_templates(settings_, tmp_path) -> Path:
    """A copy of realm-templates/ whose Pahang values file changes two settings."""
    copy = Path(shutil.copytree(settings_.realm_templates_dir, tmp_path / "realm-templates"))
    values = copy / "values" / "pahang.toml"
    # Top-level keys go before the first [[table]], or TOML files them inside it.
    values.write_text(values.read_text().replace(
        'version_label = "Versi 3.0.07"',
        'version_label = "Versi 3.1"\npassword_policy = "length(14) and notUsername"'))
    return copy


def test_dry_run_shows_the_change_and_writes_nothing(settings_, edited_templates):
    before = len(_write_events(settings_, "pahang"))

    result = apply_realm(settings_, "pahang", dry_run=True, templates_dir=edited_templates)

    lines = result.lines()
    assert result.dry_run and result.summary().startswith("would be updated:")
    assert f"realm.passwordPolicy: {POLICY!r} -> 'length(14) and notUsername'" in lines
    assert "realm.attributes.ispeks.versionLabel: 'Versi 3.0.07' -> 'Versi 3.1'" in lines
    realm = _admin(settings_, "pahang").get_realm("pahang")
    assert realm["passwordPolicy"] == POLICY
    assert realm["attributes"]["ispeks.versionLabel"] == "Versi 3.0.07"
    assert len(_write_events(settings_, "pahang")) == before


def test_cli_dry_run_prints_the_diff_lines(settings_, edited_templates):
    result = CliRunner().invoke(
        realms, ["apply", "--state", "pahang", "--state", "kelantan", "--dry-run",
                 "--templates-dir", str(edited_templates)], obj=settings_)

    assert result.exit_code == 0, result.output
    assert "pahang: would be updated:" in result.output
    assert "  realm.attributes.ispeks.versionLabel: 'Versi 3.0.07' -> 'Versi 3.1'" in (
        result.output)
    assert "kelantan: no changes" in result.output
    assert _admin(settings_, "pahang").get_realm("pahang")["passwordPolicy"] == POLICY


# --- a fifth state, created and then repaired ---------------------------------------

@pytest.fixture(scope="module")
def johor(settings_, tmp_path_factory):
    """A made-up fifth state: one more values file in a copy of realm-templates/."""
    templates = Path(shutil.copytree(settings_.realm_templates_dir,
                                     tmp_path_factory.mktemp("johor") / "realm-templates"))
    (templates / "values" / "johor.toml").write_text(JOHOR)
    result = apply_realm(settings_, "johor", templates_dir=templates)
    yield templates, result
    _admin(settings_, "master").delete_realm("johor")


def test_fifth_state_is_created_from_one_values_file(settings_, johor):
    _, result = johor

    # The import honoured the whole template: no follow-up fixes were needed.
    assert result.created and result.lines() == ["realm: create"]
    realm = _admin(settings_, "johor").get_realm("johor")
    assert realm["attributes"]["ispeks.versionLabel"] == "Versi 9.9"
    assert realm["passwordPolicy"] == POLICY
    discovery = requests.get(
        f"{settings_.keycloak_url}/realms/johor/.well-known/openid-configuration", timeout=10)
    assert discovery.status_code == 200
    token = _sidecar_token(settings_, "johor")
    users = requests.get(f"{settings_.keycloak_url}/admin/realms/johor/users",
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert users.status_code == 200


def test_tokens_carry_id_and_name_and_three_quick_failures_lock_for_good(settings_, johor):
    kc = _admin(settings_, "johor")
    user_id = kc.create_user({
        "username": "900101015555", "enabled": True, "firstName": "Pengguna Ujian",
        "credentials": [{"type": "password", "value": "Betul-Kata-Laluan-1",
                         "temporary": False}]})

    first = login(settings_.keycloak_url, "johor", "900101015555", "Betul-Kata-Laluan-1")
    assert first.status == 302, first.error
    claims = decode_jwt_claims(first.tokens["id_token"])
    assert (claims["preferred_username"], claims["name"]) == ("900101015555", "Pengguna Ujian")
    assert not any(key.startswith("ispeks") for key in claims)

    answers = [login(settings_.keycloak_url, "johor", "900101015555", "Salah-Kata-Laluan-1")
               for _ in range(3)]
    after_lock = login(settings_.keycloak_url, "johor", "900101015555", "Betul-Kata-Laluan-1")

    assert [a.status for a in answers] == [200, 200, 200]
    assert after_lock.status == 200 and after_lock.tokens is None
    assert kc.get_bruteforce_detection_status(user_id)["numFailures"] == 3
    assert kc.get_user(user_id)["enabled"] is False  # permanent: an administrator unlocks


def test_drift_is_repaired_then_nothing_is_left_to_do(settings_, johor):
    templates, _ = johor
    kc = _admin(settings_, "johor")
    # Someone "fixes" things by hand in the admin console.
    kc.update_realm("johor", {"passwordPolicy": "length(6)", "rememberMe": True})
    cookie = next(e for e in kc.get_authentication_flow_executions("ispeks-browser")
                  if e.get("providerId") == "auth-cookie")
    kc.update_authentication_flow_executions({**cookie, "requirement": "DISABLED"},
                                             "ispeks-browser")
    forms = next(e for e in kc.get_authentication_flow_executions("ispeks-browser")
                 if e.get("authenticationFlow"))
    kc.delete_authentication_flow_execution(forms["id"])
    kc.create_authentication_flow_execution({"provider": "auth-username-form"},
                                            "ispeks-browser")
    kc.delete_client(kc.get_client_id("portal-ispeks"))
    clients = {c["clientId"]: c["id"] for c in kc.get_clients()}
    account = kc.get_client_service_account_user(clients["ispeks-sidecar"])["id"]
    kc.assign_client_role(account, clients["realm-management"],
                          [kc.get_client_role(clients["realm-management"], "realm-admin")])
    profile = kc.get_realm_users_profile()
    profile["attributes"] = [a for a in profile["attributes"]
                             if a["name"] != "ispeks_security_answers"]
    kc.update_realm_users_profile(profile)

    repaired = apply_realm(settings_, "johor", templates_dir=templates)
    again = apply_realm(settings_, "johor", templates_dir=templates)

    paths = {line.split(":")[0] for line in repaired.lines()}
    assert {"realm.passwordPolicy", "realm.rememberMe", "flows.ispeks-browser",
            "clients.portal-ispeks", "serviceAccount.ispeks-sidecar.realm-management",
            "userProfile.attributes.ispeks_security_answers"} <= paths
    assert again.summary() == "no changes"
    realm = kc.get_realm("johor")
    assert realm["passwordPolicy"] == POLICY and realm["rememberMe"] is False
    assert execution_steps(kc.get_authentication_flow_executions("ispeks-browser")) == (
        BROWSER_FLOW)
    assert "ispeks_security_answers" in attribute_names()
    assert "ispeks_security_answers" in {
        a["name"] for a in kc.get_realm_users_profile()["attributes"]}
    assert _sidecar_roles(kc)[0] == SIDECAR_ROLES
    portal = next(c for c in kc.get_clients() if c["clientId"] == "portal-ispeks")
    assert portal["publicClient"] is True


def test_requirement_drift_is_fixed_in_place(settings_, johor):
    templates, _ = johor
    kc = _admin(settings_, "johor")
    cookie = next(e for e in kc.get_authentication_flow_executions("ispeks-browser")
                  if e.get("providerId") == "auth-cookie")
    forms = next(e for e in kc.get_authentication_flow_executions("ispeks-browser")
                 if e.get("authenticationFlow"))
    kc.update_authentication_flow_executions({**forms, "requirement": "REQUIRED"},
                                             "ispeks-browser")

    result = apply_realm(settings_, "johor", templates_dir=templates)

    assert result.lines() == [
        "flows.ispeks-browser.flow:ispeks-browser-forms: 'REQUIRED' -> 'ALTERNATIVE'"]
    after = kc.get_authentication_flow_executions("ispeks-browser")
    assert execution_steps(after) == BROWSER_FLOW
    # Fixed in place: the same executions, not a rebuilt flow.
    assert {e["id"] for e in after} >= {cookie["id"], forms["id"]}


def test_a_realm_of_the_previous_template_is_brought_up_to_date(settings_, johor):
    """Before first login: no portal flow, no sidecar binding, no department mapper."""
    templates, _ = johor
    kc = _admin(settings_, "johor")
    kc.update_realm("johor", {"browserFlow": "ispeks-browser"})
    portal_flow = next(f for f in kc.get_authentication_flows()
                       if f["alias"] == "ispeks-browser-portal")
    kc.delete_authentication_flow(portal_flow["id"])
    for client in kc.get_clients():
        if client["clientId"] == "ispeks-sidecar":
            # A null value removes a binding (an empty map would leave it as it is).
            kc.update_client(client["id"], {**client,
                                            "authenticationFlowBindingOverrides": {"browser": None}})
        for mapper in client.get("protocolMappers") or []:
            if mapper["name"] == "department":
                kc.remove_client_mapper(client["id"], mapper["id"])

    upgraded = apply_realm(settings_, "johor", templates_dir=templates)
    again = apply_realm(settings_, "johor", templates_dir=templates)

    assert {change.path for change in upgraded.changes} == {
        "flows.ispeks-browser-portal", "realm.browserFlow",
        "clients.ispeks-sidecar.authenticationFlowBindingOverrides",
        "clients.portal-ispeks.protocolMappers.department"}  # johor has one portal client
    assert again.summary() == "no changes"
    assert kc.get_realm("johor")["browserFlow"] == "ispeks-browser-portal"
    executions = kc.get_authentication_flow_executions("ispeks-browser-portal")
    assert execution_steps(executions) == PORTAL_FLOW
    # The login form's address limits, the two TOTP role conditions, the two OTP forms'
    # amr references (issue 13), the pending check and the refusal.
    assert sum(bool(e.get("authenticationConfig")) for e in executions) == 7


def test_a_portal_bound_by_hand_to_the_sidecars_flow_is_unbound(settings_, johor):
    templates, _ = johor
    kc = _admin(settings_, "johor")
    plain = next(f["id"] for f in kc.get_authentication_flows() if f["alias"] == "ispeks-browser")
    portal = next(c for c in kc.get_clients() if c["clientId"] == "portal-ispeks")
    kc.update_client(portal["id"], {**portal, "authenticationFlowBindingOverrides": {
        "browser": plain}})

    result = apply_realm(settings_, "johor", templates_dir=templates)

    assert [change.path for change in result.changes] == [
        "clients.portal-ispeks.authenticationFlowBindingOverrides"]
    assert kc.get_client(portal["id"])["authenticationFlowBindingOverrides"] == {}
    assert apply_realm(settings_, "johor", templates_dir=templates).summary() == "no changes"


def test_changed_authenticator_config_is_fixed_in_place(settings_, johor):
    templates, _ = johor
    kc = _admin(settings_, "johor")
    condition = next(e for e in kc.get_authentication_flow_executions("ispeks-browser-portal")
                     if e.get("providerId") == "conditional-user-attribute")
    config = kc.get_authenticator_config(condition["authenticationConfig"])
    config["config"]["not"] = "true"  # would refuse everyone BUT pending users
    kc.update_authenticator_config(config, config["id"])

    result = apply_realm(settings_, "johor", templates_dir=templates)

    assert [change.path for change in result.changes] == [
        "flows.ispeks-browser-portal.auth:conditional-user-attribute.config"]
    fixed = kc.get_authenticator_config(condition["authenticationConfig"])
    assert fixed["config"]["not"] == "false"
    assert apply_realm(settings_, "johor", templates_dir=templates).summary() == "no changes"


def test_a_realm_without_totp_gets_the_policy_and_the_subflows(settings_, johor):
    """A realm applied before issue 12: no TOTP subflows, Keycloak's OTP defaults."""
    templates, _ = johor
    kc = _admin(settings_, "johor")
    for execution in kc.get_authentication_flow_executions("ispeks-browser"):
        if execution.get("authenticationFlow") and "totp" in execution["displayName"]:
            kc.delete_authentication_flow_execution(execution["id"])
    # Keycloak takes an OTP policy only whole, with its type.
    kc.update_realm("johor", {"otpPolicyType": "totp", "otpPolicyAlgorithm": "HmacSHA1",
                              "otpPolicyDigits": 6, "otpPolicyPeriod": 30,
                              "otpPolicyLookAheadWindow": 3, "otpPolicyCodeReusable": True})
    assert kc.get_realm("johor")["otpPolicyLookAheadWindow"] == 3

    upgraded = apply_realm(settings_, "johor", templates_dir=templates)

    assert {change.path for change in upgraded.changes} == {
        "flows.ispeks-browser", "realm.otpPolicyLookAheadWindow", "realm.otpPolicyCodeReusable"}
    assert apply_realm(settings_, "johor", templates_dir=templates).summary() == "no changes"
    assert execution_steps(kc.get_authentication_flow_executions("ispeks-browser")) == BROWSER_FLOW
    realm = kc.get_realm("johor")
    assert (realm["otpPolicyLookAheadWindow"], realm["otpPolicyCodeReusable"]) == (1, False)
    conditions = [kc.get_authenticator_config(e["authenticationConfig"])["config"]
                  for e in kc.get_authentication_flow_executions("ispeks-browser")
                  if e.get("providerId") == "conditional-user-role"]
    assert conditions == [{"condUserRole": "ispeks-tugas.totp-wajib", "negate": "false"},
                          {"condUserRole": "ispeks-tugas.totp-wajib", "negate": "true"}]


def test_values_change_is_applied_and_only_that(settings_, johor):
    templates, _ = johor
    values = templates / "values" / "johor.toml"
    values.write_text(values.read_text().replace('"Versi 9.9"', '"Versi 10.0"'))

    result = apply_realm(settings_, "johor", templates_dir=templates)

    assert [line.split(":")[0] for line in result.lines()] == [
        "realm.attributes.ispeks.versionLabel", "realm.attributes.ispeks.templateChecksum"]
    attributes = _admin(settings_, "johor").get_realm("johor")["attributes"]
    assert attributes["ispeks.versionLabel"] == "Versi 10.0"
    assert attributes["ispeks.stateName"] == "Johor"  # the other attributes survive
    assert apply_realm(settings_, "johor", templates_dir=templates).summary() == "no changes"


def test_admin_events_record_a_user_change_without_its_secrets(settings_):
    tenant = load_tenant(settings_.realm_templates_dir, "melaka")
    directory = UserDirectory(bootstrap_admin(settings_), "melaka")
    user, _ = directory.register_pending(synthetic_people(tenant, 1, seed="admin-events")[0])
    phrase = "FRASA " + secrets.token_hex(8)
    answers = json.dumps([{"q": "pet", "h": "$argon2id$v=19$" + secrets.token_hex(8)}])

    directory.set_password_and_attributes(user.id, random_password(), {
        "ispeks_secret_phrase": [phrase], "ispeks_security_answers": [answers]})

    mine = [e for e in _write_events(settings_, "melaka")
            if e.get("resourcePath") == f"users/{user.id}"]
    assert {e["operationType"] for e in mine} >= {"CREATE", "UPDATE"}
    stored = json.dumps(mine)
    assert phrase not in stored and answers not in stored and "$argon2id$" not in stored
