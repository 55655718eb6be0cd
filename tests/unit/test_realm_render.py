"""Render every state's realm from the shared template, strictly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from idp_extension.commands.realms import realms
from idp_extension.realms.plan import desired_user_profile, flow_steps
from idp_extension.realms.profile import ADMIN_ONLY, SIDECAR_ATTRIBUTES
from idp_extension.tasks import client_uuid as task_client_uuid
from idp_extension.realms.render import (
    CHECKSUM_ATTRIBUTE,
    SECRET_MASK,
    RenderError,
    mask_secrets,
    render_realm,
)
from idp_extension.settings import PROJECT_ROOT, Settings
from idp_extension.tenants import ValuesError, list_states, load_values
from tests.support.realm_shape import (
    BROWSER_FLOW, JOHOR, POLICY, PORTAL_FLOW, STATES, VERSION_LABELS, assert_portal_client,
)

TEMPLATES = PROJECT_ROOT / "realm-templates"
THEMES = PROJECT_ROOT / "themes"


@pytest.fixture
def settings() -> Settings:
    return Settings(
        admin_client_secret="unit-test-admin-secret-0123456789abcdef",
        sidecar_public_url="https://sidecar.example.test/",
        smtp_host="smtp.example.test", smtp_port=587, smtp_starttls=True,
        smtp_from="noreply@example.test", smtp_from_name="Sistem iSPEKS",
        extra_redirect_uris=("http://127.0.0.1:18765/callback",),
    )


@pytest.fixture
def templates(tmp_path) -> Path:
    """A private copy of realm-templates/ that a test may edit."""
    return Path(shutil.copytree(TEMPLATES, tmp_path / "realm-templates"))


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def test_the_four_states_have_values_files():
    assert sorted(STATES) == list_states(TEMPLATES)


@pytest.mark.parametrize("state", STATES)
def test_state_renders_with_policy_lockout_locales_and_theme(settings, state):
    realm = render_realm(settings, state, TEMPLATES)

    assert json.loads(json.dumps(realm)) == realm
    assert realm["realm"] == state and realm["enabled"] is True
    assert realm["loginTheme"] == f"ispeks-{state}"
    assert (THEMES / f"ispeks-{state}" / "login" / "theme.properties").is_file()
    assert realm["emailTheme"] == "ispeks" and (THEMES / "ispeks" / "email").is_dir()
    assert realm["internationalizationEnabled"] is True
    assert realm["supportedLocales"] == ["ms", "en"] and realm["defaultLocale"] == "ms"
    assert realm["passwordPolicy"] == POLICY
    assert (realm["bruteForceProtected"], realm["failureFactor"], realm["permanentLockout"],
            realm["maxTemporaryLockouts"]) == (True, 3, True, 0)
    assert realm["quickLoginCheckMilliSeconds"] == 0  # else fast failures go uncounted
    assert realm["loginWithEmailAllowed"] is False
    assert realm["duplicateEmailsAllowed"] is True
    assert realm["registrationAllowed"] is False
    assert realm["resetPasswordAllowed"] is False
    assert realm["rememberMe"] is False and realm["editUsernameAllowed"] is False
    assert realm["eventsEnabled"] and realm["adminEventsEnabled"]
    # Details would copy the secret phrase and answer hashes into Keycloak's event table.
    assert realm["adminEventsDetailsEnabled"] is False
    assert realm["eventsExpiration"] == 90 * 86400


@pytest.mark.parametrize("state", STATES)
def test_state_carries_its_names_and_settings_as_string_attributes(settings, state):
    values = load_values(TEMPLATES, state)
    realm = render_realm(settings, state, TEMPLATES)
    attributes = realm["attributes"]

    assert realm["displayName"] == values["display_name"]
    assert values["display_name"] in realm["displayNameHtml"]
    assert attributes["ispeks.versionLabel"] == VERSION_LABELS[state]
    assert attributes["ispeks.stateName"] == values["state_name"]
    assert attributes["ispeks.product"] == values["product"]
    assert attributes["ispeks.onboarding"] == values["onboarding"]
    assert all(isinstance(v, str) for v in attributes.values())
    assert json.loads(attributes["ispeks.securityQuestions"]) == values["security_questions"]
    assert attributes[CHECKSUM_ATTRIBUTE].startswith("hmac-sha256:")


@pytest.mark.parametrize("state", STATES)
def test_browser_flow_is_the_single_username_password_form(settings, state):
    realm = render_realm(settings, state, TEMPLATES)

    assert realm["browserFlow"] == "ispeks-browser-portal"
    assert flow_steps(realm["authenticationFlows"], "ispeks-browser") == BROWSER_FLOW
    assert "auth-username-form" not in json.dumps(realm["authenticationFlows"])


@pytest.mark.parametrize("state", STATES)
def test_otp_policy_is_rfc6238_as_authenticator_apps_read_it(settings, state):
    realm = render_realm(settings, state, TEMPLATES)

    assert (realm["otpPolicyType"], realm["otpPolicyAlgorithm"], realm["otpPolicyDigits"],
            realm["otpPolicyPeriod"]) == ("totp", "HmacSHA1", 6, 30)
    # One period either side of now (the previous and the next code), never more.
    assert realm["otpPolicyLookAheadWindow"] == 1
    assert realm["otpPolicyCodeReusable"] is False


@pytest.mark.parametrize("state", STATES)
def test_totp_conditions_name_the_contracts_marker_role(settings, state):
    realm = render_realm(settings, state, TEMPLATES)
    configs = {c["alias"]: c["config"] for c in realm["authenticatorConfig"]}
    flows = {f["alias"]: f for f in realm["authenticationFlows"]}

    for forms, suffix in (("ispeks-browser-forms", ""), ("ispeks-browser-portal-forms", "-portal")):
        required = flows[f"{forms}-totp-wajib"]["authenticationExecutions"]
        optional = flows[f"{forms}-totp-pilihan"]["authenticationExecutions"]
        assert configs[required[0]["authenticatorConfig"]] == {
            "condUserRole": "ispeks-tugas.totp-wajib", "negate": "false"}
        assert required[0]["authenticatorConfig"] == f"ispeks-totp-wajib{suffix}"
        assert configs[optional[0]["authenticatorConfig"]] == {
            "condUserRole": "ispeks-tugas.totp-wajib", "negate": "true"}
    # The contract's shape: approvers are composites of the marker, nobody holds it alone.
    roles = {r["name"]: r for r in realm["roles"]["client"]["ispeks-tugas"]}
    assert roles["ac:pelulus"]["composites"] == {"client": {"ispeks-tugas": ["totp-wajib"]}}
    assert not roles["ac:penyedia"]["composite"] and not roles["totp-wajib"]["composite"]


@pytest.mark.parametrize("state", STATES)
def test_both_login_forms_carry_the_per_address_limits_from_the_values(settings, state):
    realm = render_realm(settings, state, TEMPLATES)
    values = load_values(TEMPLATES, state)["login_address_limit"]

    forms = [e for f in realm["authenticationFlows"] for e in f["authenticationExecutions"]
             if e.get("authenticator") == "ispeks-username-password-form"]
    configs = {c["alias"]: c["config"] for c in realm["authenticatorConfig"]}
    assert len(forms) == 2
    assert "auth-username-password-form" not in json.dumps(realm["authenticationFlows"])
    for form in forms:
        assert configs[form["authenticatorConfig"]] == {
            "failedPostsPerAddressPerMinute": str(values["failed_posts_per_minute"]),
            "failedPostsPerAddressPerHour": str(values["failed_posts_per_hour"])}


@pytest.mark.parametrize("state", STATES)
def test_default_flow_refuses_pending_accounts_after_signing_in(settings, state):
    realm = render_realm(settings, state, TEMPLATES)

    assert flow_steps(realm["authenticationFlows"], "ispeks-browser-portal") == PORTAL_FLOW
    configs = {c["alias"]: c["config"] for c in realm["authenticatorConfig"]}
    assert configs["ispeks-pending-user"]["attribute_name"] == "ispeks_activation_state"
    assert configs["ispeks-pending-user"]["attribute_expected_value"] == "pending"
    assert configs["ispeks-pending-user"]["not"] == "false"
    assert configs["ispeks-deny-pending"] == {"denyErrorMessage": "ispeksAccountNotActivated"}
    clients = {c["clientId"]: c for c in realm["clients"]}
    # Only the sidecar (first login) signs pending users in.
    assert clients.pop("ispeks-sidecar")["authenticationFlowBindingOverrides"] == {
        "browser": "ispeks-browser"}
    clients.pop("ispeks-tugas")  # roles only (issue 12), no login of its own
    # Portals keep the realm's default flow: apply removes any binding made by hand.
    assert all(c["authenticationFlowBindingOverrides"] == {} for c in clients.values())


@pytest.mark.parametrize("state", STATES)
def test_portal_clients_put_the_department_in_their_tokens(settings, state):
    clients = {c["clientId"]: c for c in render_realm(settings, state, TEMPLATES)["clients"]}

    # The console (issue 13) reads the tasks and the OTP step from the sidecar's tokens.
    sidecar = {m["name"]: m for m in clients.pop("ispeks-sidecar")["protocolMappers"]}
    assert list(sidecar) == ["audience", "tugas", "amr"]
    assert sidecar["amr"]["protocolMapper"] == "oidc-amr-mapper"
    assert sidecar["amr"]["config"]["id.token.claim"] == "true"
    # Issue 12: the settings read "does a task require TOTP" from the sidecar's ID token.
    assert sidecar["tugas"]["config"]["usermodel.clientRoleMapping.clientId"] == "ispeks-tugas"
    assert sidecar["tugas"]["config"]["id.token.claim"] == "true"
    assert "protocolMappers" not in clients.pop("ispeks-state-it")
    assert "protocolMappers" not in clients.pop("ispeks-tugas")
    for client in clients.values():
        (mapper,) = [m for m in client["protocolMappers"] if m["name"] == "department"]
        assert mapper["protocolMapper"] == "oidc-usermodel-attribute-mapper"
        assert mapper["config"]["user.attribute"] == "department"
        assert mapper["config"]["claim.name"] == "department"
        assert all(mapper["config"][f"{kind}.claim"] == "true"
                   for kind in ("id.token", "access.token", "userinfo.token"))


@pytest.mark.parametrize("state", STATES)
def test_clients_are_pkce_and_the_sidecar_is_least_privilege(settings, state):
    values = load_values(TEMPLATES, state)
    realm = render_realm(settings, state, TEMPLATES)
    clients = {c["clientId"]: c for c in realm["clients"]}

    sidecar = clients.pop("ispeks-sidecar")
    assert sidecar["publicClient"] is False and sidecar["serviceAccountsEnabled"] is True
    assert sidecar["clientAuthenticatorType"] == "client-secret"
    # No secret in the template: realms apply sets a random one per realm.
    assert "secret" not in sidecar
    assert sidecar["directAccessGrantsEnabled"] is False
    assert sidecar["attributes"]["pkce.code.challenge.method"] == "S256"
    # Exact callback pages of this realm, no wildcard.
    assert sidecar["redirectUris"] == [f"https://sidecar.example.test/{state}/first-login/callback",
                                       f"https://sidecar.example.test/{state}/settings/callback",
                                       f"https://sidecar.example.test/{state}/pentadbiran/callback"]
    assert sidecar["attributes"]["post.logout.redirect.uris"] == (
        f"https://sidecar.example.test/{state}/settings/signed-out##"
        f"https://sidecar.example.test/{state}/pentadbiran/signed-out")
    state_it = clients.pop("ispeks-state-it")
    assert state_it["publicClient"] is False and state_it["serviceAccountsEnabled"] is True
    assert "secret" not in state_it and state_it["redirectUris"] == []
    assert (state_it["standardFlowEnabled"], state_it["directAccessGrantsEnabled"],
            state_it["implicitFlowEnabled"]) == (False, False, False)
    user_roles = {"realm-management": ["manage-users", "query-users", "view-users"]}
    # Mapping tasks needs nothing more (README, "Tasks").
    state_it_roles = user_roles
    assert realm["users"] == [
        {"username": "service-account-ispeks-sidecar", "enabled": True,
         "serviceAccountClientId": "ispeks-sidecar", "clientRoles": user_roles},
        {"username": "service-account-ispeks-state-it", "enabled": True,
         "serviceAccountClientId": "ispeks-state-it", "clientRoles": state_it_roles},
    ]
    tugas = clients.pop("ispeks-tugas")
    assert tugas["id"] == task_client_uuid(state)
    assert tugas["publicClient"] is True and tugas["redirectUris"] == []
    assert not any(tugas[k] for k in ("standardFlowEnabled", "implicitFlowEnabled",
                                      "directAccessGrantsEnabled", "serviceAccountsEnabled"))

    assert sorted(clients) == sorted(p["client_id"] for p in values["portal_clients"])
    for portal in values["portal_clients"]:
        client = clients[portal["client_id"]]
        assert_portal_client(client)
        assert client["redirectUris"] == portal["redirect_uris"] + [
            "http://127.0.0.1:18765/callback"]
        assert client["attributes"]["post.logout.redirect.uris"] == "##".join(
            portal["post_logout_redirect_uris"])
        assert client["rootUrl"] == portal["root_url"] and client["webOrigins"] == ["+"]
    for client in (c for c in realm["clients"]
                   if c["clientId"] not in ("ispeks-state-it", "ispeks-tugas")):
        # The OIDC kit requires the client in an access token's aud (gateway/oidc.py);
        # state IT's service account signs nobody in, so its tokens need none.
        audience = {m["name"]: m for m in client["protocolMappers"]}["audience"]
        assert audience["protocolMapper"] == "oidc-audience-mapper"
        assert audience["config"]["included.client.audience"] == client["clientId"]
        assert audience["config"]["access.token.claim"] == "true"


@pytest.mark.parametrize("state", STATES)
def test_user_profile_declares_every_attribute_with_admin_only_internals(settings, state):
    profile = desired_user_profile(render_realm(settings, state, TEMPLATES))
    attributes = {a["name"]: a for a in profile["attributes"]}

    assert "unmanagedAttributePolicy" not in profile
    assert {"username", "email", "firstName", "lastName"} <= set(attributes)
    assert "required" not in attributes["firstName"] and "required" not in attributes["lastName"]
    for name in ("department", "registration_date"):
        assert attributes[name]["permissions"] == {"view": ["admin", "user"], "edit": ["admin"]}
    assert len(SIDECAR_ATTRIBUTES) == 13
    for name in SIDECAR_ATTRIBUTES:
        assert attributes[name]["permissions"] == ADMIN_ONLY, name
    assert attributes["ispeks_activation_state"]["validations"]["options"] == {
        "options": ["pending", "active"]}


def test_smtp_comes_from_settings_and_auth_only_with_a_user(settings):
    realm = render_realm(settings, "pahang", TEMPLATES)
    assert realm["smtpServer"] == {
        "host": "smtp.example.test", "port": "587", "from": "noreply@example.test",
        "fromDisplayName": "Sistem iSPEKS", "starttls": "true", "ssl": "false", "auth": "false",
    }

    with_auth = render_realm(settings.with_overrides(smtp_user="mailer", smtp_password="pw"),
                             "pahang", TEMPLATES)["smtpServer"]
    assert (with_auth["auth"], with_auth["user"], with_auth["password"]) == ("true", "mailer", "pw")


def test_values_are_json_escaped_not_hand_quoted(settings, templates):
    tricky = 'Negeri "Pahang" \\ <b>&</b> Darul Makmur \u00e9'
    _edit(templates / "values" / "pahang.toml", 'display_name = "iSPEKS Kerajaan Negeri Pahang"',
          f"display_name = {json.dumps(tricky)}")

    realm = render_realm(settings, "pahang", templates)

    assert realm["displayName"] == tricky
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in realm["displayNameHtml"]  # HTML-escaped inside HTML


def test_missing_value_names_the_key_and_the_values_file(settings, templates):
    values_file = templates / "values" / "pahang.toml"
    _edit(values_file, 'version_label = "Versi 3.0.07"\n', "")

    with pytest.raises(RenderError) as caught:
        render_realm(settings, "pahang", templates)

    assert isinstance(caught.value, ValuesError)
    assert "'version_label'" in str(caught.value)
    assert str(values_file) in str(caught.value)
    assert "realm.json.j2 line" in str(caught.value)


def test_misspelt_key_fails_naming_both_spellings(settings, templates):
    values_file = templates / "values" / "kelantan.toml"
    _edit(values_file, "display_name =", "dispaly_name =")

    with pytest.raises(RenderError) as caught:
        render_realm(settings, "kelantan", templates)

    message = str(caught.value)
    assert "'display_name'" in message and "dispaly_name" in message
    assert str(values_file) in message


def test_misspelt_key_hidden_by_a_default_still_fails(settings, templates):
    values_file = templates / "values" / "melaka.toml"
    values_file.write_text(values_file.read_text() + "\n[brute_force]\nfailure_facter = 5\n")

    with pytest.raises(RenderError, match=r"brute_force\.failure_facter") as caught:
        render_realm(settings, "melaka", templates)
    assert str(values_file) in str(caught.value)


def test_top_level_key_written_after_a_table_is_caught(settings, templates):
    values_file = templates / "values" / "pahang.toml"
    values_file.write_text(values_file.read_text() + '\npassword_policy = "length(14)"\n')

    with pytest.raises(RenderError, match=r"portal_clients\[1\]\.password_policy"):
        render_realm(settings, "pahang", templates)


def test_misspelt_name_in_the_template_fails_naming_it(settings, templates):
    _edit(templates / "realm.json.j2", "{{ version_label | tojson }}",
          "{{ version_lable | tojson }}")

    with pytest.raises(RenderError, match="'version_lable'"):
        render_realm(settings, "selangor", templates)


def test_missing_key_in_a_portal_client_names_it(settings, templates):
    _edit(templates / "values" / "pahang.toml",
          'root_url = "https://ispeks.pahang.gov.my/iSPEKSv2/"\n', "")

    with pytest.raises(RenderError, match="'root_url'"):
        render_realm(settings, "pahang", templates)


def test_template_that_renders_broken_json_fails_clearly(settings, templates):
    _edit(templates / "realm.json.j2", '"enabled": true,', '"enabled": true,,')

    with pytest.raises(RenderError, match="invalid JSON"):
        render_realm(settings, "pahang", templates)


def test_a_fifth_state_is_one_values_file(settings, templates):
    (templates / "values" / "johor.toml").write_text(JOHOR)

    assert "johor" in list_states(templates)
    realm = render_realm(settings, "johor", templates)

    assert realm["realm"] == "johor" and realm["loginTheme"] == "ispeks-johor"
    assert realm["attributes"]["ispeks.versionLabel"] == "Versi 9.9"
    assert realm["passwordPolicy"] == POLICY  # from defaults.toml
    assert [c["clientId"] for c in realm["clients"]] == [
        "ispeks-sidecar", "ispeks-state-it", "ispeks-tugas", "portal-ispeks"]


def test_mask_secrets_hides_client_secret_and_smtp_password(settings):
    realm = render_realm(settings.with_overrides(smtp_user="u", smtp_password="pw"),
                         "pahang", TEMPLATES)

    realm["clients"][0]["secret"] = "a-client-secret"  # as apply sets it

    masked = mask_secrets(realm)

    assert masked["clients"][0]["secret"] == SECRET_MASK
    assert masked["smtpServer"]["password"] == SECRET_MASK
    assert realm["smtpServer"]["password"] == "pw"  # the original is untouched
    assert "a-client-secret" not in json.dumps(masked)


def test_checksum_is_keyed_stable_and_follows_secrets(settings):
    def checksum(s: Settings) -> str:
        return render_realm(s, "pahang", TEMPLATES)["attributes"][CHECKSUM_ATTRIBUTE]

    assert checksum(settings) == checksum(settings)
    assert checksum(settings) != checksum(settings.with_overrides(smtp_user="u",
                                                                  smtp_password="x"))
    assert checksum(settings.with_overrides(smtp_user="u", smtp_password="x")) != checksum(
        settings.with_overrides(smtp_user="u", smtp_password="y"))


def test_cli_render_prints_masked_json(settings):
    result = CliRunner().invoke(realms, ["render", "kelantan"], obj=settings)

    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["realm"] == "kelantan"
    assert all("secret" not in client for client in printed["clients"])


def test_cli_render_of_a_broken_values_file_exits_non_zero(settings, templates):
    _edit(templates / "values" / "pahang.toml", 'state_name = "Pahang"\n', "")

    result = CliRunner().invoke(realms, ["render", "pahang", "--templates-dir", str(templates)],
                                obj=settings)

    assert result.exit_code != 0
    assert "'state_name'" in result.output and "pahang.toml" in result.output


def test_cli_list_shows_every_state(settings):
    result = CliRunner().invoke(realms, ["list"], obj=settings)

    assert result.exit_code == 0
    assert [line.split("\t")[0] for line in result.output.splitlines()] == sorted(STATES)


def test_cli_apply_without_keycloak_exits_non_zero_with_a_clear_message(settings):
    from idp_extension.keycloak_server import free_port

    unreachable = settings.with_overrides(keycloak_url=f"http://127.0.0.1:{free_port()}")
    result = CliRunner().invoke(realms, ["apply", "--state", "pahang"], obj=unreachable)

    assert result.exit_code == 1
    assert "unreachable" in result.output


# -- exact redirect URIs -------------------------------------------------------------------


@pytest.mark.parametrize("bad, reason", [
    ("https://p.ispeks.pahang.gov.my/eispeks/*", "wildcard"),
    ("https://p.ispeks.pahang.gov.my/*/callback", "wildcard"),
    ("*", "wildcard"),
    ("/eispeks/callback", "absolute https"),
    ("http://p.ispeks.pahang.gov.my/eispeks/callback", "loopback only"),
    ("https://p.ispeks.pahang.gov.my/eispeks/callback#x", "fragment"),
])
def test_render_refuses_a_values_file_with_an_inexact_redirect_uri(settings, templates, bad,
                                                                   reason):
    values = templates / "values" / "pahang.toml"
    _edit(values, 'redirect_uris = ["https://p.ispeks.pahang.gov.my/eispeks/oidc/callback"]',
          f'redirect_uris = ["https://p.ispeks.pahang.gov.my/eispeks/oidc/callback", "{bad}"]')

    with pytest.raises(RenderError) as refused:
        render_realm(settings, "pahang", templates)

    message = str(refused.value)
    assert str(values) in message
    assert f"portal_clients[1].redirect_uris[1] = {bad!r}" in message
    assert reason in message


def test_render_refuses_a_wildcard_post_logout_uri(settings, templates):
    values = templates / "values" / "kelantan.toml"
    _edit(values, 'post_logout_redirect_uris = ["https://ispeks.kelantan.gov.my/iSPEKSv2/"]',
          'post_logout_redirect_uris = ["https://ispeks.kelantan.gov.my/*"]')

    with pytest.raises(RenderError, match=r"portal_clients\[0\]\.post_logout_redirect_uris\[0\]"):
        render_realm(settings, "kelantan", templates)


def test_render_refuses_a_wildcard_extra_redirect_uri(settings):
    wild = settings.with_overrides(extra_redirect_uris=("http://127.0.0.1:5000/*",))

    with pytest.raises(RenderError, match="ISPEKS_EXTRA_REDIRECT_URIS.*wildcard"):
        render_realm(wild, "pahang", TEMPLATES)


def test_realms_render_command_names_the_file_and_key_without_a_traceback(templates):
    _edit(templates / "values" / "melaka.toml",
          'redirect_uris = ["https://p.ispeks.melaka.gov.my/eispeks/oidc/callback"]',
          'redirect_uris = ["https://p.ispeks.melaka.gov.my/eispeks/*"]')

    result = CliRunner().invoke(realms, ["render", "melaka"],
                                obj=Settings(realm_templates_dir=templates))

    assert result.exit_code != 0
    assert "melaka.toml" in result.output and "portal_clients[1].redirect_uris[0]" in result.output
    assert "wildcard" in result.output and "Traceback" not in result.output


def test_a_portal_without_post_logout_uris_may_return_to_its_root_only(settings, templates):
    _edit(templates / "values" / "selangor.toml",
          'post_logout_redirect_uris = ["https://p.ispeks.selangor.gov.my/eispeks/"]\n', "")

    clients = {c["clientId"]: c for c in render_realm(settings, "selangor", templates)["clients"]}

    assert clients["portal-ispeks"]["attributes"]["post.logout.redirect.uris"] == (
        "https://p.ispeks.selangor.gov.my/eispeks/")


def test_the_demo_portal_gets_its_exact_callback_in_its_own_realm_only(settings):
    demo = settings.with_overrides(demo_portal=True, extra_redirect_uris=())

    for state in STATES:
        clients = {c["clientId"]: c for c in render_realm(demo, state, TEMPLATES)["clients"]}
        base = f"https://sidecar.example.test/{state}"
        assert clients["portal-ispeks"]["redirectUris"][-1] == f"{base}/portal/callback"
        assert clients["portal-ispeks"]["attributes"]["post.logout.redirect.uris"].endswith(
            f"##{base}/portal/")
        assert not any("sidecar.example.test" in uri
                       for uri in clients["ispeks-main"]["redirectUris"])


def test_the_registered_sidecar_paths_are_the_apps_own_routes():
    from idp_extension.realms import render
    from idp_extension.web import Services, create_app
    from idp_extension.audit import MemoryAuditLog
    from idp_extension.mail.sender import MemoryMailSender

    app = create_app(Settings(demo_portal=True),
                     services=Services(audit=MemoryAuditLog(), mail=MemoryMailSender()))
    routes = {rule.rule for rule in app.url_map.iter_rules()}
    for path in (*render.SIDECAR_CALLBACK_PATHS, *render.SIDECAR_POST_LOGOUT_PATHS,
                 render.DEMO_PORTAL_CALLBACK_PATH, render.DEMO_PORTAL_POST_LOGOUT_PATH):
        assert f"/<realm>/{path}" in routes, path


@pytest.mark.parametrize("state", STATES)
def test_every_otp_form_names_the_otp_reference_for_the_amr_claim(settings, state):
    realm = render_realm(settings, state, TEMPLATES)
    configs = {c["alias"]: c["config"] for c in realm["authenticatorConfig"]}
    otp_forms = [e for flow in realm["authenticationFlows"]
                 for e in flow["authenticationExecutions"]
                 if e.get("authenticator") == "auth-otp-form"]
    assert len(otp_forms) == 4
    for execution in otp_forms:
        config = configs[execution["authenticatorConfig"]]
        # maxAge: Keycloak's default 0 drops the reference within the second.
        assert config == {"default.reference.value": "otp", "default.reference.maxAge": "300"}
