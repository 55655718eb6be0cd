"""Security headers, cookie flags and CSRF protection of the sidecar."""

from __future__ import annotations

import re

import pytest
from flask import Blueprint, render_template_string

from idp_extension.audit import MemoryAuditLog
from idp_extension.mail.sender import MemoryMailSender
from idp_extension.settings import SettingsError, load_settings
from idp_extension.tenants import load_tenants
from idp_extension.web import Services, create_app

SETTINGS = load_settings({})
TENANTS = load_tenants(SETTINGS.realm_templates_dir)


def make_app(settings=SETTINGS, **kwargs):
    services = Services(audit=MemoryAuditLog(), mail=MemoryMailSender())
    return create_app(settings, tenants=TENANTS, services=services, **kwargs)


def form_blueprint() -> Blueprint:
    """A test-only form page, nested under /<realm>/ like the flows will be."""
    bp = Blueprint("form", __name__, url_prefix="/form")

    @bp.route("/", methods=["GET", "POST"])
    def form():
        return render_template_string(
            '<form method="post"><input type="hidden" name="csrf_token" '
            'value="{{ csrf_token() }}"><button>Go</button></form>'
        )

    return bp


@pytest.mark.parametrize("path", ["/pahang/", "/nosuchstate/", "/healthz", "/"])
def test_security_headers_on_every_response(path):
    headers = make_app().test_client().get(path).headers
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert re.search(r"form-action 'self' http://127\.0\.0\.1:8080(;|$)", csp)
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "camera=()" in headers["Permissions-Policy"]
    assert headers["Cache-Control"] == "no-store"


def test_form_action_names_the_keycloak_origin_only():
    settings = SETTINGS.with_overrides(keycloak_url="https://sso.ispeks.gov.my:8443/auth",
                                       secret_key="k" * 40)
    csp = make_app(settings).test_client().get("/healthz").headers["Content-Security-Policy"]
    assert "form-action 'self' https://sso.ispeks.gov.my:8443;" in csp + ";"


def test_static_files_are_cacheable_and_still_protected():
    response = make_app().test_client().get("/static/css/ispeks.css")
    assert response.status_code == 200
    assert response.headers.get("Cache-Control") != "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_templates_contain_no_inline_script_or_style():
    from pathlib import Path

    import idp_extension.web as web

    for template in (Path(web.__file__).parent / "templates").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert "<script" not in text and "<style" not in text, template.name
        assert not re.search(r"\sstyle=|\son[a-z]+=", text), template.name


def test_session_cookie_is_httponly_lax_and_not_secure_over_http():
    client = make_app(realm_blueprints=[form_blueprint()]).test_client()
    cookie = client.get("/pahang/form/").headers["Set-Cookie"]
    assert cookie.startswith("ispeks_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_and_language_cookies_are_secure_over_https():
    settings = SETTINGS.with_overrides(
        sidecar_public_url="https://akaun.ispeks.gov.my", secret_key="x" * 40
    )
    client = make_app(settings, realm_blueprints=[form_blueprint()]).test_client()
    session_cookie = client.get("/pahang/form/", base_url="https://localhost").headers[
        "Set-Cookie"
    ]
    assert "Secure" in session_cookie
    lang_cookie = client.get("/pahang/?lang=en", base_url="https://localhost").headers[
        "Set-Cookie"
    ]
    assert "Secure" in lang_cookie


def test_upgrade_insecure_requests_only_when_served_over_https():
    plain = make_app().test_client().get("/healthz").headers["Content-Security-Policy"]
    settings = SETTINGS.with_overrides(
        sidecar_public_url="https://akaun.ispeks.gov.my", secret_key="x" * 40
    )
    tls = make_app(settings).test_client().get("/healthz").headers["Content-Security-Policy"]
    assert "upgrade-insecure-requests" not in plain
    assert "upgrade-insecure-requests" in tls


def test_refuses_the_built_in_secret_key_over_https():
    with pytest.raises(SettingsError, match="^ISPEKS_SECRET_KEY is a placeholder"):
        make_app(SETTINGS.with_overrides(sidecar_public_url="https://akaun.ispeks.gov.my"))


def test_csrf_rejects_a_post_without_token():
    client = make_app(realm_blueprints=[form_blueprint()]).test_client()
    client.get("/pahang/form/")
    response = client.post("/pahang/form/", data={"anything": "1"})
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Borang ini telah tamat tempoh atau tidak sah" in body


def test_csrf_rejects_a_forged_token():
    client = make_app(realm_blueprints=[form_blueprint()]).test_client()
    client.get("/pahang/form/")
    response = client.post("/pahang/form/", data={"csrf_token": "forged"})
    assert response.status_code == 400


def test_csrf_accepts_the_token_of_the_form():
    client = make_app(realm_blueprints=[form_blueprint()]).test_client()
    page = client.get("/pahang/form/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/pahang/form/", data={"csrf_token": token}).status_code == 200


def test_csrf_accepts_https_posts_without_referer():
    """Referrer-Policy no-referrer means browsers send none: the token alone must do."""
    settings = SETTINGS.with_overrides(
        sidecar_public_url="https://akaun.ispeks.gov.my", secret_key="x" * 40
    )
    client = make_app(settings, realm_blueprints=[form_blueprint()]).test_client()
    page = client.get("/pahang/form/", base_url="https://localhost").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(
        "/pahang/form/", data={"csrf_token": token}, base_url="https://localhost"
    )
    assert response.status_code == 200


def test_oversized_posts_are_refused():
    client = make_app(realm_blueprints=[form_blueprint()]).test_client()
    response = client.post("/pahang/form/", data={"big": "x" * 200_000})
    assert response.status_code == 413


# -- Host header ---------------------------------------------------------------------------

PUBLIC = SETTINGS.with_overrides(sidecar_public_url="https://idp.pahang.gov.my",
                                 secret_key="k" * 43, demo_portal=True)
FORGED = "evil.example"


@pytest.mark.parametrize("path", ["/pahang", "/pahang/settings", "/pahang/", "/", "/healthz",
                                  "/pahang/portal/", "/pahang/recovery", "/nosuchstate/"])
@pytest.mark.parametrize("host", [FORGED, f"{FORGED}:443", "idp.pahang.gov.my.evil.example",
                                  "evil.example.idp.pahang.gov.my"])
def test_a_forged_host_gets_400_and_is_never_echoed(path, host):
    answer = make_app(PUBLIC).test_client().get(path, headers={"Host": host})

    assert answer.status_code == 400
    assert "Location" not in answer.headers
    assert FORGED not in answer.get_data(as_text=True)
    assert not any(FORGED in value for _, value in answer.headers.items())
    assert "Set-Cookie" not in answer.headers


def test_a_forged_host_on_a_post_gets_400_too():
    answer = make_app(PUBLIC).test_client().post("/pahang/recovery", data={"user_id": "x"},
                                                 headers={"Host": FORGED})
    assert answer.status_code == 400 and FORGED not in answer.get_data(as_text=True)


@pytest.mark.parametrize("host", ["idp.pahang.gov.my", "idp.pahang.gov.my:443", "127.0.0.1:5000",
                                  "localhost:5000"])
def test_the_public_host_and_loopback_are_answered(host):
    client = make_app(PUBLIC).test_client()

    assert client.get("/healthz", headers={"Host": host}).status_code == 200
    slash = client.get("/pahang", headers={"Host": host})
    assert slash.status_code == 308
    assert slash.headers["Location"].endswith(f"{host}/pahang/")


def test_trusted_hosts_follow_the_public_url():
    from idp_extension.web.app import trusted_hosts

    assert trusted_hosts(PUBLIC) == ["idp.pahang.gov.my", "127.0.0.1", "localhost"]
    assert trusted_hosts(SETTINGS) == ["127.0.0.1", "localhost"]
