"""Errors the gateway raises instead of python-keycloak's or requests' own."""


class GatewayError(RuntimeError):
    """Keycloak answered, but not as expected."""


class KeycloakUnavailable(GatewayError):
    """Keycloak could not be reached or timed out: the caller may retry later."""
