"""gunicorn settings for the sidecar in production (see deploy/README.md)."""

import multiprocessing

bind = "127.0.0.1:5000"
# The sidecar mostly waits on Keycloak and SMTP: a few threads per worker.
workers = max(2, multiprocessing.cpu_count())
threads = 4
timeout = 30
graceful_timeout = 20
accesslog = "-"
# Never log query strings: activation and recovery links carry single-use tokens.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss'
forwarded_allow_ips = "127.0.0.1"
