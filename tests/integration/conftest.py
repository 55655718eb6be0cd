"""Integration fixtures: the real Keycloak (one per session) and a real SMTP inbox.

Keycloak is the official distribution, started by ``idp_extension.keycloak_server`` on
free loopback ports with a data folder of its own, so a session never touches the dev
stack's database. The four state realms are applied once per session.
"""

from __future__ import annotations

import secrets

import pytest

from idp_extension.keycloak_server import KeycloakDistribution, KeycloakServer, free_port
from idp_extension.settings import Settings, load_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def keycloak(tmp_path_factory) -> KeycloakServer:
    """Start the real Keycloak once for the whole test session."""
    base = load_settings()
    data_dir = tmp_path_factory.mktemp("keycloak-data")
    server = KeycloakServer(
        distribution=KeycloakDistribution(base.cache_dir),
        data_dir=data_dir,
        admin_client_id="ispeks-test-bootstrap",
        admin_client_secret=secrets.token_urlsafe(24),
        http_port=free_port(),
        management_port=free_port(),
        themes_dir=base.themes_dir,
        java_home=base.java_home,
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sidecar_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def settings(keycloak: KeycloakServer, sidecar_port: int) -> Settings:
    """Settings for this session: its Keycloak, its admin account, a fresh secret seed."""
    sidecar_url = f"http://127.0.0.1:{sidecar_port}"
    return load_settings().with_overrides(
        keycloak_url=keycloak.url,
        admin_client_id=keycloak.admin_client_id,
        admin_client_secret=keycloak.admin_client_secret,
        client_secret_seed=secrets.token_urlsafe(24),
        secret_key=secrets.token_urlsafe(32),
        sidecar_public_url=sidecar_url,
        extra_redirect_uris=(f"{sidecar_url}/*", "http://127.0.0.1:18765/callback"),
    )
