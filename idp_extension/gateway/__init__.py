"""The one door to Keycloak (DESIGN.md convention 5).

Only modules in this package import python-keycloak. They speak domain verbs and turn
Keycloak's exceptions into the errors defined here.
"""

from idp_extension.gateway.errors import GatewayError, KeycloakUnavailable

__all__ = ["GatewayError", "KeycloakUnavailable"]
