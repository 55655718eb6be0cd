"""WSGI entry point: ``gunicorn -c deploy/gunicorn.conf.py idp_extension.web.wsgi:app``.

A configuration the sidecar refuses (a weak secret in production, a bad number,
in-process rate-limit storage where several processes run) stops the worker with one
line that names the variable and what to set, and gunicorn then stops ("App failed to
load"), instead of a traceback per worker. ``deploy/gunicorn.conf.py`` checks the
storage in gunicorn's master first, where the number of workers is known.
"""

import sys

from idp_extension.settings import SettingsError, load_settings
from idp_extension.shared_state import unshared_state_refusal
from idp_extension.web.app import create_app

# gunicorn's exit status for "the application could not be loaded" (Arbiter.APP_LOAD_ERROR).
APP_LOAD_ERROR = 4


def _load():
    settings = load_settings()
    refusal = unshared_state_refusal(settings)
    if refusal:
        raise SettingsError(refusal)
    return create_app(settings)


try:
    app = _load()
except SettingsError as exc:
    print(f"iSPEKS sidecar not started: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(APP_LOAD_ERROR) from None
