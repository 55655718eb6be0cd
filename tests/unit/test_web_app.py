"""The sidecar's routes: health, the states, the landing pages, the language choice."""

from __future__ import annotations

import pytest
from flask import Blueprint, url_for

from idp_extension.audit import MemoryAuditLog
from idp_extension.mail.sender import MemoryMailSender
from idp_extension.settings import load_settings
from idp_extension.tenants import load_tenants
from idp_extension.web import Services, create_app
from idp_extension.web.language import LANG_COOKIE
from idp_extension.web.services import current_services
from idp_extension.web.tenant import current_tenant

SETTINGS = load_settings({})  # defaults only: the developer's environment must not leak in
TENANTS = load_tenants(SETTINGS.realm_templates_dir)


def make_app(**kwargs):
    services = Services(audit=MemoryAuditLog(), mail=MemoryMailSender())
    app = create_app(SETTINGS, tenants=TENANTS, services=services, **kwargs)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client():
    return make_app().test_client()


def test_healthz_answers_ok_json(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_index_lists_every_state(client):
    body = client.get("/").get_data(as_text=True)
    for tenant in TENANTS.values():
        assert tenant.display_name in body
        assert f'href="/{tenant.realm}/"' in body


@pytest.mark.parametrize("realm", sorted(TENANTS))
def test_known_realm_landing_names_the_state(client, realm):
    tenant = TENANTS[realm]
    response = client.get(f"/{realm}/")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert tenant.display_name in body
    assert tenant.version_label in body
    assert f'href="/{realm}/recovery"' in body
    for contact in tenant.helpdesk:
        assert contact.email in body


def test_landing_links_follow_the_onboarding_style(client):
    pahang = client.get("/pahang/").get_data(as_text=True)
    selangor = client.get("/selangor/").get_data(as_text=True)
    assert 'href="/pahang/activation"' in pahang and "first-login" not in pahang
    assert 'href="/selangor/first-login"' in selangor and "/activation" not in selangor


def test_realm_without_trailing_slash_redirects(client):
    response = client.get("/melaka")
    assert response.status_code in (301, 308)
    assert response.headers["Location"].endswith("/melaka/")


def test_unknown_realm_is_a_bilingual_404_without_traceback(client):
    response = client.get("/nosuchstate/")
    body = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "Negeri tidak dikenali" in body and "Unknown state" in body
    # Malay first, English below.
    assert body.index("Negeri tidak dikenali") < body.index("Unknown state")
    assert 'lang="ms"' in body and 'lang="en"' in body
    assert "Traceback" not in body and "UnknownRealm" not in body


def test_unknown_realm_is_bilingual_even_for_english_readers(client):
    body = client.get("/nosuchstate/?lang=en").get_data(as_text=True)
    assert body.index("Negeri tidak dikenali") < body.index("Unknown state")


def test_unknown_path_is_a_404_page(client):
    response = client.get("/pahang/no/such/page")
    assert response.status_code == 404
    assert "Halaman tidak dijumpai" in response.get_data(as_text=True)


def test_child_blueprints_get_the_tenant_and_build_realm_urls():
    child = Blueprint("probe", __name__, url_prefix="/probe")

    @child.get("/")
    def probe():
        return {
            "realm": current_tenant().realm,
            "self": url_for("tenant.probe.probe"),
            "has_services": isinstance(current_services().audit, MemoryAuditLog),
        }

    client = make_app(realm_blueprints=[child]).test_client()
    assert client.get("/kelantan/probe/").get_json() == {
        "realm": "kelantan",
        "self": "/kelantan/probe/",
        "has_services": True,
    }
    assert client.get("/atlantis/probe/").status_code == 404


def test_tenants_may_be_given_as_a_list():
    app = create_app(
        SETTINGS,
        tenants=[TENANTS["pahang"]],
        services=Services(audit=MemoryAuditLog(), mail=MemoryMailSender()),
    )
    client = app.test_client()
    assert client.get("/pahang/").status_code == 200
    assert client.get("/melaka/").status_code == 404


# --- language ---------------------------------------------------------------


def test_malay_is_the_default(client):
    body = client.get("/pahang/").get_data(as_text=True)
    assert '<html lang="ms">' in body
    assert "Perkhidmatan Akaun" in body and "Lupa Kata Laluan" in body


def test_accept_language_is_honoured_without_a_cookie(client):
    body = client.get("/pahang/", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(
        as_text=True
    )
    assert '<html lang="en">' in body and "Forgotten password" in body


def test_lang_parameter_switches_and_is_remembered_in_a_cookie(client):
    response = client.get("/pahang/?lang=en")
    assert "Forgotten password" in response.get_data(as_text=True)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{LANG_COOKIE}=en") and "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie

    # The cookie now wins over the browser's Accept-Language...
    later = client.get("/kelantan/", headers={"Accept-Language": "ms"})
    assert '<html lang="en">' in later.get_data(as_text=True)

    # ...until the user switches back.
    back = client.get("/kelantan/?lang=ms").get_data(as_text=True)
    assert '<html lang="ms">' in back
    assert '<html lang="ms">' in client.get("/kelantan/").get_data(as_text=True)


def test_unsupported_lang_is_ignored(client):
    response = client.get("/pahang/?lang=fr", headers={"Accept-Language": "fr"})
    assert '<html lang="ms">' in response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers


def test_switch_links_keep_the_page_and_its_query(client):
    body = client.get("/pahang/?x=1").get_data(as_text=True)
    assert 'href="/pahang/?x=1&amp;lang=en"' in body
    assert 'href="/pahang/?x=1&amp;lang=ms"' in body
    assert 'aria-current="true">Bahasa Melayu' in body


def test_responses_vary_on_language_inputs(client):
    vary = client.get("/pahang/").headers["Vary"]
    assert "Cookie" in vary and "Accept-Language" in vary
