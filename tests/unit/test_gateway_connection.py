"""The provisioning client's HTTP options (no Keycloak needed: nothing is sent)."""

from __future__ import annotations

import secrets

from idp_extension.gateway.connection import PROVISIONING_TIMEOUT, bootstrap_admin
from idp_extension.settings import load_settings


def test_the_provisioning_client_never_repeats_a_request_and_waits_long_enough():
    settings = load_settings({}).with_overrides(admin_client_secret=secrets.token_urlsafe(32))
    connection = bootstrap_admin(settings).connection
    assert connection.timeout == PROVISIONING_TIMEOUT >= 120
    for scheme in ("http://", "https://"):
        retries = connection._s.get_adapter(scheme).max_retries
        # A POST that timed out is not sent again (it may have worked: 409 on a realm).
        assert retries.total == 0
