"""Authenticated python-keycloak clients for the three kinds of caller.

* Creating states and changing realm settings (``realms apply``/``rotate-secret``) uses
  the master realm's bootstrap service account.
* State IT's ``users`` commands use the realm's own ``ispeks-state-it`` client, whose
  service account holds only that realm's user-management roles: Pahang's credential
  is refused (403) by Selangor's realm and by its own realm's settings.
* The sidecar uses its realm's confidential client ``ispeks-sidecar``, likewise.

Realm clients' secrets come from the credentials directory (``idp_extension.credentials``).
A token request refused with one secret is retried with the file's other secrets (read
again if the file changed), so a rotation never stops a running sidecar.
"""

from __future__ import annotations

import threading

from keycloak import KeycloakAdmin, KeycloakOpenIDConnection
from keycloak.exceptions import KeycloakAuthenticationError

from idp_extension.credentials import (
    SIDECAR_CLIENT_ID, STATE_IT_CLIENT_ID, CredentialStore, SecretSource, sidecar_secret,
)
from idp_extension.settings import Settings

__all__ = ["SIDECAR_CLIENT_ID", "STATE_IT_CLIENT_ID", "bootstrap_admin", "sidecar_admin",
           "state_it_admin", "realm_client_admin"]


PROVISIONING_TIMEOUT = 120


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
        # Provisioning: creating a realm can take a minute on a loaded host. And no
        # retry: python-keycloak's default repeats a POST that timed out, which
        # answered 409 "Realm ... already exists" for a realm the first POST created.
        timeout=PROVISIONING_TIMEOUT,
        max_retries=0,
    )
    return KeycloakAdmin(connection=connection)


class _RotatingSecretConnection(KeycloakOpenIDConnection):
    """A client-credentials connection that tries its source's other secrets when refused."""

    def __init__(self, *, secrets: SecretSource, **kwargs) -> None:
        self._secrets = secrets
        self._token_lock = threading.Lock()
        candidates = secrets.candidates()
        super().__init__(client_secret_key=candidates[0] if candidates else None,
                         grant_type="client_credentials", **kwargs)

    def get_token(self) -> None:
        with self._token_lock:
            refused: KeycloakAuthenticationError | None = None
            current = self.client_secret_key
            order = [current] + [s for s in self._secrets.candidates() if s != current]
            for secret in order:
                if not secret:
                    continue
                if secret != self.client_secret_key:
                    self.client_secret_key = secret
                    self._keycloak_openid = None  # it keeps the secret it was made with
                try:
                    super().get_token()
                except KeycloakAuthenticationError as exc:
                    refused = exc
                    continue
                self._secrets.worked(secret)
                return
            if refused is not None:
                raise refused
            super().get_token()


def realm_client_admin(settings: Settings, realm: str, client_id: str, secrets: SecretSource,
                       *, pool_size: int | None = None, timeout: int = 10) -> KeycloakAdmin:
    """An admin client authenticated as ``client_id``'s service account in ``realm``."""
    connection = _RotatingSecretConnection(
        secrets=secrets,
        server_url=settings.admin_api_url,
        realm_name=realm,
        user_realm_name=realm,
        client_id=client_id,
        verify=True,
        timeout=timeout,
        pool_maxsize=pool_size,
    )
    return KeycloakAdmin(connection=connection)


def sidecar_admin(settings: Settings, realm: str, *, pool_size: int | None = None) -> KeycloakAdmin:
    """An admin client authenticated as the realm's own sidecar service account.

    ``pool_size``: HTTP connections kept open to Keycloak (default urllib3's 10); give
    the number of threads that share this client.
    """
    return realm_client_admin(settings, realm, SIDECAR_CLIENT_ID, sidecar_secret(settings, realm),
                              pool_size=pool_size)


def state_it_admin(settings: Settings, realm: str) -> KeycloakAdmin:
    """An admin client authenticated as the realm's state-IT service account.

    Raises ``CredentialError`` if the realm's secret file is missing (or, where
    ``settings.strict``, weak).
    """
    source = CredentialStore.from_settings(settings).source(
        realm, STATE_IT_CLIENT_ID, strict=settings.strict)
    return realm_client_admin(settings, realm, STATE_IT_CLIENT_ID, source, timeout=30)
