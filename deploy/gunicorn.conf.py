"""gunicorn settings for the sidecar in production (see deploy/README.md)."""

import multiprocessing
import sys

bind = "127.0.0.1:5000"
# The sidecar mostly waits on Keycloak and SMTP, and an activation request holds its
# thread for at least its 0.35 s padding (decoys must take as long as real sends): a
# worker answers at most threads / 0.35 such requests a second. 32 threads (about 90/s
# per worker) keep the padding from being the bottleneck; Keycloak is.
workers = max(2, multiprocessing.cpu_count())
threads = 32
timeout = 30
graceful_timeout = 20
accesslog = "-"
# Never log query strings; emailed links carry single-use tokens in the path
# (/<realm>/activation/link/<token>): the logger class masks them in every atom.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss'
logger_class = "idp_extension.web.access_log.RedactingLogger"
forwarded_allow_ips = "127.0.0.1"


def on_starting(server):
    """Refuse in-process rate-limit counters and claims that several workers would split.

    Runs in the master before any worker, once command-line options (--workers) are in;
    exits with one line naming the variable (no traceback).
    """
    from idp_extension.settings import SettingsError, load_settings
    from idp_extension.shared_state import unshared_state_refusal

    try:
        refusal = unshared_state_refusal(load_settings(), workers=server.cfg.workers)
    except SettingsError as exc:
        refusal = str(exc)
    if refusal:
        if server.pidfile is not None:
            server.pidfile.unlink()
        sys.exit(f"Error: {refusal}")
