"""gunicorn settings for the sidecar in production (see deploy/README.md)."""

import multiprocessing
import os
import sys
from pathlib import Path

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


# Prometheus: every worker is a process, so prometheus_client keeps each one's values in
# files under PROMETHEUS_MULTIPROC_DIR (the systemd unit points it at its
# RuntimeDirectory) and /metrics adds them up. Files left by an earlier run would be
# counted again: clear them before the first worker starts.
_METRICS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def on_starting(server):
    """Refuse unshared rate-limit state, then clear stale metric files.

    Runs in the master before any worker, once command-line options (--workers) are in.
    In-process rate-limit counters and claims would be split by several workers: exit
    with one line naming the variable (no traceback).
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
    if _METRICS_DIR:
        folder = Path(_METRICS_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()


def child_exit(server, worker):
    if _METRICS_DIR:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
