"""Each state's own credentials: random per realm, confined to the realm's users, rotatable.

Against the session's real Keycloak and its gunicorn sidecar. The 403 matrix of the
state-IT credentials is printed (``pytest -s``) for the deploy guide.
"""

from __future__ import annotations

import html
import re
import secrets
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
import requests
from click.testing import CliRunner

from idp_extension.cli import main
from idp_extension.credentials import (
    SIDECAR_CLIENT_ID, STATE_IT_CLIENT_ID, CredentialStore, FileSecret,
)
from idp_extension.demo_users import synthetic_people
from idp_extension.gateway.connection import bootstrap_admin, sidecar_admin, state_it_admin
from idp_extension.gateway.oidc import OidcClient, RequestsTransport
from idp_extension.gateway.users import ACTIVATION_STATE, ACTIVE, UserDirectory
from idp_extension.passwords import random_password
from idp_extension.tenants import load_tenant

pytestmark = pytest.mark.integration

STATES = ["pahang", "kelantan", "selangor", "melaka"]
USER_ROLES = {"manage-users", "query-users", "view-users"}


def _token_status(settings, realm: str, client_id: str, secret: str) -> tuple[int, dict]:
    answer = requests.post(
        f"{settings.keycloak_url}/realms/{realm}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials", "client_id": client_id,
              "client_secret": secret}, timeout=10)
    return answer.status_code, answer.json()


def _headers(settings, realm: str, client_id: str = STATE_IT_CLIENT_ID) -> dict:
    secret = CredentialStore.from_settings(settings).read(realm, client_id)[0]
    status, body = _token_status(settings, realm, client_id, secret)
    assert status == 200, body
    return {"Authorization": f"Bearer {body['access_token']}"}


def test_every_realm_has_its_own_random_secrets_and_keycloak_holds_them(provisioned_realms):
    settings = provisioned_realms
    store = CredentialStore.from_settings(settings)
    seen = set()
    for state in STATES:
        for client_id in (SIDECAR_CLIENT_ID, STATE_IT_CLIENT_ID):
            path = store.path(state, client_id)
            assert path.stat().st_mode & 0o777 == 0o600
            assert path.parent.stat().st_mode & 0o777 == 0o700
            (secret,) = store.read(state, client_id)
            assert len(secret) >= 43 and secret not in seen
            seen.add(secret)
            assert _token_status(settings, state, client_id, secret)[0] == 200
            # Keycloak's secret of one realm opens nothing in another.
            other = STATES[(STATES.index(state) + 1) % len(STATES)]
            assert _token_status(settings, other, client_id, secret)[0] == 401


@pytest.mark.parametrize("state", STATES)
def test_state_it_service_account_holds_only_user_roles(provisioned_realms, state):
    kc = bootstrap_admin(provisioned_realms, state)
    clients = {c["clientId"]: c["id"] for c in kc.get_clients()}
    account = kc.get_client_service_account_user(clients[STATE_IT_CLIENT_ID])["id"]

    direct = {r["name"] for r in kc.get_client_roles_of_user(account, clients["realm-management"])}
    composite = {r["name"] for r in kc.get_composite_client_roles_of_user(
        account, clients["realm-management"])}

    assert direct == USER_ROLES
    assert not composite & {"realm-admin", "manage-realm", "view-realm", "manage-clients",
                            "view-clients", "query-clients", "manage-authorization",
                            "manage-events", "create-client", "impersonation"}


def _status(method: str, url: str, headers: dict, **kwargs) -> int:
    return requests.request(method, url, headers=headers, timeout=15, **kwargs).status_code


def test_pahang_it_cannot_touch_selangor_users_nor_pahang_settings(provisioned_realms):
    settings = provisioned_realms
    base = f"{settings.keycloak_url}/admin/realms"
    pahang, selangor = _headers(settings, "pahang"), _headers(settings, "selangor")
    boss = bootstrap_admin(settings, "selangor")
    person = synthetic_people(load_tenant(settings.realm_templates_dir, "selangor"), 1,
                              seed="credential-matrix")[0]
    target, _ = UserDirectory(state_it_admin(settings, "selangor"), "selangor").register_pending(
        person)
    uid = target.id
    representation = boss.get_user(uid)
    password = {"type": "password", "value": random_password(), "temporary": False}
    probe = {"username": f"probe-{secrets.token_hex(4)}", "enabled": True}
    operations = [
        ("list users", "GET", "selangor/users?max=5", {}),
        ("get user", "GET", f"selangor/users/{uid}", {}),
        ("search by attribute", "GET", "selangor/users?q=ispeks_activation_state:pending", {}),
        ("create user", "POST", "selangor/users", {"json": probe}),
        ("update user", "PUT", f"selangor/users/{uid}", {"json": representation}),
        ("reset password", "PUT", f"selangor/users/{uid}/reset-password", {"json": password}),
        ("brute-force status", "GET", f"selangor/attack-detection/brute-force/users/{uid}", {}),
        ("unlock", "DELETE", f"selangor/attack-detection/brute-force/users/{uid}", {}),
        ("log out", "POST", f"selangor/users/{uid}/logout", {}),
        ("sessions", "GET", f"selangor/users/{uid}/sessions", {}),
        ("delete user", "DELETE", f"selangor/users/{uid}", {}),
    ]
    rows = []
    for name, method, path, kwargs in operations:
        cross = _status(method, f"{base}/{path}", pahang, **kwargs)
        own = _status(method, f"{base}/{path}", selangor, **kwargs)
        rows.append((f"{name} (Selangor)", cross, own))
    probe_id = boss.get_user_id(probe["username"])
    if probe_id:
        boss.delete_user(probe_id)

    pahang_kc = bootstrap_admin(settings, "pahang")
    pahang_clients = {c["clientId"]: c["id"] for c in pahang_kc.get_clients()}
    own_account = pahang_kc.get_client_service_account_user(pahang_clients[STATE_IT_CLIENT_ID])
    realm_admin_role = pahang_kc.get_client_role(pahang_clients["realm-management"], "realm-admin")
    settings_operations = [
        ("update realm settings", "PUT", "pahang", {"json": {"displayName": "taken over"}}),
        ("list clients", "GET", "pahang/clients", {}),
        ("create client", "POST", "pahang/clients", {"json": {"clientId": "intruder"}}),
        ("read sidecar secret", "GET",
         f"pahang/clients/{pahang_clients[SIDECAR_CLIENT_ID]}/client-secret", {}),
        ("authentication flows", "GET", "pahang/authentication/flows", {}),
        ("user profile", "PUT", "pahang/users/profile", {"json": {"attributes": []}}),
        ("give itself realm-admin", "POST",
         f"pahang/users/{own_account['id']}/role-mappings/clients/"
         f"{pahang_clients['realm-management']}", {"json": [realm_admin_role]}),
        ("list realms' users (master)", "GET", "master/users", {}),
    ]
    for name, method, path, kwargs in settings_operations:
        rows.append((f"{name} (Pahang's own)" if path.startswith("pahang") else name,
                     _status(method, f"{base}/{path}", pahang, **kwargs), None))
    realm_read = requests.get(f"{base}/pahang", headers=pahang, timeout=15)

    print("\nstate-IT credential: Pahang's token | Selangor's token")
    for name, cross, own in rows:
        print(f"  {name:<40} {cross:>4} | {own if own is not None else '-':>4}")
    print(f"  {'read realm settings (Pahang own)':<40} {realm_read.status_code:>4} "
          f"(fields: {sorted(realm_read.json()) if realm_read.ok else '-'})")

    for name, cross, own in rows:
        assert cross == 403, (name, cross)
        if own is not None:
            assert 200 <= own < 300, (name, own)
    # At most Keycloak's reduced view for user managers (name, locales and the flags the
    # admin console's user pages need), none of the realm's settings.
    if realm_read.status_code == 200:
        assert not {"smtpServer", "passwordPolicy", "failureFactor", "clients",
                    "browserFlow", "attributes", "accessTokenLifespan"} & set(realm_read.json())
    else:
        assert realm_read.status_code == 403
    assert pahang_kc.get_realm("pahang")["displayName"] != "taken over"
    assert "intruder" not in pahang_clients


def test_users_commands_run_as_the_state_it_credential_and_name_the_officer(provisioned_realms):
    settings = provisioned_realms
    person = synthetic_people(load_tenant(settings.realm_templates_dir, "melaka"), 1,
                              seed="credential-actor")[0]
    UserDirectory(bootstrap_admin(settings), "melaka").register_pending(person)

    result = CliRunner().invoke(main, ["users", "disable", "--state", "melaka", person.user_id,
                                       "--actor", "Aminah (IT Melaka)"], obj=settings)

    assert result.exit_code == 0, result.output
    events = [e for e in _audit(settings) if e.get("subject") == person.user_id]
    assert events[-1]["details"]["actor"] == "Aminah (IT Melaka)"
    assert events[-1]["details"]["client"] == STATE_IT_CLIENT_ID
    # Keycloak's own admin events name the state-IT service account, not master's.
    kc = bootstrap_admin(settings, "melaka")
    account = kc.get_client_service_account_user(kc.get_client_id(STATE_IT_CLIENT_ID))["id"]
    written = kc.get_admin_events({"operationTypes": "UPDATE", "resourceTypes": "USER",
                                   "max": 20})
    assert any((e.get("authDetails") or {}).get("userId") == account for e in written)


def _audit(settings) -> list[dict]:
    import json

    return [json.loads(line) for line in settings.audit_log_path.read_text().splitlines()]


# --- rotation through the running sidecar ----------------------------------------------

@pytest.fixture(scope="module")
def kelantan_user(provisioned_realms):
    directory = UserDirectory(bootstrap_admin(provisioned_realms), "kelantan")
    record = synthetic_people(load_tenant(provisioned_realms.realm_templates_dir, "kelantan"),
                              1, seed="credential-rotation")[0]
    user, _ = directory.register_pending(record)
    password = random_password()
    directory.set_password(user.id, password)
    directory.update_attributes(user.id, {ACTIVATION_STATE: [ACTIVE]})
    return record, password


class _Browser(requests.Session):
    def request(self, method, url, **kwargs):
        for cookie in self.cookies:
            cookie.secure = False  # Keycloak's cookies, on loopback
        kwargs["allow_redirects"] = False
        kwargs.setdefault("timeout", 30)
        return super().request(method, url, **kwargs)


def _settings_sign_in(sidecar_url: str, realm: str, user_id: str, password: str) -> str:
    """Sign in to the sidecar's settings pages (code exchange with the sidecar's secret)."""
    browser = _Browser()
    answer = browser.get(f"{sidecar_url}/{realm}/settings/login")
    for _ in range(10):
        if answer.status_code in (302, 303):
            answer = browser.get(urljoin(answer.url, answer.headers["Location"]))
        elif 'id="kc-form-login"' in answer.text:
            action = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', answer.text)
            answer = browser.post(html.unescape(action.group(1)),
                                  data={"username": user_id, "password": password})
        else:
            break
    assert urlsplit(answer.url).path == f"/{realm}/settings/", answer.url
    assert answer.status_code == 200, answer.text[:500]
    return html.unescape(answer.text)


class _RecordingTransport(RequestsTransport):
    """The real HTTP layer, remembering which client secret each token request carried."""

    def __init__(self) -> None:
        super().__init__(timeout=30)
        self.secrets: list[str] = []

    def post_form(self, url, data):
        self.secrets.append(data.get("client_secret", ""))
        return super().post_form(url, data)


def _fresh_code_exchange(settings, realm: str, user_id: str, password: str,
                         transport: RequestsTransport):
    """One sign-in's code exchange by a sidecar client that has not used any secret yet."""
    source = FileSecret(CredentialStore.from_settings(settings), realm, SIDECAR_CLIENT_ID)
    client = OidcClient(settings.keycloak_url, realm, SIDECAR_CLIENT_ID, client_secret=source,
                        redirect_uri=f"{settings.sidecar_public_url}/{realm}/settings/callback",
                        transport=transport)
    login = client.begin_login()
    browser = _Browser()
    page = browser.get(login.url)
    action = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', page.text)
    answer = browser.post(html.unescape(action.group(1)),
                          data={"username": user_id, "password": password})
    query = dict(parse_qsl(urlsplit(answer.headers["Location"]).query))
    return client.finish_login(login, query)


def test_rotation_keeps_the_running_sidecar_working_and_then_refuses_the_old(
        provisioned_realms, sidecar, kelantan_user):
    settings = provisioned_realms
    record, password = kelantan_user
    store = CredentialStore.from_settings(settings)
    others = {s: store.read(s, SIDECAR_CLIENT_ID) for s in STATES if s != "kelantan"}
    (old,) = store.read("kelantan", SIDECAR_CLIENT_ID)
    assert record.user_id in _settings_sign_in(sidecar.url, "kelantan", record.user_id, password)

    prepared = CliRunner().invoke(main, ["realms", "rotate-secret", "--state", "kelantan",
                                         "--step", "prepare"], obj=settings)

    assert prepared.exit_code == 0, prepared.output
    new, previous = store.read("kelantan", SIDECAR_CLIENT_ID)
    assert previous == old and new != old
    # Keycloak still expects the old one: a fresh gateway client is refused with the new
    # one first, and carries on with the old.
    assert _token_status(settings, "kelantan", SIDECAR_CLIENT_ID, new)[0] == 401
    assert isinstance(sidecar_admin(settings, "kelantan").get_users({"max": 1}), list)
    assert record.user_id in _settings_sign_in(sidecar.url, "kelantan", record.user_id, password)
    # A code exchange refused for the new secret is retried with the old: the code is
    # not used up by the refusal.
    transport = _RecordingTransport()
    tokens = _fresh_code_exchange(settings, "kelantan", record.user_id, password, transport)
    assert tokens.id_claims["preferred_username"] == record.user_id
    assert transport.secrets == [new, old]

    finished = CliRunner().invoke(main, ["realms", "rotate-secret", "--state", "kelantan",
                                         "--step", "finish"], obj=settings)

    assert finished.exit_code == 0, finished.output
    assert store.read("kelantan", SIDECAR_CLIENT_ID) == [new]
    assert _token_status(settings, "kelantan", SIDECAR_CLIENT_ID, old)[0] == 401
    assert _token_status(settings, "kelantan", SIDECAR_CLIENT_ID, new)[0] == 200
    # The running sidecar (which last used the old secret) signs people in on the new one.
    assert record.user_id in _settings_sign_in(sidecar.url, "kelantan", record.user_id, password)
    assert isinstance(sidecar_admin(settings, "kelantan").get_users({"max": 1}), list)
    # No other state was touched.
    assert {s: store.read(s, SIDECAR_CLIENT_ID) for s in others} == others


def test_state_it_secret_rotates_in_one_command(provisioned_realms):
    settings = provisioned_realms
    store = CredentialStore.from_settings(settings)
    (old,) = store.read("selangor", STATE_IT_CLIENT_ID)

    result = CliRunner().invoke(main, ["realms", "rotate-secret", "--state", "selangor",
                                       "--client", "state-it"], obj=settings)

    assert result.exit_code == 0, result.output
    (new,) = store.read("selangor", STATE_IT_CLIENT_ID)
    assert new != old
    assert _token_status(settings, "selangor", STATE_IT_CLIENT_ID, old)[0] == 401
    listed = CliRunner().invoke(main, ["users", "list", "--state", "selangor", "--active"],
                                obj=settings)
    assert listed.exit_code == 0, listed.output


def test_apply_gives_a_client_without_a_secret_file_a_new_secret(provisioned_realms):
    settings = provisioned_realms
    store = CredentialStore.from_settings(settings)
    path = store.path("melaka", STATE_IT_CLIENT_ID)
    (old,) = store.read("melaka", STATE_IT_CLIENT_ID)
    path.unlink()

    result = CliRunner().invoke(main, ["realms", "apply", "--state", "melaka"], obj=settings)
    again = CliRunner().invoke(main, ["realms", "apply", "--state", "melaka"], obj=settings)

    assert result.exit_code == 0, result.output
    assert f"credentials.{STATE_IT_CLIENT_ID}: create" in result.output
    (new,) = store.read("melaka", STATE_IT_CLIENT_ID)
    assert new != old
    assert _token_status(settings, "melaka", STATE_IT_CLIENT_ID, old)[0] == 401
    assert _token_status(settings, "melaka", STATE_IT_CLIENT_ID, new)[0] == 200
    assert "melaka: no changes" in again.output
