"""gunicorn settings for the sidecar in production (see deploy/README.md)."""

import multiprocessing
import os
import sys
from pathlib import Path

bind = "127.0.0.1:5000"
# The sidecar mostly waits: on Keycloak, on SMTP, and out the fixed floors that keep
# answers alike for every ID (site key 0.25 s, activation request 0.35 s). A thread
# waiting out a floor costs no CPU, but it is held: 200 site-key answers a second keep
# 50 threads busy. 64 threads a worker leave room for bursts and for Keycloak being slow.
workers = max(2, multiprocessing.cpu_count())
threads = 64
# A worker takes no more connections than it has threads. With gunicorn's default (1000)
# a worker whose threads are all busy still accepts connections and queues them behind
# its own threads while the other worker's threads sit idle: on the 2-core machine, 200
# site-key answers a second on one instance made p99 481 ms over the floor. Capped, a
# connection waits in the kernel's backlog for whichever worker frees a thread first.
worker_connections = threads
# nginx opens a connection per request (no upstream keep-alive in deploy/nginx), and a
# kept-alive idle connection would hold one of the slots above.
keepalive = 0
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
