"""One raw admin request (python-keycloak's raw_*) with the gateway's errors."""

from __future__ import annotations

from typing import Callable

import requests
from keycloak.exceptions import KeycloakError

from idp_extension.gateway.errors import GatewayError, KeycloakUnavailable

UNAVAILABLE = frozenset({502, 503, 504})


def raw_response(action: str, send: Callable[[], requests.Response]) -> requests.Response:
    """Return ``send()``'s response; network trouble and 502-504 become KeycloakUnavailable,
    another error status python-keycloak raises for becomes a GatewayError."""
    try:
        response = send()
    except KeycloakError as exc:
        # raw_* wrap requests' errors; a failed token refresh lands here too.
        if exc.response_code is None or exc.response_code in UNAVAILABLE:
            raise KeycloakUnavailable(f"{action}: Keycloak unreachable ({exc})") from exc
        raise GatewayError(f"{action}: Keycloak said {exc.response_code}") from exc
    except requests.RequestException as exc:
        raise KeycloakUnavailable(f"{action}: Keycloak unreachable ({exc})") from exc
    if response.status_code in UNAVAILABLE:
        raise KeycloakUnavailable(f"{action}: Keycloak unavailable ({response.status_code})")
    return response
