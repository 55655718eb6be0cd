"""Session fixtures for the real parts: Keycloak, an SMTP inbox, realms, the sidecar.

Keycloak is the official distribution, started by ``idp_extension.keycloak_server`` on
free loopback ports with a data folder of its own, so a session never touches the dev
stack's database; it starts once per session, and only if a test asks for it. The SMTP
server is the project's development inbox (aiosmtpd) on a free loopback port.
"""

from __future__ import annotations

import secrets

import pytest

from idp_extension.keycloak_server import KeycloakDistribution, KeycloakServer, free_port
from idp_extension.mail.inbox import MailInbox
from idp_extension.realms.apply import apply_states
from idp_extension.settings import Settings, load_settings
from idp_extension.sidecar_process import SidecarProcess
from idp_extension.tenants import list_states

OIDC_TEST_CALLBACK = "http://127.0.0.1:18765/callback"
KEYCLOAK_START_TIMEOUT = 420.0


@pytest.fixture(scope="session")
def keycloak(tmp_path_factory) -> KeycloakServer:
    """Start the real Keycloak once for the whole test session."""
    base = load_settings()
    server = KeycloakServer(
        distribution=KeycloakDistribution(base.cache_dir),
        data_dir=tmp_path_factory.mktemp("keycloak-data"),
        admin_client_id="ispeks-test-bootstrap",
        admin_client_secret=secrets.token_urlsafe(24),
        http_port=free_port(),
        management_port=free_port(),
        themes_dir=base.themes_dir,
        java_home=base.java_home,
    )
    # A first start creates the master realm: minutes when the machine is busy.
    server.start(timeout=KEYCLOAK_START_TIMEOUT)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mail_inbox() -> MailInbox:
    """A real SMTP server on loopback that keeps what it receives."""
    inbox = MailInbox(port=free_port()).start()
    yield inbox
    inbox.stop()


@pytest.fixture(scope="session")
def sidecar_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def settings(keycloak: KeycloakServer, mail_inbox: MailInbox, sidecar_port: int,
             tmp_path_factory) -> Settings:
    """Settings for this session: its Keycloak, its inbox, fresh secrets."""
    sidecar_url = f"http://127.0.0.1:{sidecar_port}"
    return load_settings().with_overrides(
        keycloak_url=keycloak.url,
        admin_client_id=keycloak.admin_client_id,
        admin_client_secret=keycloak.admin_client_secret,
        # realms apply writes each realm's random client secrets here.
        credentials_dir=tmp_path_factory.mktemp("credentials"),
        secret_key=secrets.token_urlsafe(32),
        sidecar_public_url=sidecar_url,
        smtp_host="127.0.0.1",
        smtp_port=mail_inbox.port,
        audit_log_path=tmp_path_factory.mktemp("audit") / "audit.jsonl",
        # Exact URLs only: the demo portal's callback comes with demo_portal (realms.render).
        extra_redirect_uris=(OIDC_TEST_CALLBACK,),
        demo_portal=True,
    )


@pytest.fixture(scope="session")
def provisioned_realms(settings: Settings) -> Settings:
    """Apply every values file's realm once per session; return the session's settings."""
    apply_states(settings, list_states(settings.realm_templates_dir))
    return settings


@pytest.fixture(scope="session")
def sidecar(provisioned_realms: Settings, sidecar_port: int, tmp_path_factory) -> SidecarProcess:
    """The sidecar under real gunicorn, configured with the session's settings."""
    log = tmp_path_factory.mktemp("sidecar") / "gunicorn.log"
    process = SidecarProcess(provisioned_realms, sidecar_port, log_path=log).start()
    yield process
    process.stop()


@pytest.fixture
def stack(provisioned_realms: Settings, mail_inbox: MailInbox, tmp_path):
    """An in-process sidecar on the session's Keycloak and inbox (tests/support/inprocess.py)."""
    from tests.support.inprocess import Stack

    return Stack(provisioned_realms, mail_inbox, tmp_path / "audit.jsonl")


@pytest.fixture
def seed(request) -> str:
    """This test's own seed for synthetic people: new people in the session's Keycloak."""
    return f"{request.module.__name__.rsplit('.', 1)[-1]}:{request.node.name}"
