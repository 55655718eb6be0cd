"""iSPEKS Identity: Keycloak realms, themes and a Flask sidecar for the iSPEKS states."""

__version__ = "0.1.0"
