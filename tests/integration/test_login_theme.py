"""The state login themes and the email theme as the real Keycloak serves them (no browser):
what each state's login page says and links to, its headers, and Keycloak's own mails."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets

import pytest
import requests

from idp_extension.demo_users import synthetic_people
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.users import UserDirectory
from idp_extension.tenants import Onboarding, load_tenants
from idp_extension.web.security import origin_of
from tests.support.stack import OIDC_TEST_CALLBACK

STATES = ["pahang", "kelantan", "selangor", "melaka"]


@pytest.fixture(scope="module")
def tenants(settings):
    return load_tenants(settings.realm_templates_dir)


def login_page(settings, state: str, locale: str | None = None) -> requests.Response:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {"client_id": "portal-ispeks", "response_type": "code", "scope": "openid",
              "redirect_uri": OIDC_TEST_CALLBACK, "code_challenge_method": "S256",
              "code_challenge": challenge.rstrip(b"=").decode()}
    if locale:
        params["ui_locales"] = locale
    page = requests.get(f"{settings.keycloak_url}/realms/{state}/protocol/openid-connect/auth",
                        params=params, timeout=10)
    assert page.status_code == 200, page.text[:300]
    return page


def text_of(page: requests.Response) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text)))


@pytest.mark.parametrize("state", STATES)
def test_each_state_page_names_the_state_version_and_helpdesk_in_malay(
        provisioned_realms, tenants, state):
    settings, tenant = provisioned_realms, tenants[state]
    page = login_page(settings, state)
    text = text_of(page)

    assert 'lang="ms"' in page.text and 'data-page-id="login-login"' in page.text
    assert re.search(rf'href="/resources/[^"]+/login/ispeks-{state}/css/state\.css"', page.text)
    assert f"Kerajaan Negeri {tenant.state_name}" in text
    assert "Sistem Perakaunan Akruan Kerajaan Negeri (iSPEKS)" in text
    assert tenant.version_label in text
    for contact in tenant.helpdesk:
        assert contact.name in text and contact.phone in text and contact.email in text
    assert ("Akaun anda akan disekat sekiranya percubaan log masuk melebihi 3 kali. "
            "Sila hubungi Pentadbir Sistem.") in text
    assert "ID Pengguna" in text and "Kata Laluan" in text and "Seterusnya" in text


@pytest.mark.parametrize("state", STATES)
def test_links_follow_the_states_onboarding(provisioned_realms, tenants, state):
    settings, tenant = provisioned_realms, tenants[state]
    page = login_page(settings, state).text
    base = f"{settings.sidecar_public_url}/{state}"

    assert f'href="{base}/recovery"' in page
    if tenant.onboarding is Onboarding.ACTIVATION_LINK:
        assert f'href="{base}/activation"' in page and f"{base}/first-login" not in page
        assert ("Sekiranya anda telah membuat pendaftaran dan tidak menerima emel pengaktifan "
                "sila klik di sini untuk penghantaran semula emel pengaktifan.") in text_of_html(page)
    else:
        assert f'href="{base}/first-login"' in page and f"{base}/activation" not in page
        label = "Pendaftaran" if state == "melaka" else "Login Kali Pertama"
        assert re.search(rf'id="ispeks-first-login" href="[^"]+">{label}</a>', page)
    # Only the states that use phrases ask the sidecar for one.
    assert (f'data-site-key-url="{base}/site-key"' in page) is tenant.uses_secret_phrase


def text_of_html(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_english_is_one_switch_away(provisioned_realms, tenants):
    page = login_page(provisioned_realms, "selangor", locale="en")
    text = text_of(page)

    assert 'lang="en"' in page.text
    assert "State Government of Selangor" in text and "User ID" in text and "Next" in text
    assert "Your account will be locked after 3 unsuccessful login attempts." in text
    assert "First-time login" in text and "Forgot password" in text
    # The switch back to Malay is a plain link.
    assert re.search(r'<a href="[^"]*kc_locale=ms[^"]*" lang="ms"', page.text)


@pytest.mark.parametrize("state", ["pahang", "melaka"])
def test_login_page_may_reach_only_the_sidecar_off_site(provisioned_realms, state):
    settings = provisioned_realms
    csp = login_page(settings, state).headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    sidecar = origin_of(settings.sidecar_public_url)

    assert directives["connect-src"] == f"'self' {sidecar}"
    assert directives["img-src"] == f"'self' data: {sidecar}"
    assert directives["frame-ancestors"] == "'self'"


def test_keycloaks_own_mails_are_in_malay_unless_the_user_chose_english(
        provisioned_realms, tenants, mail_inbox):
    settings = provisioned_realms
    admin = bootstrap_admin(settings, "melaka")
    directory = UserDirectory(admin, "melaka")
    malay, english = (directory.register_pending(record)[0] for record in
                      synthetic_people(tenants["melaka"], 2, seed="theme-mail"))
    directory.update_attributes(english.id, {"locale": ["en"]})
    after = mail_inbox.last_id

    admin.send_update_account(user_id=malay.id, payload=["UPDATE_PASSWORD"], lifespan=600)
    admin.send_update_account(user_id=english.id, payload=["UPDATE_PASSWORD"], lifespan=600)

    ms = mail_inbox.wait_for(to=malay.email, after=after, timeout=20)
    en = mail_inbox.wait_for(to=english.email, after=after, timeout=20)
    assert ms.subject == "Kemas Kini Akaun iSPEKS Anda"
    assert "Pentadbir Sistem meminta anda mengemas kini akaun" in ms.text
    assert "Tukar Kata Laluan" in ms.text and "minit" in ms.text
    assert en.subject == "Update your iSPEKS account"
    assert "Change password" in en.text
