"""gunicorn's access log without secrets: ``--logger-class idp_extension.web.access_log.RedactingLogger``.

Emailed links carry their single-use token in the path (``/<realm>/activation/link/<token>``),
so excluding the query string (deploy/gunicorn.conf.py) is not enough: every atom a log
format may use (request line, path, query, referer, headers, environ) is cleaned before
formatting, whatever format the deployment chooses.
"""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

REDACTED = "[REDACTED]"
# "/link/<token>" of any flow's emailed link, up to the next "/", "?", "#", space or quote.
_LINK_TOKEN = re.compile(r"(/link/)[^/?#\s\"']+")
# Query parameters that carry credentials in other protocols (OIDC callbacks, ...).
_SECRET_PARAMS = re.compile(r"((?:^|[?&])(?:token|code|state|session_state|password)=)[^&#\s\"']*",
                            re.IGNORECASE)
# Headers whose whole value is a secret (the activation cookie holds the token).
_SECRET_ATOMS = frozenset({
    "{cookie}i", "{authorization}i", "{set-cookie}o",
    "{http_cookie}e", "{http_authorization}e",
})


def redact(text: str) -> str:
    """Return ``text`` with link tokens and credential-like query values masked."""
    return _SECRET_PARAMS.sub(r"\1" + REDACTED, _LINK_TOKEN.sub(r"\1" + REDACTED, text))


class RedactingLogger(Logger):
    """gunicorn's logger, with every access-log atom passed through ``redact``."""

    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        for key, value in list(atoms.items()):
            if key.lower() in _SECRET_ATOMS:
                atoms[key] = REDACTED
            elif isinstance(value, str):
                atoms[key] = redact(value)
        return atoms
