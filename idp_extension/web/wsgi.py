"""WSGI entry point: ``gunicorn idp_extension.web.wsgi:app``.

A setting that cannot be used (a weak secret in production, a bad number) stops the
worker with one line naming the variable, and gunicorn then stops ("App failed to
load"), instead of a traceback per worker.
"""

import sys

from idp_extension.settings import SettingsError, load_settings
from idp_extension.web.app import create_app

# gunicorn's exit status for "the application could not be loaded" (Arbiter.APP_LOAD_ERROR).
APP_LOAD_ERROR = 4

try:
    app = create_app(load_settings())
except SettingsError as exc:
    print(f"iSPEKS sidecar not started: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(APP_LOAD_ERROR) from None
