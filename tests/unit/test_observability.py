"""Probes (/livez, /readyz) and Prometheus metrics of the sidecar."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading

import pytest
import requests
from flask import Blueprint
from keycloak.exceptions import KeycloakGetError
from prometheus_client import REGISTRY

from idp_extension import metrics
from idp_extension.audit import AuditEvent, CountedAuditLog, MemoryAuditLog, Outcome
from idp_extension.gateway.errors import GatewayError, KeycloakUnavailable
from idp_extension.gateway.health import keycloak_problems
from idp_extension.gateway.users import UserDirectory
from idp_extension.keycloak_server import BUILD_OPTIONS, free_port
from idp_extension.mail.errors import MailUnavailable
from idp_extension.mail.message import OutgoingMail
from idp_extension.mail.sender import MemoryMailSender, SmtpMailSender
from idp_extension.settings import load_settings
from idp_extension.tenants import load_tenants
from idp_extension.web import Services, create_app, health
from idp_extension.web.ratelimit import rate_limit

SETTINGS = load_settings({})
TENANTS = load_tenants(SETTINGS.realm_templates_dir)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def make_app(settings=SETTINGS, **kwargs):
    services = Services(audit=MemoryAuditLog(), mail=MemoryMailSender())
    app = create_app(settings, tenants=TENANTS, services=services, **kwargs)
    app.config["TESTING"] = True
    return app


@pytest.mark.parametrize("path", ["/livez", "/healthz"])
def test_liveness_touches_nothing(path):
    # Keycloak's URL points nowhere: liveness must not care.
    app = make_app(SETTINGS.with_overrides(keycloak_url=f"http://127.0.0.1:{free_port()}"))
    response = app.test_client().get(path)
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readiness_fails_while_keycloak_is_unreachable():
    app = make_app(SETTINGS.with_overrides(keycloak_url=f"http://127.0.0.1:{free_port()}"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    problems = response.get_json()["problems"]
    assert len(problems) == len(TENANTS) and all("unreachable" in p for p in problems)


def test_readiness_checks_keycloak_and_the_shared_store(monkeypatch):
    class Store:
        answers = True

        def check(self):
            return self.answers

    store = Store()
    monkeypatch.setattr(health, "keycloak_problems", lambda url, realms: [])
    monkeypatch.setattr(health, "_shared_storage", lambda: store)
    client = make_app().test_client()
    assert client.get("/readyz").status_code == 200

    store.answers = False
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["problems"] == ["rate-limit store unreachable"]


def test_readiness_sees_no_shared_store_with_memory_limits():
    with make_app().test_request_context("/readyz"):
        assert health._shared_storage() is None


class _FakeKeycloak(http.server.BaseHTTPRequestHandler):
    known = {"/realms/pahang"}

    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(200 if self.path in self.known else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_keycloak():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeKeycloak)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_keycloak_readiness_names_each_missing_realm(fake_keycloak):
    before = sample("ispeks_keycloak_request_duration_seconds_count",
                    operation="readiness", outcome="ok")
    assert keycloak_problems(fake_keycloak, ["pahang"]) == []
    assert keycloak_problems(fake_keycloak, ["pahang", "johor"]) == [
        "realm johor: Keycloak answered 404"]
    assert sample("ispeks_keycloak_request_duration_seconds_count",
                  operation="readiness", outcome="ok") == before + 2


def test_metrics_count_requests_by_route_realm_and_status():
    client = make_app().test_client()
    labels = {"route": "/<realm>/", "realm": "kelantan", "method": "GET", "status": "200"}
    before = sample("ispeks_http_requests_total", **labels)
    client.get("/kelantan/")
    client.get("/kelantan/")
    client.get("/nosuchstate/")

    text = client.get("/metrics").get_data(as_text=True)
    assert sample("ispeks_http_requests_total", **labels) == before + 2
    assert 'ispeks_http_requests_total{method="GET",realm="",route="/<realm>/",status="404"}' in text
    assert "ispeks_http_request_duration_seconds_bucket" in text
    assert client.get("/metrics").content_type.startswith("text/plain")


def test_route_labels_never_carry_a_token():
    client = make_app().test_client()
    client.get("/pahang/activation/link/some-secret-token-value")
    assert "some-secret-token-value" not in client.get("/metrics").get_data(as_text=True)


@pytest.mark.parametrize("header", ["X-Forwarded-For", "Forwarded", "X-Real-IP"])
def test_metrics_are_hidden_from_anything_that_came_through_the_proxy(header):
    client = make_app().test_client()
    assert client.get("/metrics", headers={header: "203.0.113.9"}).status_code == 404


def test_rate_limit_refusals_are_counted():
    bp = Blueprint("limited", __name__)

    @bp.get("/limited")
    @rate_limit("1 per minute", methods=["GET"])
    def limited():
        return "ok"

    client = make_app(realm_blueprints=[bp]).test_client()
    before = sample("ispeks_rate_limit_refusals_total", route="/<realm>/limited")
    assert client.get("/pahang/limited").status_code == 200
    assert client.get("/pahang/limited").status_code == 429
    assert client.get("/pahang/limited").status_code == 429
    assert sample("ispeks_rate_limit_refusals_total", route="/<realm>/limited") == before + 2


def test_audit_events_are_counted_as_flow_outcomes():
    inner = MemoryAuditLog()
    audit = CountedAuditLog(inner)
    labels = {"realm": "melaka", "event": "account:first_login:completed", "outcome": "success"}
    failed = {"realm": "melaka", "event": "account:recovery:failed", "outcome": "failure"}
    before, before_failed = sample("ispeks_flow_events_total", **labels), sample(
        "ispeks_flow_events_total", **failed)

    audit.record(AuditEvent.FIRST_LOGIN_COMPLETED, realm="melaka", subject="u1")
    audit.record(AuditEvent.RECOVERY_FAILED, realm="melaka", outcome=Outcome.FAILURE)

    assert inner.events() == ["account:first_login:completed", "account:recovery:failed"]
    assert sample("ispeks_flow_events_total", **labels) == before + 1
    assert sample("ispeks_flow_events_total", **failed) == before_failed + 1


def test_mail_sends_are_timed_with_their_outcome():
    before = sample("ispeks_mail_send_duration_seconds_count", outcome="unavailable")
    sender = SmtpMailSender("127.0.0.1", free_port(), "noreply@ispeks.gov.my", timeout=2)
    with pytest.raises(MailUnavailable):
        sender.send(OutgoingMail(to="a@pahang.gov.my", subject="s", text="t", html="<p>t</p>"))
    assert sample("ispeks_mail_send_duration_seconds_count", outcome="unavailable") == before + 1


class _FakeAdmin:
    def __init__(self, error):
        self.error = error

    def change_current_realm(self, realm):
        pass

    def get_users(self, query):
        if self.error:
            raise self.error
        return []


@pytest.mark.parametrize("error, raised, outcome", [
    (None, None, "ok"),
    (KeycloakGetError("nope", response_code=403), GatewayError, "refused"),
    (KeycloakGetError("down", response_code=503), KeycloakUnavailable, "unavailable"),
    (requests.ConnectionError("refused"), KeycloakUnavailable, "unavailable"),
])
def test_gateway_calls_are_timed_by_verb_and_outcome(error, raised, outcome):
    directory = UserDirectory(_FakeAdmin(error), "pahang")
    before = sample("ispeks_keycloak_request_duration_seconds_count", operation="find",
                    outcome=outcome)
    if raised:
        with pytest.raises(raised):
            directory.find("850214065123")
    else:
        assert directory.find("850214065123") is None
    assert sample("ispeks_keycloak_request_duration_seconds_count", operation="find",
                  outcome=outcome) == before + 1


_WORKER = """
from idp_extension import metrics
metrics.HTTP_REQUESTS.labels(route="/livez", realm="", method="GET", status="200").inc(3)
"""


def test_multiprocess_mode_adds_up_every_workers_counts(tmp_path):
    # gunicorn's workers are separate processes; one scrape must see them all.
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", _WORKER], env=env, check=True)

    body, content_type = metrics.render(tmp_path)
    assert ('ispeks_http_requests_total{method="GET",realm="",route="/livez",status="200"} 6.0'
            in body.decode())
    assert content_type.startswith("text/plain")


def test_the_multiprocess_dir_comes_from_prometheus_own_variable(tmp_path):
    settings = load_settings({"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
    assert settings.metrics_multiproc_dir == tmp_path
    assert settings.as_environment()["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path)


def test_keycloak_is_built_with_its_metrics_on():
    assert "--metrics-enabled=true" in BUILD_OPTIONS
