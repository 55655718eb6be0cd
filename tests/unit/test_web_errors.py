"""One error handler: every failure becomes a page in the user's language (or JSON)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from flask import Blueprint

import idp_extension.web as web
from idp_extension import errors
from idp_extension.audit import MemoryAuditLog
from idp_extension.gateway.errors import KeycloakUnavailable
from idp_extension.i18n import SUPPORTED_LOCALES, MessageCatalog
from idp_extension.mail.errors import MailRejected, MailUnavailable
from idp_extension.mail.sender import MemoryMailSender
from idp_extension.settings import load_settings
from idp_extension.tenants import load_tenants
from idp_extension.web import Services, create_app
from idp_extension.web.app import MESSAGES_DIR
from idp_extension.web.ratelimit import rate_limit

SETTINGS = load_settings({})
TENANTS = load_tenants(SETTINGS.realm_templates_dir)
SERVICE_MS = "Perkhidmatan tidak dapat dicapai buat masa ini. Sila cuba sebentar lagi."
SERVICE_EN = "The service cannot be reached right now. Please try again shortly."


def failing_blueprint() -> Blueprint:
    """Test-only routes that fail in each way the handler must cover."""
    bp = Blueprint("fail", __name__, url_prefix="/fail")
    raising = {
        "service": errors.ServiceUnavailable("smtp down at 10.0.0.5"),
        "keycloak": KeycloakUnavailable("connection refused to http://kc:8080"),
        "mail": MailUnavailable("SMTP 10.0.0.5:25 timed out"),
        "rejected": MailRejected("550 no such user"),
        "bad": errors.BadRequest("missing field id"),
        "bug": ZeroDivisionError("secret internal detail 42"),
    }

    @bp.route("/<kind>", methods=["GET", "POST"])
    def fail(kind: str):
        raise raising[kind]

    @bp.post("/limited")
    @rate_limit("2 per minute")
    def limited():
        return "ok"

    return bp


@pytest.fixture
def client():
    services = Services(audit=MemoryAuditLog(), mail=MemoryMailSender())
    app = create_app(
        SETTINGS, tenants=TENANTS, services=services, realm_blueprints=[failing_blueprint()]
    )
    app.config["WTF_CSRF_ENABLED"] = False  # these posts test rate limiting, not CSRF
    return app.test_client()


def test_service_unavailable_is_a_clear_page_in_malay_then_english(client):
    response = client.get("/pahang/fail/service")
    body = response.get_data(as_text=True)
    assert response.status_code == 503
    # Both languages, Malay first: a user mid-flow may have either page language.
    titles = ["Perkhidmatan tidak tersedia buat sementara waktu", "Service temporarily unavailable"]
    positions = [body.index(text) for text in (titles[0], SERVICE_MS, titles[1], SERVICE_EN)]
    assert positions == sorted(positions)
    assert "iSPEKS Kerajaan Negeri Pahang" in body  # still inside the state's layout
    assert "10.0.0.5" not in body  # the detail is for logs only
    assert response.headers["Retry-After"] == "30"
    # "Cuba semula" / "Try again" asks for the same page again.
    assert body.count('href="/pahang/fail/service"') == 2
    assert "Cuba semula" in body and "Try again" in body


def test_service_unavailable_in_english_keeps_malay_first(client):
    response = client.get("/pahang/fail/service?lang=en")
    body = response.get_data(as_text=True)
    assert response.status_code == 503
    assert body.index(SERVICE_MS) < body.index(SERVICE_EN)
    assert '<html lang="en">' in body


def test_a_form_post_meeting_an_outage_offers_no_retry_link(client):
    body = client.post("/pahang/fail/keycloak").get_data(as_text=True)
    assert SERVICE_MS in body and SERVICE_EN in body
    assert "Cuba semula" not in body  # the form is sent again from its own page


def test_json_clients_get_json_errors(client):
    response = client.get("/pahang/fail/service", headers={"Accept": "application/json"})
    assert response.status_code == 503
    assert response.get_json() == {
        "error": {"code": "error.service_unavailable", "status": 503, "message": SERVICE_MS}
    }


def test_browsers_accepting_anything_get_html(client):
    response = client.get("/pahang/fail/service", headers={"Accept": "*/*"})
    assert response.mimetype == "text/html"


@pytest.mark.parametrize("kind", ["keycloak", "mail"])
def test_keycloak_and_smtp_outages_are_503(client, kind):
    response = client.get(f"/melaka/fail/{kind}")
    body = response.get_data(as_text=True)
    assert response.status_code == 503
    assert SERVICE_MS in body
    assert "kc:8080" not in body and "timed out" not in body


def test_mail_rejected_has_its_own_message(client):
    response = client.get("/melaka/fail/rejected?lang=en")
    assert response.status_code == 502
    assert "could not be delivered" in response.get_data(as_text=True)


def test_bad_request(client):
    response = client.get("/melaka/fail/bad", headers={"Accept-Language": "en"})
    assert response.status_code == 400
    assert "Invalid request" in response.get_data(as_text=True)


def test_unexpected_errors_show_a_generic_500_without_details(client):
    response = client.get("/pahang/fail/bug")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Ralat sistem" in body
    assert "ZeroDivisionError" not in body and "secret internal detail" not in body
    assert "Traceback" not in body
    assert response.headers["X-Frame-Options"] == "DENY"  # error pages keep the headers


def test_method_not_allowed(client):
    response = client.delete("/pahang/")
    assert response.status_code == 405
    assert "Tindakan tidak dibenarkan" in response.get_data(as_text=True)


def test_rate_limited_views_answer_429_with_retry_after(client):
    assert client.post("/kelantan/fail/limited").status_code == 200
    assert client.post("/kelantan/fail/limited").status_code == 200
    response = client.post("/kelantan/fail/limited?lang=en")
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)
    assert 1 <= int(response.headers["Retry-After"]) <= 61  # one-minute window, rounded up


def test_rate_limit_counts_per_client_address(client):
    for _ in range(2):
        client.post("/kelantan/fail/limited", environ_base={"REMOTE_ADDR": "10.1.1.1"})
    blocked = client.post("/kelantan/fail/limited", environ_base={"REMOTE_ADDR": "10.1.1.1"})
    other = client.post("/kelantan/fail/limited", environ_base={"REMOTE_ADDR": "10.1.1.2"})
    assert blocked.status_code == 429
    assert other.status_code == 200


def test_each_app_counts_on_its_own():
    """Limiters belong to one app: a second app (another test) starts from zero."""
    for _ in range(2):
        app = create_app(
            SETTINGS,
            tenants=TENANTS,
            services=Services(audit=MemoryAuditLog(), mail=MemoryMailSender()),
            realm_blueprints=[failing_blueprint()],
        )
        app.config["WTF_CSRF_ENABLED"] = False
        client = app.test_client()
        statuses = [client.post("/pahang/fail/limited").status_code for _ in range(3)]
        assert statuses == [200, 200, 429]


# --- messages ---------------------------------------------------------------

CATALOG = MessageCatalog.load(MESSAGES_DIR)


def test_both_languages_define_the_same_keys():
    assert CATALOG.keys("ms") == CATALOG.keys("en")


def _error_classes():
    import idp_extension.mail.errors as mail_errors

    found = set()
    for module in (errors, mail_errors):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, errors.IspeksError):
                found.add(cls)
    return sorted(found, key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: c.__name__)
def test_every_error_has_a_title_and_message_in_both_languages(cls):
    for locale in SUPPORTED_LOCALES:
        assert CATALOG.has(cls.code, locale), (cls.code, locale)
        assert CATALOG.has(f"{cls.code}.title", locale), (cls.code, locale)


def test_every_key_used_in_templates_exists():
    templates = Path(web.__file__).parent / "templates"
    used = set()
    for template in templates.glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*['"]([a-z_.]+)['"]""", template.read_text()))
    used |= {f"site.language.{code}" for code in SUPPORTED_LOCALES}
    used |= {f"landing.{k}{suffix}" for k in ("activation", "first_login", "recovery")
             for suffix in ("", ".help")}
    assert used, "no t('...') calls found: the pattern is broken"
    missing = {key for key in used for loc in SUPPORTED_LOCALES if not CATALOG.has(key, loc)}
    assert not missing


def test_the_service_unavailable_wording_is_the_agreed_one():
    assert CATALOG.text("error.service_unavailable", "ms") == SERVICE_MS
    assert CATALOG.text("error.service_unavailable", "en") == SERVICE_EN


def test_missing_key_falls_back_to_malay_then_to_the_key():
    catalog = MessageCatalog({"ms": {"only.ms": "Hanya {x}"}, "en": {}})
    assert catalog.text("only.ms", "en", x="ini") == "Hanya ini"
    assert catalog.text("nowhere", "en") == "nowhere"
    assert catalog.text("only.ms", "fr", x="1") == "Hanya 1"


def test_a_missing_placeholder_value_does_not_break_the_page():
    catalog = MessageCatalog({"ms": {"k": "Sah {minutes} minit"}, "en": {"k": "{minutes} min"}})
    assert catalog.text("k", "ms", other=1) == "Sah {minutes} minit"
