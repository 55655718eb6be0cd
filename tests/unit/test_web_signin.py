"""The sidecar's one OIDC sign-in (web/signin.py) and the tenant-bound request context."""

from __future__ import annotations

from dataclasses import replace

import pytest
from flask import Flask, session

from idp_extension.audit import AuditEvent, MemoryAuditLog, RealmAudit
from idp_extension.errors import BadRequest
from idp_extension.gateway.oidc import LoginRequest, OidcClients, OidcError, Tokens
from idp_extension.mail.sender import MemoryMailSender
from idp_extension.settings import load_settings
from idp_extension.tenants import load_tenant
from idp_extension.web.services import Services
from idp_extension.web.signin import OidcSignIn
from idp_extension.web.tenant import TenantContext

ISSUER = "http://kc.test/realms/pahang"


class Refused(BadRequest):
    code = "test.login_failed"


class FakeClient:
    issuer = ISSUER

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.begun: list[dict] = []
        self.finished: list[tuple[LoginRequest, dict]] = []

    def begin_login(self, locale=None, prompt=None, max_age=None, action=None):
        self.begun.append({"locale": locale, "prompt": prompt, "max_age": max_age,
                           "action": action})
        return LoginRequest(url="http://kc.test/auth?x=1", state="s", nonce="n",
                            code_verifier="v" * 43, max_age=max_age)

    def finish_login(self, request, query):
        if self.fail:
            raise OidcError("invalid_grant")
        self.finished.append((request, dict(query)))
        return Tokens("id", "access", None, {"sub": "u1", "iss": ISSUER}, {})


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def app() -> Flask:
    app = Flask(__name__)
    app.secret_key = "test"
    return app


def test_begin_keeps_the_pending_login_and_finish_turns_the_callback_into_tokens(app):
    client, clock = FakeClient(), Clock(1000.0)
    door = OidcSignIn("page.login", client, Refused, now=clock)
    with app.test_request_context("/begin?lang=en"):
        answer = door.begin(prompt="login", max_age=300, next="index")
        assert answer.status_code == 302 and answer.location == "http://kc.test/auth?x=1"
        kept = dict(session["page.login"])
    assert client.begun[0]["prompt"] == "login" and client.begun[0]["max_age"] == 300
    assert kept["iss"] == ISSUER and kept["at"] == 1000 and kept["next"] == "index"
    assert kept["state"] == "s" and kept["code_verifier"] == "v" * 43

    clock.now += 60
    with app.test_request_context("/callback?code=c&state=s"):
        session["page.login"] = kept
        finished = door.finish()
        assert "page.login" not in session  # one use
    assert finished.claims["sub"] == "u1" and finished.pending["next"] == "index"
    assert client.finished[0][0].state == "s" and client.finished[0][1] == {"code": "c", "state": "s"}


def test_an_application_initiated_action_goes_to_keycloak_and_comes_back_in_the_pending_login(app):
    client = FakeClient()
    door = OidcSignIn("page.login", client, Refused, now=Clock(1000.0))
    with app.test_request_context("/begin"):
        door.begin(action="CONFIGURE_TOTP", next="totp")
        kept = dict(session["page.login"])
    assert client.begun[0]["action"] == "CONFIGURE_TOTP"
    assert kept["action"] == "CONFIGURE_TOTP" and kept["next"] == "totp"


@pytest.mark.parametrize("case", ["missing", "other_realm", "expired", "refused"])
def test_a_stale_forged_or_refused_callback_raises_the_pages_error(app, case):
    client, clock = FakeClient(fail=case == "refused"), Clock(1000.0)
    door = OidcSignIn("page.login", client, Refused, now=clock, pending_seconds=900)
    pending = {"iss": ISSUER, "at": 1000, "state": "s", "nonce": "n", "code_verifier": "v" * 43}
    if case == "other_realm":
        pending["iss"] = "http://kc.test/realms/melaka"
    if case == "expired":
        clock.now += 901
    with app.test_request_context("/callback?code=c&state=s"):
        if case != "missing":
            session["page.login"] = pending
        with pytest.raises(Refused):
            door.finish()
    assert client.finished == []


def test_the_services_build_the_clients_with_their_secrets():
    clients = OidcClients("http://kc.test", lambda realm: f"secret-of-{realm}")
    sidecar = clients.sidecar("pahang", "https://sidecar.test/pahang/settings/callback",
                              clock=lambda: 5.0)
    assert sidecar.client_id == "ispeks-sidecar" and sidecar.client_secret == "secret-of-pahang"
    assert sidecar.issuer == ISSUER and sidecar.clock() == 5.0
    portal = clients.public("pahang", "portal-ispeks", "https://sidecar.test/pahang/portal/callback")
    assert portal.client_secret is None and portal.client_id == "portal-ispeks"


def test_the_tenant_context_knows_its_realm_and_the_public_url():
    settings = replace(load_settings({}), sidecar_public_url="https://sso.example.test/idp")
    tenant = load_tenant(settings.realm_templates_dir, "pahang")
    log = MemoryAuditLog()
    services = Services(audit=log, mail=MemoryMailSender(), directories=lambda realm: realm)
    here = TenantContext(tenant, settings, services)
    assert here.realm == "pahang" and here.directory == "pahang"
    assert isinstance(here.audit, RealmAudit) and here.audit.realm == "pahang"
    here.audit.record(AuditEvent.SETTINGS_SIGNED_OUT, subject="900101061234")
    assert log.entries[-1]["realm"] == "pahang"
    app = Flask(__name__)
    app.add_url_rule("/<realm>/settings/callback", "callback", lambda realm: "")
    with app.test_request_context("/pahang/x", base_url="http://127.0.0.1:5000/idp"):
        assert here.url("callback", realm="pahang") == "https://sso.example.test/idp/pahang/settings/callback"


def test_the_tenant_carries_its_portal_root():
    settings = load_settings({})
    tenant = load_tenant(settings.realm_templates_dir, "pahang")
    assert tenant.portal_root and tenant.portal_root.startswith("http")
