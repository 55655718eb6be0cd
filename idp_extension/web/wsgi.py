"""WSGI entry point: ``gunicorn -c deploy/gunicorn.conf.py idp_extension.web.wsgi:app``.

A configuration the sidecar refuses (a weak secret in production, a bad number,
in-process rate-limit storage where several processes run) stops gunicorn with one line
that names the variable and what to set, not a traceback: gunicorn prints an
AppImportError's message alone and exits ("App failed to load").
``deploy/gunicorn.conf.py`` checks the storage in gunicorn's master first, where the
number of workers is known.
"""

from gunicorn.errors import AppImportError

from idp_extension.settings import SettingsError, load_settings
from idp_extension.shared_state import unshared_state_refusal
from idp_extension.web.app import create_app


def _load():
    try:
        settings = load_settings()
        refusal = unshared_state_refusal(settings)
        if refusal:
            raise SettingsError(refusal)
        return create_app(settings)
    except SettingsError as exc:
        raise AppImportError(f"iSPEKS sidecar not started: {exc}") from None


app = _load()
