"""The sidecar behind the proxy at /idp: links, redirects, static files and cookies."""

from __future__ import annotations

import pytest

from idp_extension.audit import MemoryAuditLog
from idp_extension.mail.sender import MemoryMailSender
from idp_extension.settings import load_settings
from idp_extension.tenants import load_tenants
from idp_extension.web import Services, create_app
from idp_extension.web.prefix import PrefixMiddleware

PUBLIC = "https://sso.ispeks.example.gov.my/idp"
SETTINGS = load_settings({
    "ISPEKS_SIDECAR_PUBLIC_URL": PUBLIC, "ISPEKS_SECRET_KEY": "k" * 64,
})
TENANTS = load_tenants(SETTINGS.realm_templates_dir)


class ProxiedClient:
    """Requests as gunicorn hands them over: the whole path, no SCRIPT_NAME of its own.

    (Flask's test client would otherwise split APPLICATION_ROOT off by itself.)
    """

    def __init__(self, app):
        self._client = app.test_client()

    def get(self, path, **kwargs):
        return self._client.get(path, environ_overrides={"SCRIPT_NAME": ""}, **kwargs)


@pytest.fixture
def client():
    services = Services(audit=MemoryAuditLog(), mail=MemoryMailSender())
    app = create_app(SETTINGS, tenants=TENANTS, services=services)
    app.config["TESTING"] = True
    return ProxiedClient(app)


@pytest.mark.parametrize("url, prefix", [
    ("http://127.0.0.1:5000", ""), ("http://127.0.0.1:5000/", ""),
    (PUBLIC, "/idp"), (PUBLIC + "/", "/idp"), ("https://h.example/a/b/", "/a/b"),
])
def test_the_prefix_is_the_public_urls_path(url, prefix):
    assert load_settings({"ISPEKS_SIDECAR_PUBLIC_URL": url}).url_prefix == prefix


# The proxy may pass /idp/... through unchanged or strip the prefix: both must work.
@pytest.mark.parametrize("path", ["/idp/pahang/", "/pahang/"])
def test_links_carry_the_prefix_however_the_proxy_forwards(client, path):
    response = client.get(path)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'href="/idp/pahang/recovery"' in body
    assert 'href="/idp/static/' in body
    assert 'href="/pahang/' not in body and 'href="/static/' not in body


def test_forms_post_under_the_prefix(client):
    body = client.get("/idp/pahang/activation").get_data(as_text=True)
    assert 'action="/idp/pahang/activation"' in body


def test_redirects_stay_under_the_prefix(client):
    response = client.get("/idp/pahang")
    assert response.status_code in (301, 308)
    assert response.headers["Location"].endswith("/idp/pahang/")


def test_static_files_and_gallery_are_served_under_the_prefix(client):
    assert client.get("/idp/static/css/ispeks.css").status_code == 200
    image = client.get("/idp/static/gallery/hornbill.svg")
    assert image.status_code == 200 and image.mimetype == "image/svg+xml"


def test_session_cookie_is_scoped_to_the_prefix(client):
    response = client.get("/idp/pahang/activation")  # a form: its CSRF token is in the session
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("ispeks_session=")]
    assert cookies and "Path=/idp;" in cookies[0] + ";" and "Secure" in cookies[0]


def test_language_cookie_is_scoped_to_the_prefix(client):
    response = client.get("/idp/pahang/?lang=en")
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("ispeks_lang=")]
    assert "Path=/idp" in cookie
    assert 'href="/idp/pahang/?lang=ms"' in response.get_data(as_text=True)


def test_without_a_prefix_nothing_moves():
    services = Services(audit=MemoryAuditLog(), mail=MemoryMailSender())
    app = create_app(load_settings({}), tenants=TENANTS, services=services)
    response = app.test_client().get("/pahang/?lang=en")
    assert 'href="/pahang/recovery"' in response.get_data(as_text=True)
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("ispeks_lang=")]
    assert "Path=/;" in cookie + ";"


def test_probes_answer_on_the_sidecars_own_paths_too(client):
    assert client.get("/livez").status_code == 200
    assert client.get("/idp/livez").status_code == 200


def _environ_after(prefix: str, path: str, script_name: str = "") -> dict:
    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        return []

    PrefixMiddleware(app, prefix)({"PATH_INFO": path, "SCRIPT_NAME": script_name}, None)
    return seen


@pytest.mark.parametrize("path, expected", [
    ("/idp/pahang/", "/pahang/"), ("/pahang/", "/pahang/"), ("/idp", ""),
    # Only a whole path segment is the prefix.
    ("/idpx/pahang/", "/idpx/pahang/"),
])
@pytest.mark.parametrize("script_name", ["", "/idp"])  # gunicorn's SCRIPT_NAME split it off
def test_middleware_strips_the_prefix_once(path, expected, script_name):
    environ = _environ_after("/idp", path, script_name)
    assert environ["SCRIPT_NAME"] == "/idp" and environ["PATH_INFO"] == expected


@pytest.mark.parametrize("bad", ["idp", "/idp/", ""])
def test_middleware_refuses_a_malformed_prefix(bad):
    with pytest.raises(ValueError):
        PrefixMiddleware(lambda e, s: [], bad)


def test_middleware_leaves_the_servers_environ_alone():
    # gunicorn formats its access log from the environ it passed: the path as requested.
    environ = {"PATH_INFO": "/idp/pahang/", "SCRIPT_NAME": ""}
    PrefixMiddleware(lambda e, s: [], "/idp")(environ, None)
    assert environ == {"PATH_INFO": "/idp/pahang/", "SCRIPT_NAME": ""}
