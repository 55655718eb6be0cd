"""The sidecar's one OIDC sign-in: begin at Keycloak, finish at the callback.

First login, the security settings and the demo portal (and the helpdesk console to
come) sign people in the same way: authorization code with PKCE, ``state`` and
``nonce`` (``gateway/oidc.py`` checks them and the tokens), the pending login kept in the
Flask session under the page's key until the callback, for one realm (its issuer) and
for a limited time. The clock is injected: the settings measure on the services'
clock, the pages whose tokens Keycloak dates on the wall clock pass ``time.time``. The
clients come from the services (``Services.oidc``): no view reads a client secret.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from flask import redirect, request, session
from werkzeug.wrappers import Response

from idp_extension.errors import IspeksError
from idp_extension.gateway.oidc import LoginRequest, OidcClient, OidcError, Tokens
from idp_extension.web.language import current_locale

# The browser has this long to sign in at Keycloak before the callback is refused.
PENDING_LOGIN_SECONDS = 15 * 60


@dataclass(frozen=True)
class Finished:
    """A callback that became tokens; ``pending`` is what ``begin`` kept (``at``, extras)."""

    tokens: Tokens
    pending: dict[str, Any]

    @property
    def claims(self) -> dict[str, Any]:
        return self.tokens.id_claims


@dataclass(frozen=True)
class OidcSignIn:
    """One page's sign-in through ``client``; a refused callback raises ``failure``."""

    key: str  # where the pending login waits in the Flask session
    client: OidcClient
    failure: type[IspeksError]
    now: Callable[[], float] = time.time
    pending_seconds: int = PENDING_LOGIN_SECONDS

    def begin(self, *, prompt: str | None = None, max_age: int | None = None,
              action: str | None = None, **keep: Any) -> Response:
        """Send the browser to Keycloak's login; ``keep`` comes back with ``finish``.

        ``action``: a Keycloak application-initiated action (``kc_action``) run after
        the sign-in; it comes back in the pending login as ``action``.
        """
        login = self.client.begin_login(locale=current_locale(), prompt=prompt, max_age=max_age,
                                        action=action)
        if action:
            keep = {**keep, "action": action}
        session[self.key] = {"iss": self.client.issuer, "at": int(self.now()), **keep,
                             **login.pending()}
        return redirect(login.url)

    def forget(self) -> None:
        """Drop a pending login (logging out)."""
        session.pop(self.key, None)

    def finish(self) -> Finished:
        """Turn the callback into tokens, or raise ``failure`` (stale, forged, refused)."""
        pending = session.pop(self.key, None)
        # A login begun for another realm is not this one's.
        if not isinstance(pending, dict) or pending.get("iss") != self.client.issuer:
            raise self.failure("no pending sign-in for this realm")
        if self.now() - pending.get("at", 0) > self.pending_seconds:
            raise self.failure("pending sign-in expired")
        try:
            tokens = self.client.finish_login(LoginRequest.from_pending(pending), request.args)
        except OidcError as exc:
            raise self.failure(f"login refused: {exc.code}") from None
        return Finished(tokens, pending)
