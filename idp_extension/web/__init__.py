"""The Flask sidecar: activation, first login, recovery and security settings pages."""

from idp_extension.web.app import create_app
from idp_extension.web.services import Services

__all__ = ["Services", "create_app"]
