"""The OIDC kit and the demo Portal iSPEKS against the real Keycloak.

The portal is driven through the session's gunicorn sidecar (fixture ``sidecar``, demo
portal on in the session settings): it is the one app whose URL the portal clients'
redirect URIs allow, and it is how the portal really runs (cookie session across
requests, settings from ISPEKS_* variables). The kit's caching is measured in-process.
"""

from __future__ import annotations

import base64
import html
import re
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests

from idp_extension.audit import MemoryAuditLog
from idp_extension.demo_users import synthetic_people
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.oidc import MetadataCache, OidcClient, OidcError, RequestsTransport
from idp_extension.gateway.users import ACTIVATION_STATE, ACTIVE, UserDirectory
from idp_extension.mail.sender import MemoryMailSender
from idp_extension.passwords import random_password
from idp_extension.settings import load_settings
from idp_extension.tenants import load_tenants
from idp_extension.web import Services, create_app
from tests.support.oidc_login import login as code_flow_login
from tests.support.stack import OIDC_TEST_CALLBACK

PORTAL = "portal-ispeks"


class Browser(requests.Session):
    """A cookie jar that, like a browser on loopback, sends Keycloak's Secure cookies over http.

    Redirects are never followed automatically: each hop is asserted by the test.
    """

    def request(self, method, url, **kwargs):
        for cookie in self.cookies:
            cookie.secure = False
        kwargs["allow_redirects"] = False  # Session.get passes True explicitly
        kwargs.setdefault("timeout", 30)
        return super().request(method, url, **kwargs)


class CountingTransport(RequestsTransport):
    """The real HTTP layer, counting GETs by URL."""

    def __init__(self) -> None:
        super().__init__(timeout=10)
        self.gets: list[str] = []

    def get_json(self, url: str) -> dict:
        self.gets.append(url)
        return super().get_json(url)


@pytest.fixture(scope="module")
def tenants(settings):
    return load_tenants(settings.realm_templates_dir)


@pytest.fixture(scope="module")
def people(provisioned_realms, settings, tenants):
    """One active synthetic user per realm used here: (record, password)."""
    made = {}
    for state in ("pahang", "kelantan"):
        directory = UserDirectory(bootstrap_admin(settings), state)
        record = synthetic_people(tenants[state], 1, seed="portal")[0]
        user, _ = directory.register_pending(record)
        password = random_password()
        directory.set_password(user.id, password)
        directory.update_attributes(user.id, {ACTIVATION_STATE: [ACTIVE]})
        made[state] = (record, password)
    return made


def location(response: requests.Response) -> str:
    assert response.status_code in (302, 303), (response.status_code, response.text[:300])
    return response.headers["Location"]


def sign_in_at_keycloak(browser: Browser, auth_url: str, username: str, password: str) -> str:
    """Post Keycloak's login form reached from ``auth_url``; return where it redirects."""
    page = browser.get(auth_url)
    assert page.status_code == 200, page.text[:300]
    action = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', page.text)
    assert action, f"no login form at {auth_url}"
    return location(browser.post(html.unescape(action.group(1)),
                                 data={"username": username, "password": password}))


def portal_sign_in(browser: Browser, sidecar_url: str, realm: str, record, password: str) -> str:
    """Sign in to ``realm``'s portal from scratch; return the dashboard's HTML."""
    auth_url = location(browser.get(f"{sidecar_url}/{realm}/portal/"))
    callback = sign_in_at_keycloak(browser, auth_url, record.user_id, password)
    assert location(browser.get(callback)).endswith(f"/{realm}/portal/dashboard")
    dashboard = browser.get(f"{sidecar_url}/{realm}/portal/dashboard")
    assert dashboard.status_code == 200
    return html.unescape(dashboard.text)


def signed_out(browser: Browser, sidecar_url: str, realm: str) -> bool:
    """True if the realm's dashboard sends this browser back to the portal's start."""
    answer = browser.get(f"{sidecar_url}/{realm}/portal/dashboard")
    return answer.status_code == 302 and answer.headers["Location"].endswith(f"/{realm}/portal/")


def keycloak_has_session(browser: Browser, settings, realm: str, sidecar_url: str) -> bool:
    """True if Keycloak signs this browser in without showing the form (SSO cookie)."""
    client = OidcClient(settings.keycloak_url, realm, PORTAL,
                        redirect_uri=f"{sidecar_url}/{realm}/portal/callback")
    answer = browser.get(client.begin_login().url)
    if answer.status_code == 200:
        assert 'id="kc-form-login"' in answer.text
        return False
    assert "code=" in location(answer)
    return True


def test_sign_in_shows_the_dashboard_and_log_keluar_ends_both_sessions(settings, sidecar, people):
    record, password = people["pahang"]
    browser = Browser()

    start = browser.get(f"{sidecar.url}/pahang/portal/")
    auth_url = location(start)
    query = {k: v[0] for k, v in parse_qs(urlsplit(auth_url).query).items()}
    pahang_oidc = f"{settings.keycloak_url}/realms/pahang/protocol/openid-connect"
    assert auth_url.startswith(f"{pahang_oidc}/auth?")
    assert query["client_id"] == PORTAL and query["code_challenge_method"] == "S256"
    assert query["redirect_uri"] == f"{sidecar.url}/pahang/portal/callback"
    assert query["ui_locales"] == "ms"

    callback = sign_in_at_keycloak(browser, auth_url, record.user_id, password)
    assert callback.startswith(f"{sidecar.url}/pahang/portal/callback?")
    assert location(browser.get(callback)).endswith("/pahang/portal/dashboard")

    dashboard = browser.get(f"{sidecar.url}/pahang/portal/dashboard")
    text = html.unescape(dashboard.text)
    assert dashboard.status_code == 200
    assert dashboard.headers["Cache-Control"] == "no-store"
    assert "<h1>Dashboard</h1>" in text
    assert record.name in text and record.user_id in text and "Pahang" in text
    # The portal client's mapper puts the payroll department into the ID token.
    assert f'<dd data-field="department">{record.department}</dd>' in text
    for item in ("Status Bayaran", "Penyata Gaji", "Penyata Tahunan", "Log Keluar"):
        assert item in text
    assert keycloak_has_session(browser, settings, "pahang", sidecar.url)

    csrf = re.search(r'name="csrf_token" value="([^"]+)"', dashboard.text).group(1)
    logout = browser.post(f"{sidecar.url}/pahang/portal/logout", data={"csrf_token": csrf})
    to_keycloak = location(logout)
    logout_query = parse_qs(urlsplit(to_keycloak).query)
    assert to_keycloak.startswith(f"{pahang_oidc}/logout?")
    assert logout_query == {"post_logout_redirect_uri": [f"{sidecar.url}/pahang/portal/"],
                            "client_id": [PORTAL]}  # no ID token: the cookie keeps none
    assert signed_out(browser, sidecar.url, "pahang")  # the portal forgot at once

    # Without an ID token Keycloak asks "Log keluar?" on its own page, then returns.
    assert location(confirm_keycloak_logout(browser, to_keycloak)) == f"{sidecar.url}/pahang/portal/"
    assert signed_out(browser, sidecar.url, "pahang")
    assert not keycloak_has_session(browser, settings, "pahang", sidecar.url)
    # Back at /portal/, the portal asks Keycloak again, which shows the login form.
    again = browser.get(location(browser.get(f"{sidecar.url}/pahang/portal/")))
    assert again.status_code == 200 and 'id="kc-form-login"' in again.text


def test_logout_without_csrf_token_is_refused(sidecar, people):
    browser = Browser()
    portal_sign_in(browser, sidecar.url, "pahang", *people["pahang"])

    assert browser.post(f"{sidecar.url}/pahang/portal/logout").status_code == 400
    assert browser.get(f"{sidecar.url}/pahang/portal/dashboard").status_code == 200


def confirm_keycloak_logout(browser: Browser, logout_url: str) -> requests.Response:
    """Open Keycloak's logout page and press its "Log Keluar"; return Keycloak's answer."""
    page = browser.get(logout_url)
    assert page.status_code == 200, page.text[:300]
    form = re.search(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', page.text, re.S)
    assert form and "logout-confirm" in form.group(1), page.text[:500]
    fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form.group(2)))
    action = urljoin(page.url, html.unescape(form.group(1)))  # Keycloak writes it relative
    return browser.post(action, data={**fields, "confirmLogout": "x"})


def test_session_cookie_holds_a_few_claims_and_no_token(settings, sidecar, people):
    browser = Browser()
    portal_sign_in(browser, sidecar.url, "pahang", *people["pahang"])
    app = create_app(settings, services=Services(audit=MemoryAuditLog(), mail=MemoryMailSender()))
    cookie = browser.cookies.get("ispeks_session")

    stored = app.session_interface.get_signing_serializer(app).loads(cookie)

    # A new session: nothing from before the login (the dashboard's logout form added a
    # fresh CSRF token).
    assert set(stored) <= {"portal.user", "csrf_token"}
    # tasks: the role names of the tugas claim (the dashboard's widgets), never a token.
    assert set(stored["portal.user"]) == {"iss", "sub", "name", "username", "department",
                                          "tasks", "at", "sid"}
    assert stored["portal.user"]["tasks"] == []
    assert not any(isinstance(v, str) and v.count(".") == 2 and len(v) > 100
                   for v in stored["portal.user"].values()), "a JWT in the cookie"
    assert len(cookie) < 3000, "a cookie near 4 KB is dropped by browsers"


def test_a_cookie_copied_before_log_keluar_is_refused_after(sidecar, people):
    browser = Browser()
    dashboard = portal_sign_in(browser, sidecar.url, "kelantan", *people["kelantan"])
    copied = browser.cookies.get("ispeks_session")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', dashboard).group(1)

    assert location(browser.post(f"{sidecar.url}/kelantan/portal/logout",
                                 data={"csrf_token": csrf})).startswith("http")
    thief = Browser()
    thief.cookies.set("ispeks_session", copied)

    assert signed_out(thief, sidecar.url, "kelantan")


def test_signing_in_again_starts_a_new_session(sidecar, people):
    browser = Browser()
    portal_sign_in(browser, sidecar.url, "pahang", *people["pahang"])
    before = browser.cookies.get("ispeks_session")

    # Another person signs in to another state's portal in the same browser.
    record, password = people["kelantan"]
    start = location(browser.get(f"{sidecar.url}/kelantan/portal/"))
    callback = sign_in_at_keycloak(browser, start, record.user_id, password)
    assert location(browser.get(callback)).endswith("/kelantan/portal/dashboard")

    # The pahang sign-in the browser brought is gone, and revoked for any copy of it.
    assert signed_out(browser, sidecar.url, "pahang")
    old = Browser()
    old.cookies.set("ispeks_session", before)
    assert signed_out(old, sidecar.url, "pahang")



def test_signed_in_to_one_realm_is_not_signed_in_to_another(settings, sidecar, people):
    browser = Browser()
    portal_sign_in(browser, sidecar.url, "pahang", *people["pahang"])

    assert signed_out(browser, sidecar.url, "kelantan")
    to_kelantan = location(browser.get(f"{sidecar.url}/kelantan/portal/"))
    assert to_kelantan.startswith(f"{settings.keycloak_url}/realms/kelantan/")
    # And the pahang portal session is still there.
    assert browser.get(f"{sidecar.url}/pahang/portal/dashboard").status_code == 200


def test_a_pahang_authorization_code_is_refused_by_the_kelantan_portal(settings, sidecar, people):
    record, password = people["pahang"]
    browser = Browser()
    pahang_auth = location(browser.get(f"{sidecar.url}/pahang/portal/"))
    pahang_callback = urlsplit(sign_in_at_keycloak(browser, pahang_auth, record.user_id, password))
    pahang_answer = {k: v[0] for k, v in parse_qs(pahang_callback.query).items()}
    assert pahang_answer["iss"] == f"{settings.keycloak_url}/realms/pahang"

    def deliver_to_kelantan(**answer) -> requests.Response:
        kelantan_auth = location(browser.get(f"{sidecar.url}/kelantan/portal/"))
        kelantan_state = parse_qs(urlsplit(kelantan_auth).query)["state"][0]
        query = urlencode({**answer, "state": kelantan_state})
        return browser.get(f"{sidecar.url}/kelantan/portal/callback?{query}")

    # Mix-up defence (RFC 9207): the callback names pahang's issuer.
    assert deliver_to_kelantan(**pahang_answer).status_code == 400
    # Without iss, kelantan's token endpoint does not know pahang's code.
    without_iss = {k: v for k, v in pahang_answer.items() if k != "iss"}
    assert deliver_to_kelantan(**without_iss).status_code == 400
    assert signed_out(browser, sidecar.url, "kelantan")
    # The code itself was never spent on pahang either: this browser is signed in nowhere.
    assert signed_out(browser, sidecar.url, "pahang")


def test_callback_without_a_pending_login_is_refused(sidecar):
    answer = Browser().get(f"{sidecar.url}/pahang/portal/callback?state=x&code=y")
    assert answer.status_code == 400
    assert "Log masuk tidak berjaya" in html.unescape(answer.text)


def test_kit_logs_in_in_process_and_fetches_the_jwks_once(settings, people):
    """finish_login accepts Keycloak's real tokens; many verifications cost one JWKS fetch."""
    record, password = people["pahang"]
    transport = CountingTransport()
    client = OidcClient(settings.keycloak_url, "pahang", PORTAL, redirect_uri=OIDC_TEST_CALLBACK,
                        transport=transport, cache=MetadataCache())
    request = client.begin_login(locale="en")
    callback = sign_in_at_keycloak(Browser(), request.url, record.user_id, password)
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}

    tokens = client.finish_login(request, query)
    for _ in range(25):
        assert client.verify_access_token(tokens.access_token)["sub"] == tokens.id_claims["sub"]
        client.verify_id_token(tokens.id_token, nonce=request.nonce)

    assert tokens.id_claims["preferred_username"] == record.user_id
    assert tokens.id_claims["name"] == record.name
    assert sum(url.endswith("/certs") for url in transport.gets) == 1
    assert sum(url.endswith("/openid-configuration") for url in transport.gets) == 1
    # A second finish with the same request (replayed callback) is refused by Keycloak.
    with pytest.raises(OidcError) as replay:
        client.finish_login(request, query)
    assert replay.value.code == "code_rejected"


def test_pahang_access_token_is_refused_by_kelantan(settings, people):
    record, password = people["pahang"]
    outcome = code_flow_login(settings.keycloak_url, "pahang", record.user_id, password)
    assert outcome.status == 302, outcome.error
    token = outcome.tokens["access_token"]
    pahang = OidcClient(settings.keycloak_url, "pahang", PORTAL, cache=MetadataCache())
    kelantan = OidcClient(settings.keycloak_url, "kelantan", PORTAL, cache=MetadataCache())

    assert pahang.verify_access_token(token)["iss"] == pahang.issuer
    with pytest.raises(OidcError) as refused:
        kelantan.verify_access_token(token)
    assert refused.value.code == "wrong_issuer"
    # A pahang token relabelled as kelantan's fails the signature against kelantan's keys.
    header, claims, signature = token.split(".")
    relabelled_claims = _b64_json_replace(claims, "/realms/pahang", "/realms/kelantan")
    relabelled = ".".join((header, relabelled_claims, signature))
    with pytest.raises(OidcError) as forged:
        kelantan.verify_access_token(relabelled)
    assert forged.value.code in {"unknown_key", "bad_signature"}


def test_end_session_logs_the_refresh_token_out(settings, people):
    record, password = people["kelantan"]
    outcome = code_flow_login(settings.keycloak_url, "kelantan", record.user_id, password)
    refresh = outcome.tokens["refresh_token"]
    client = OidcClient(settings.keycloak_url, "kelantan", PORTAL)
    token_url = client.discovery()["token_endpoint"]

    client.end_session(refresh)

    answer = requests.post(token_url, data={"grant_type": "refresh_token", "client_id": PORTAL,
                                            "refresh_token": refresh}, timeout=10)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_portal_is_hidden_when_the_setting_is_off():
    app = create_app(load_settings({}),
                     services=Services(audit=MemoryAuditLog(), mail=MemoryMailSender()))
    client = app.test_client()
    for path in ("/pahang/portal/", "/pahang/portal/callback", "/pahang/portal/dashboard"):
        assert client.get(path).status_code == 404
    assert client.get("/pahang/").status_code == 200


def _b64_json_replace(part: str, old: str, new: str) -> str:
    raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode().replace(old, new)
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()
