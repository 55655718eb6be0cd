"""gunicorn settings for the sidecar in production (see deploy/README.md)."""

import multiprocessing

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
