"""Authenticated python-keycloak clients for the two kinds of caller.

* Provisioning (state IT's CLI) uses the master realm's bootstrap service account.
* The sidecar uses its own realm's confidential client, whose service account holds
  only that realm's user-management roles.
"""

from __future__ import annotations

from keycloak import KeycloakAdmin, KeycloakOpenIDConnection

from idp_extension.settings import Settings

SIDECAR_CLIENT_ID = "ispeks-sidecar"


def bootstrap_admin(settings: Settings, realm: str = "master") -> KeycloakAdmin:
    """An admin client authenticated in master, sending its calls to ``realm``."""
    connection = KeycloakOpenIDConnection(
        server_url=settings.admin_api_url,
        realm_name=realm,
        # The token realm is cached separately: set it explicitly (KEYCLOAK-NOTES.md).
        user_realm_name="master",
        client_id=settings.admin_client_id,
        client_secret_key=settings.admin_client_secret,
        verify=True,
        timeout=30,
    )
    return KeycloakAdmin(connection=connection)


def sidecar_admin(settings: Settings, realm: str, *, pool_size: int | None = None) -> KeycloakAdmin:
    """An admin client authenticated as the realm's own sidecar service account.

    ``pool_size``: HTTP connections kept open to Keycloak (default urllib3's 10); give
    the number of threads that share this client.
    """
    connection = KeycloakOpenIDConnection(
        server_url=settings.admin_api_url,
        realm_name=realm,
        user_realm_name=realm,
        client_id=SIDECAR_CLIENT_ID,
        client_secret_key=settings.sidecar_client_secret(realm),
        verify=True,
        timeout=10,
        pool_maxsize=pool_size,
    )
    return KeycloakAdmin(connection=connection)
