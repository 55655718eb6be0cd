"""An OpenID Connect relying party for one Keycloak realm and one of its clients.

::

    begin_login ──► browser signs in at Keycloak ──► callback ──► finish_login ──► Tokens
     (state, nonce,                                  (state, iss)   (code + verifier;
      PKCE S256)                                                     ID token: signature,
                                                                     iss, aud/azp, sub,
                                                                     times, nonce, at_hash)

Portals trust only Keycloak's tokens, and a realm is a tenant (DESIGN.md): every check
pins the issuer to this client's realm, so a token of another state is refused before a
key is even looked up. Discovery documents and JWKS are cached per issuer in the process
(``MetadataCache``); an unknown ``kid`` (key rotation) refetches the JWKS once.

python-keycloak's ``KeycloakOpenID`` is not used: ``decode_token`` fetches the JWKS on
every call and ``auth_url`` neither encodes nor caches (KEYCLOAK-NOTES.md); what is left
is two form posts, done here with the same error mapping as the rest of the gateway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol
from urllib.parse import quote, urlencode, urlsplit

import requests
from jwcrypto import jwk, jws
from jwcrypto.common import JWException

from idp_extension.credentials import SIDECAR_CLIENT_ID, SecretSource, sidecar_secret
from idp_extension.gateway.errors import KeycloakUnavailable
from idp_extension.metrics import KEYCLOAK_CALLS, timed
from idp_extension.tasks import tasks_in_claims, totp_required_by_claims

# Asymmetric algorithms only: "none" and HMAC (keyed with a public key) are classic forgeries.
SIGNING_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)
DEFAULT_SCOPE = "openid profile email"
METADATA_TTL_SECONDS = 600.0
# An unknown kid may refetch the JWKS at most this often: forged kids must not turn
# every request into a fetch from Keycloak.
REFETCH_COOLDOWN_SECONDS = 10.0
CLOCK_LEEWAY_SECONDS = 30
# Token-endpoint errors meaning "wrong client secret" (Keycloak says unauthorized_client).
CLIENT_REFUSED = frozenset({"unauthorized_client", "invalid_client"})


class OidcError(Exception):
    """A login or token was refused; ``code`` says why (never contains a token)."""

    def __init__(self, code: str, detail: str | None = None) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


# -- HTTP ---------------------------------------------------------------------------------


class Transport(Protocol):
    """The two HTTP calls the kit makes (a fake in unit tests)."""

    def get_json(self, url: str) -> dict[str, Any]: ...

    def post_form(self, url: str, data: Mapping[str, str]) -> tuple[int, dict[str, Any]]: ...


class RequestsTransport:
    """``Transport`` over requests; unreachable or failing Keycloak → KeycloakUnavailable."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def get_json(self, url: str) -> dict[str, Any]:
        """GET ``url`` and return its JSON object."""
        response = self._send("GET", url)
        if response.status_code != 200:
            raise OidcError("metadata_unavailable", f"GET {url} answered {response.status_code}")
        body = _json_object(response)
        if body is None:
            raise OidcError("metadata_unavailable", f"GET {url} did not answer a JSON object")
        return body

    def post_form(self, url: str, data: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """POST ``data`` form-encoded; return the status and the JSON body (or {})."""
        response = self._send("POST", url, data=dict(data))
        return response.status_code, _json_object(response) or {}

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        # The endpoint's last path segment (token, certs, logout, openid-configuration).
        operation = "oidc_" + urlsplit(url).path.rstrip("/").rpartition("/")[2]
        with timed(KEYCLOAK_CALLS, operation=operation, outcome="unavailable") as labels:
            try:
                response = requests.request(
                    method, url, timeout=self.timeout, headers={"Accept": "application/json"},
                    allow_redirects=False, **kwargs,
                )
            except requests.RequestException as exc:
                raise KeycloakUnavailable(f"Keycloak unreachable: {type(exc).__name__}") from exc
            if response.status_code >= 500:
                raise KeycloakUnavailable(f"Keycloak error {response.status_code} on {method}")
            labels["outcome"] = "ok" if response.status_code < 400 else "refused"
            return response


def _json_object(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


# -- the per-issuer cache ---------------------------------------------------------------


@dataclass
class _Entry:
    value: Any
    fetched_at: float


class MetadataCache:
    """Discovery documents and signing keys by issuer, each kept ``ttl`` seconds."""

    def __init__(self, ttl: float = METADATA_TTL_SECONDS,
                 refetch_cooldown: float = REFETCH_COOLDOWN_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.refetch_cooldown = refetch_cooldown
        self.clock = clock
        self._discovery: dict[str, _Entry] = {}
        self._keys: dict[str, _Entry] = {}
        self._forced_at: dict[str, float] = {}
        self._locks: dict[str, threading.RLock] = {}
        self._guard = threading.Lock()

    def discovery(self, issuer: str, fetch: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The issuer's discovery document, fetched when missing or stale."""
        with self._lock(issuer):
            return self._fresh(self._discovery, issuer, fetch)

    def signing_key(self, issuer: str, kid: str,
                    fetch: Callable[[], dict[str, jwk.JWK]]) -> jwk.JWK | None:
        """The issuer's signing key ``kid``; an unknown kid refetches once (rotation)."""
        with self._lock(issuer):
            key = self._fresh(self._keys, issuer, fetch).get(kid)
            if key is None and self._may_refetch(issuer):
                self._forced_at[issuer] = self.clock()
                self._keys[issuer] = _Entry(fetch(), self.clock())
                key = self._keys[issuer].value.get(kid)
            return key

    def _may_refetch(self, issuer: str) -> bool:
        last = self._forced_at.get(issuer)
        return last is None or self.clock() - last >= self.refetch_cooldown

    def clear(self) -> None:
        """Forget everything (tests; a realm re-provisioned with new keys)."""
        with self._guard:
            self._discovery.clear()
            self._keys.clear()
            self._forced_at.clear()

    def _fresh(self, store: dict[str, _Entry], issuer: str, fetch: Callable[[], Any]) -> Any:
        entry = store.get(issuer)
        now = self.clock()
        if entry is None or now - entry.fetched_at >= self.ttl:
            entry = store[issuer] = _Entry(fetch(), now)
        return entry.value

    def _lock(self, issuer: str) -> threading.RLock:
        # One lock per issuer: concurrent requests share one fetch, realms don't wait.
        # Reentrant: fetching the keys first reads the discovery document (jwks_uri).
        with self._guard:
            return self._locks.setdefault(issuer, threading.RLock())


# Shared by every OidcClient of the process unless one is given its own.
DEFAULT_CACHE = MetadataCache()


# -- values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginRequest:
    """One started login: the URL to send the browser to and the secrets to finish it."""

    url: str
    state: str
    nonce: str
    code_verifier: str = field(repr=False)
    max_age: int | None = None

    def pending(self) -> dict[str, Any]:
        """The part to keep until the callback (without the URL, to stay small)."""
        return {"state": self.state, "nonce": self.nonce, "code_verifier": self.code_verifier,
                "max_age": self.max_age}

    @classmethod
    def from_pending(cls, values: Mapping[str, Any]) -> "LoginRequest":
        """Rebuild a request from ``pending()``."""
        return cls(url="", state=values["state"], nonce=values["nonce"],
                   code_verifier=values["code_verifier"], max_age=values.get("max_age"))


@dataclass(frozen=True)
class Tokens:
    """What a finished login gives: the raw tokens and their verified claims."""

    id_token: str = field(repr=False)
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    id_claims: Mapping[str, Any]
    access_claims: Mapping[str, Any]
    expires_in: int | None = None

    @property
    def tasks(self) -> tuple[str, ...]:
        """The user's tasks from the ``tugas`` claim (``ac:pelulus``, ...), sorted,
        without the ``totp-wajib`` marker (README, "Tasks")."""
        return tasks_of(self.id_claims) or tasks_of(self.access_claims)

    @property
    def totp_required(self) -> bool:
        """True if the user holds a task that requires TOTP (the claim's marker)."""
        return totp_required(self.id_claims) or totp_required(self.access_claims)


def tasks_of(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """The tasks in verified ``claims`` (ID token, access token or userinfo)."""
    return tasks_in_claims(claims)


def totp_required(claims: Mapping[str, Any]) -> bool:
    """True if verified ``claims`` carry ``totp-wajib`` in ``tugas``."""
    return totp_required_by_claims(claims)


# -- the client -----------------------------------------------------------------------------


class OidcClient:
    """The relying party of one client (``client_id``) in one realm."""

    def __init__(
        self,
        keycloak_url: str,
        realm: str,
        client_id: str,
        client_secret: "str | SecretSource | None" = None,
        redirect_uri: str | None = None,
        http_timeout: float = 10.0,
        *,
        transport: Transport | None = None,
        cache: MetadataCache | None = None,
        clock: Callable[[], float] = time.time,
        leeway: int = CLOCK_LEEWAY_SECONDS,
    ) -> None:
        self.issuer = f"{keycloak_url.rstrip('/')}/realms/{realm}"
        self.realm = realm
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.transport = transport or RequestsTransport(http_timeout)
        self.cache = cache or DEFAULT_CACHE
        self.clock = clock
        self.leeway = leeway

    # -- login ------------------------------------------------------------------------

    def begin_login(self, locale: str | None = None, prompt: str | None = None,
                    max_age: int | None = None, scope: str = DEFAULT_SCOPE,
                    action: str | None = None) -> LoginRequest:
        """Start a code-flow login with PKCE S256; return the URL and the secrets.

        ``action``: a Keycloak application-initiated action (``kc_action``), e.g.
        ``CONFIGURE_TOTP``, run after the sign-in; the callback carries
        ``kc_action_status`` (success, cancelled, error).
        """
        if not self.redirect_uri:
            raise ValueError("this client has no redirect_uri")
        if max_age is not None and (not isinstance(max_age, int) or max_age < 0):
            raise ValueError("max_age must be a non-negative integer")
        # 256 bits each (ASVS 11.5.1 asks for at least 128).
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)  # 86 characters; RFC 7636 allows 43-128
        params = {
            "client_id": self.client_id,
            "response_type": "code",
            "redirect_uri": self.redirect_uri,
            "scope": scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
        }
        optional = {"ui_locales": locale, "prompt": prompt,
                    "max_age": None if max_age is None else str(max_age), "kc_action": action}
        params.update({key: value for key, value in optional.items() if value})
        url = _with_query(self._endpoint("authorization_endpoint"), params)
        return LoginRequest(url, state, nonce, verifier, max_age)

    def finish_login(self, request: LoginRequest, callback_query: Mapping[str, str]) -> Tokens:
        """Check the callback, exchange the code, verify the tokens; return them."""
        returned = callback_query.get("state")
        if not returned or not hmac.compare_digest(str(returned), request.state):
            raise OidcError("state_mismatch")
        # RFC 9207: a callback naming another issuer is a mix-up between realms.
        if callback_query.get("iss") not in (None, self.issuer):
            raise OidcError("wrong_issuer", "authorization response from another issuer")
        if callback_query.get("error"):
            raise OidcError("login_error", str(callback_query["error"]))
        code = callback_query.get("code")
        if not code:
            raise OidcError("missing_code")
        status, body = self._post("token_endpoint", {
            "grant_type": "authorization_code",
            "code": str(code),
            "redirect_uri": self.redirect_uri or "",
            "client_id": self.client_id,
            "code_verifier": request.code_verifier,
        })
        if status != 200:
            raise OidcError("code_rejected", f"{status} {body.get('error', '')}".strip())
        id_token, access_token = body.get("id_token"), body.get("access_token")
        if not isinstance(id_token, str) or not isinstance(access_token, str):
            raise OidcError("missing_token", "the token response lacks an ID or access token")
        id_claims = self.verify_id_token(id_token, nonce=request.nonce, max_age=request.max_age,
                                         access_token=access_token)
        access_claims = self.verify_access_token(access_token)
        if access_claims["sub"] != id_claims["sub"]:
            raise OidcError("subject_mismatch")
        expires_in = body.get("expires_in")
        return Tokens(id_token, access_token, body.get("refresh_token"), id_claims,
                      access_claims, expires_in if isinstance(expires_in, int) else None)

    # -- verification ----------------------------------------------------------------

    def verify_id_token(self, token: str, *, nonce: str | None, max_age: int | None = None,
                        access_token: str | None = None) -> dict[str, Any]:
        """Verify an ID token issued to this client; return its claims."""
        claims, alg = self._verified_claims(token, expected_type="ID")
        if "iat" not in claims:
            raise OidcError("malformed", "ID token without iat")
        audiences = _audiences(claims)
        if self.client_id not in audiences:
            raise OidcError("wrong_audience")
        if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != self.client_id:
            raise OidcError("wrong_audience", "azp is not this client")
        if nonce is not None and not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
            raise OidcError("nonce_mismatch")
        if max_age is not None:
            auth_time = claims.get("auth_time")
            if not _is_number(auth_time) or auth_time + max_age + self.leeway < self.clock():
                raise OidcError("expired", "authentication older than max_age")
        if access_token is not None and "at_hash" in claims:
            if not hmac.compare_digest(str(claims["at_hash"]), token_hash(access_token, alg)):
                raise OidcError("at_hash_mismatch")
        return claims

    def verify_access_token(self, token: str, *, audience: str | None = None) -> dict[str, Any]:
        """Verify an access token of THIS realm meant for ``audience`` (default: this client).

        The audience is required, not optional: another client's token of the same realm
        (``azp`` alone is not enough) is refused. The realm template gives every client an
        audience mapper that names the client itself in ``aud``.
        """
        claims, _ = self._verified_claims(token, expected_type="Bearer")
        if (audience or self.client_id) not in _audiences(claims):
            raise OidcError("wrong_audience")
        return claims

    def _verified_claims(self, token: str, *, expected_type: str) -> tuple[dict[str, Any], str]:
        header, unverified = _peek(token)
        # The issuer first, before any key lookup: another realm's token costs no fetch.
        if unverified.get("iss") != self.issuer:
            raise OidcError("wrong_issuer")
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in SIGNING_ALGORITHMS:
            raise OidcError("bad_algorithm", str(alg))
        if not isinstance(kid, str) or not kid:
            raise OidcError("unknown_key", "no kid")
        key = self.cache.signing_key(self.issuer, kid, self._fetch_keys)
        if key is None:
            raise OidcError("unknown_key", kid)
        if key.get("alg") not in (None, alg):
            raise OidcError("bad_algorithm", f"{alg} with a {key.get('alg')} key")
        signed = jws.JWS()
        signed.allowed_algs = list(SIGNING_ALGORITHMS)
        try:
            signed.deserialize(token)
            signed.verify(key, alg=alg)
            claims = json.loads(signed.payload)
        except (JWException, ValueError) as exc:
            raise OidcError("bad_signature", type(exc).__name__) from None
        if not isinstance(claims, dict):  # the issuer was checked on these same bytes
            raise OidcError("malformed", "claims not a JSON object")
        self._check_times(claims)
        # Who the token is about: without a subject there is no one to sign in.
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise OidcError("malformed", "no sub")
        # Keycloak's own claim: an ID token must not pass as an access token, nor back.
        if claims.get("typ", expected_type) != expected_type:
            raise OidcError("wrong_token_type", str(claims.get("typ")))
        return claims, alg

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self.clock()
        exp = claims.get("exp")
        if not _is_number(exp):
            raise OidcError("malformed", "no exp")
        if now > exp + self.leeway:
            raise OidcError("expired")
        for name in ("iat", "nbf"):
            value = claims.get(name)
            if value is not None and (not _is_number(value) or value > now + self.leeway):
                raise OidcError("not_yet_valid", name)

    # -- logout ------------------------------------------------------------------------

    def logout_url(self, post_logout_redirect_uri: str, *,
                   id_token_hint: str | None = None) -> str:
        """Where to send the browser to end its Keycloak session (RP-initiated logout).

        Without ``id_token_hint`` (nothing keeps ID tokens in a cookie) Keycloak checks
        the URI against this client's registered post-logout URIs and asks the user to
        confirm the logout on its own page.
        """
        params = {"post_logout_redirect_uri": post_logout_redirect_uri,
                  "client_id": self.client_id}
        if id_token_hint:
            params = {"id_token_hint": id_token_hint, **params}
        return _with_query(self._endpoint("end_session_endpoint"), params)

    def end_session(self, refresh_token: str) -> None:
        """End the Keycloak session of ``refresh_token`` from the back channel."""
        status, body = self._post("end_session_endpoint",
                                  {"client_id": self.client_id, "refresh_token": refresh_token})
        if status not in (200, 204):
            raise OidcError("logout_failed", f"{status} {body.get('error', '')}".strip())

    # -- metadata ----------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        """The realm's discovery document (cached)."""
        return self.cache.discovery(self.issuer, self._fetch_discovery)

    def _endpoint(self, name: str) -> str:
        url = self.discovery().get(name)
        if not isinstance(url, str) or not url:
            raise OidcError("metadata_unavailable", f"discovery has no {name}")
        return url

    def _fetch_discovery(self) -> dict[str, Any]:
        document = self.transport.get_json(f"{self.issuer}/.well-known/openid-configuration")
        # OIDC Discovery 4.3: the document must name the issuer it was fetched for.
        if document.get("issuer") != self.issuer:
            raise OidcError("wrong_issuer", "discovery document names another issuer")
        return document

    def _fetch_keys(self) -> dict[str, jwk.JWK]:
        keys: dict[str, jwk.JWK] = {}
        for entry in self.transport.get_json(self._endpoint("jwks_uri")).get("keys") or []:
            # Keycloak also publishes its encryption key (use "enc"): never verify with it.
            if not isinstance(entry, dict) or not entry.get("kid"):
                continue
            if entry.get("use", "sig") != "sig":
                continue
            try:
                keys[entry["kid"]] = jwk.JWK(**entry)
            except (JWException, ValueError, TypeError):
                continue  # a key type we do not know; tokens signed with it are refused
        return keys

    def _post(self, endpoint: str, data: dict[str, str]) -> tuple[int, dict[str, Any]]:
        # Confidential clients authenticate with client_secret_post; public ones by PKCE.
        url = self._endpoint(endpoint)
        if not self.client_secret:
            return self.transport.post_form(url, data)
        if isinstance(self.client_secret, str):
            return self.transport.post_form(url, {**data, "client_secret": self.client_secret})
        # A secret source (credentials file): during a rotation Keycloak may expect the
        # file's other secret. Keycloak checks the client before the code, so a refused
        # attempt does not use the code up.
        status, body = 401, {"error": "unauthorized_client"}
        for secret in self.client_secret.candidates():
            status, body = self.transport.post_form(url, {**data, "client_secret": secret})
            if status == 401 and body.get("error") in CLIENT_REFUSED:
                continue
            self.client_secret.worked(secret)
            break
        return status, body


# -- helpers ----------------------------------------------------------------------------


_HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


def pkce_challenge(verifier: str) -> str:
    """Return the S256 code challenge of ``verifier`` (RFC 7636)."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def token_hash(token: str, alg: str) -> str:
    """Return the ``at_hash`` of ``token`` for a JWS signed with ``alg`` (OIDC Core 3.1.3.6)."""
    # The hash of the alg's size; EdDSA (Ed25519) pairs with SHA-512.
    hash_function = hashlib.sha512 if alg == "EdDSA" else _HASHES[alg[-3:]]
    digest = hash_function(token.encode("ascii")).digest()
    return _b64url(digest[: len(digest) // 2])


def _audiences(claims: Mapping[str, Any]) -> list[str]:
    audience = claims.get("aud")
    if isinstance(audience, str):
        return [audience]
    if isinstance(audience, list):
        return [entry for entry in audience if isinstance(entry, str)]
    return []


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _with_query(endpoint: str, params: Mapping[str, str]) -> str:
    # quote_via=quote: spaces as %20 and every reserved character escaped.
    separator = "&" if "?" in endpoint else "?"
    return f"{endpoint}{separator}{urlencode(params, quote_via=quote, safe='')}"


def _peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Decode a compact JWS's header and claims WITHOUT verifying (only to refuse early)."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise OidcError("malformed", "not a compact JWS")
    try:
        header, claims = (
            json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
            for part in token.split(".")[:2]
        )
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise OidcError("malformed", "undecodable header or claims") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise OidcError("malformed", "header or claims not a JSON object")
    return header, claims


class OidcClients:
    """Builds each realm's clients for the sidecar's sign-ins (``web/signin.py``).

    The web layer asks for a client by realm and callback; the secrets come from the
    credentials directory here (the sidecar's confidential client) and never pass
    through a view. ``clock`` is the wall clock unless a sign-in injects its own.
    """

    def __init__(self, keycloak_url: str, secret_for: Callable[[str], "str | SecretSource"],
                 http_timeout: float = 10.0) -> None:
        self.keycloak_url = keycloak_url
        self.secret_for = secret_for
        self.http_timeout = http_timeout

    @classmethod
    def from_settings(cls, settings) -> "OidcClients":
        return cls(settings.keycloak_url, lambda realm: sidecar_secret(settings, realm))

    def sidecar(self, realm: str, redirect_uri: str,
                clock: Callable[[], float] = time.time) -> OidcClient:
        """The sidecar's own confidential client of ``realm`` (PKCE and its secret)."""
        return OidcClient(self.keycloak_url, realm, SIDECAR_CLIENT_ID,
                          client_secret=self.secret_for(realm), redirect_uri=redirect_uri,
                          http_timeout=self.http_timeout, clock=clock)

    def public(self, realm: str, client_id: str, redirect_uri: str,
               clock: Callable[[], float] = time.time) -> OidcClient:
        """A public client of ``realm`` (PKCE, no secret): the demo portal's."""
        return OidcClient(self.keycloak_url, realm, client_id, redirect_uri=redirect_uri,
                          http_timeout=self.http_timeout, clock=clock)
