"""Serve the sidecar under a path prefix ("/idp") behind the reverse proxy.

The prefix comes from ``ISPEKS_SIDECAR_PUBLIC_URL`` (``https://sso.../idp`` → ``/idp``),
never from a request header, so nobody can move the sidecar's links by sending one.
Every request gets ``SCRIPT_NAME=/idp``, so ``url_for``, redirects and cookie paths
carry the prefix; a path that still starts with it (a proxy that passes ``/idp/...``
through unchanged) loses it from ``PATH_INFO``, and one without it (a proxy that
strips it, gunicorn's own ``SCRIPT_NAME``, or a health check or Prometheus on the
sidecar's own port) is served as is.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class PrefixMiddleware:
    """Mount ``app`` at ``prefix`` (e.g. "/idp") whether or not the proxy strips it."""

    def __init__(self, app: WsgiApp, prefix: str) -> None:
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ValueError(f"prefix must look like '/idp', got {prefix!r}")
        self.app = app
        self.prefix = prefix

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # A copy: the server's own environ keeps the path as requested (its access log).
        environ = dict(environ)
        path = environ.get("PATH_INFO", "") or ""
        if path == self.prefix or path.startswith(self.prefix + "/"):
            path = path[len(self.prefix):]
        environ["PATH_INFO"] = path
        environ["SCRIPT_NAME"] = self.prefix
        return self.app(environ, start_response)
