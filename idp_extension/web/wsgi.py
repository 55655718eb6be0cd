"""WSGI entry point: ``gunicorn idp_extension.web.wsgi:app``."""

from idp_extension.settings import load_settings
from idp_extension.web.app import create_app

app = create_app(load_settings())
