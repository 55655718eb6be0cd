"""Sign in through Keycloak's real login form over plain HTTP, as a browser would.

Test-only: drives the authorization-code flow with PKCE against a portal client, posts
the username-password form, and exchanges the code for tokens. Keycloak marks its
cookies ``Secure`` even on http://127.0.0.1 (browsers accept that on loopback;
requests does not), so the jar is told they are not secure before each request.

Each login comes from a loopback address of its own (as different people would), so
Keycloak's per-address limit on failed posts never mixes tests up; ``source_address``
pins one.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import time
from dataclasses import dataclass, field

import requests

from tests.support.addresses import loopback_session

CALLBACK = "http://127.0.0.1:18765/callback"


@dataclass
class LoginOutcome:
    """What one submission of the login form produced."""

    status: int
    tokens: dict | None = None
    error: str | None = None
    page_id: str | None = None
    seconds: float = 0.0
    body: str = field(default="", repr=False)


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def _unsecure(session: requests.Session) -> None:
    for cookie in session.cookies:
        cookie.secure = False


def _feedback(body: str) -> str | None:
    match = re.search(r'id="input-error[^"]*"[^>]*>(.*?)</span>', body, re.S)
    if not match:
        match = re.search(r'class="[^"]*(?:kc-feedback-text|pf-v5-c-alert__title)[^"]*"[^>]*>(.*?)<', body, re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip() if match else None


def login(
    keycloak_url: str,
    realm: str,
    username: str,
    password: str,
    *,
    client_id: str = "portal-ispeks",
    redirect_uri: str = CALLBACK,
    locale: str | None = None,
    source_address: str | None = None,
) -> LoginOutcome:
    """Run one code-flow login with PKCE; return tokens, or the form's error message."""
    session = loopback_session(source_address)
    verifier, challenge = _pkce_pair()
    state = secrets.token_urlsafe(16)
    params = {
        "client_id": client_id, "response_type": "code", "redirect_uri": redirect_uri,
        "scope": "openid profile email", "state": state,
        "code_challenge": challenge, "code_challenge_method": "S256",
    }
    if locale:
        params["ui_locales"] = locale
    base = f"{keycloak_url}/realms/{realm}/protocol/openid-connect"
    page = session.get(f"{base}/auth", params=params, timeout=30)
    _unsecure(session)
    action = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', page.text)
    if action is None:
        raise AssertionError(f"no login form at {page.url}: {page.text[:500]}")
    began = time.perf_counter()
    answer = session.post(
        html.unescape(action.group(1)), data={"username": username, "password": password},
        allow_redirects=False, timeout=30,
    )
    elapsed = time.perf_counter() - began
    location = answer.headers.get("Location", "")
    if answer.status_code == 302 and location.startswith(redirect_uri):
        query = dict(part.split("=", 1) for part in location.split("?", 1)[1].split("&"))
        assert query.get("state") == state, "state must round-trip"
        tokens = requests.post(
            f"{base}/token",
            data={"grant_type": "authorization_code", "code": query["code"],
                  "redirect_uri": redirect_uri, "client_id": client_id,
                  "code_verifier": verifier},
            timeout=30,
        )
        tokens.raise_for_status()
        return LoginOutcome(302, tokens=tokens.json(), seconds=elapsed)
    page_id = re.search(r'data-page-id="([^"]+)"', answer.text)
    return LoginOutcome(
        answer.status_code, error=_feedback(answer.text), seconds=elapsed,
        page_id=page_id.group(1) if page_id else None, body=answer.text,
    )


def decode_jwt_claims(token: str) -> dict:
    """Read a JWT's claims without verifying it (the test got it from Keycloak itself)."""
    import json

    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
