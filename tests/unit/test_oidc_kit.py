"""The portal OIDC kit against a fake Keycloak: URLs, state/nonce/PKCE, token checks, caches."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from jwcrypto import jwk, jws

from idp_extension.gateway.errors import KeycloakUnavailable
from idp_extension.gateway.oidc import (
    LoginRequest, MetadataCache, OidcClient, OidcError, RequestsTransport, pkce_challenge,
    token_hash,
)

KC = "https://sso.example.gov.my"
REALM = "pahang"
ISSUER = f"{KC}/realms/{REALM}"
CLIENT = "portal-ispeks"
CALLBACK = "https://portal.example.gov.my/pahang/portal/callback?x=1&y=2"
NOW = 1_700_000_000.0

KEY = jwk.JWK.generate(kty="RSA", size=2048, kid="key-1", alg="RS256", use="sig")
ROTATED = jwk.JWK.generate(kty="RSA", size=2048, kid="key-2", alg="RS256", use="sig")
IMPOSTOR = jwk.JWK.generate(kty="RSA", size=2048, kid="key-1", alg="RS256", use="sig")


class FakeKeycloak:
    """A realm's discovery, JWKS and token/logout endpoints; counts every call."""

    def __init__(self, issuer: str = ISSUER, keys=(KEY,)) -> None:
        self.issuer = issuer
        self.keys = list(keys)
        self.extra_jwks: list[dict] = []
        self.gets: list[str] = []
        self.posts: list[tuple[str, dict]] = []
        self.token_answer: tuple[int, dict] = (500, {})
        self.logout_answer: tuple[int, dict] = (204, {})
        self.discovery_issuer = issuer

    def get_json(self, url: str) -> dict:
        self.gets.append(url)
        if url == f"{self.issuer}/.well-known/openid-configuration":
            base = f"{self.issuer}/protocol/openid-connect"
            return {"issuer": self.discovery_issuer, "authorization_endpoint": f"{base}/auth",
                    "token_endpoint": f"{base}/token", "jwks_uri": f"{base}/certs",
                    "end_session_endpoint": f"{base}/logout"}
        if url == f"{self.issuer}/protocol/openid-connect/certs":
            return {"keys": [k.export_public(as_dict=True) for k in self.keys] + self.extra_jwks}
        raise AssertionError(f"unexpected GET {url}")

    def post_form(self, url: str, data) -> tuple[int, dict]:
        self.posts.append((url, dict(data)))
        return self.logout_answer if url.endswith("/logout") else self.token_answer

    def count(self, suffix: str) -> int:
        return sum(url.endswith(suffix) for url in self.gets)


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def sign(claims: dict, key: jwk.JWK = KEY, *, alg: str = "RS256", kid: str | None = None) -> str:
    token = jws.JWS(json.dumps(claims).encode())
    token.add_signature(key, alg=alg, protected={"alg": alg, "typ": "JWT", "kid": kid or key.get("kid")})
    return token.serialize(compact=True)


def unsigned(header: dict, claims: dict) -> str:
    part = lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    return f"{part(header)}.{part(claims)}.{part('sig')}"


def id_claims(nonce: str = "the-nonce", **changes) -> dict:
    claims = {"iss": ISSUER, "aud": CLIENT, "azp": CLIENT, "sub": "user-1", "typ": "ID",
              "exp": NOW + 300, "iat": NOW, "auth_time": NOW, "nonce": nonce,
              "name": "NUR AINA BINTI AHMAD", "preferred_username": "900101035555"}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def access_claims(**changes) -> dict:
    claims = {"iss": ISSUER, "aud": [CLIENT, "account"], "azp": CLIENT, "sub": "user-1", "typ": "Bearer",
              "exp": NOW + 300, "iat": NOW, "scope": "openid profile email"}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.fixture
def keycloak() -> FakeKeycloak:
    return FakeKeycloak()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(clock) -> MetadataCache:
    return MetadataCache(ttl=600, refetch_cooldown=10, clock=clock)


@pytest.fixture
def client(keycloak, cache, clock) -> OidcClient:
    return make_client(keycloak, cache, clock)


def make_client(keycloak, cache, clock, *, realm: str = REALM, secret: str | None = None) -> OidcClient:
    return OidcClient(KC, realm, CLIENT, secret, CALLBACK, transport=keycloak, cache=cache,
                      clock=clock)


def refused(code: str, call, *args, **kwargs) -> OidcError:
    with pytest.raises(OidcError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


# -- begin_login ---------------------------------------------------------------------------


def test_login_url_carries_every_parameter_url_encoded(client):
    login = client.begin_login(locale="en", prompt="login", max_age=300)
    parts = urlsplit(login.url)
    query = {k: v[0] for k, v in parse_qs(parts.query, strict_parsing=True).items()}

    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{ISSUER}/protocol/openid-connect/auth"
    assert query == {
        "client_id": CLIENT, "response_type": "code", "redirect_uri": CALLBACK,
        "scope": "openid profile email", "state": login.state, "nonce": login.nonce,
        "code_challenge": pkce_challenge(login.code_verifier), "code_challenge_method": "S256",
        "ui_locales": "en", "prompt": "login", "max_age": "300",
    }
    # Reserved characters of the redirect URI are escaped, spaces are %20.
    encoded = "https%3A%2F%2Fportal.example.gov.my%2Fpahang%2Fportal%2Fcallback%3Fx%3D1%26y%3D2"
    assert f"redirect_uri={encoded}" in parts.query
    assert "scope=openid%20profile%20email" in parts.query


def test_login_parameters_cannot_smuggle_other_parameters(client):
    login = client.begin_login(locale="en&prompt=none&redirect_uri=https://evil.example")
    query = parse_qs(urlsplit(login.url).query)

    assert query["ui_locales"] == ["en&prompt=none&redirect_uri=https://evil.example"]
    assert "prompt" not in query
    assert query["redirect_uri"] == [CALLBACK]


def test_optional_parameters_are_left_out_when_not_given(client):
    query = parse_qs(urlsplit(client.begin_login().url).query)
    assert not {"ui_locales", "prompt", "max_age", "kc_action"} & set(query)


def test_an_application_initiated_action_is_asked_with_kc_action(client):
    """The settings' "turn TOTP on" (issue 12): Keycloak's CONFIGURE_TOTP after sign-in."""
    query = parse_qs(urlsplit(client.begin_login(action="CONFIGURE_TOTP").url).query)
    assert query["kc_action"] == ["CONFIGURE_TOTP"] and "prompt" not in query


def test_state_nonce_and_verifier_are_random_and_long_enough(client):
    logins = [client.begin_login() for _ in range(20)]
    for login in logins:
        for secret in (login.state, login.nonce):
            assert len(base64.urlsafe_b64decode(secret + "==")) >= 16  # >= 128 bits
        assert 43 <= len(login.code_verifier) <= 128  # RFC 7636
    assert len({l.state for l in logins} | {l.nonce for l in logins}) == 40


def test_pkce_challenge_matches_rfc_7636_example():
    assert pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == \
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_a_client_without_redirect_uri_cannot_begin_a_login(keycloak, cache, clock):
    verifier_only = OidcClient(KC, REALM, CLIENT, transport=keycloak, cache=cache, clock=clock)
    with pytest.raises(ValueError):
        verifier_only.begin_login()


def test_pending_login_round_trips_without_url_and_hides_the_verifier(client):
    login = client.begin_login(max_age=60)
    pending = login.pending()

    assert "url" not in pending
    assert LoginRequest.from_pending(json.loads(json.dumps(pending))) == LoginRequest(
        "", login.state, login.nonce, login.code_verifier, 60)
    assert login.code_verifier not in repr(login)


# -- finish_login ----------------------------------------------------------------------------


def answer_tokens(keycloak, login, *, id_token=None, access_token=None):
    access = access_token or sign(access_claims())
    keycloak.token_answer = (200, {
        "access_token": access, "refresh_token": "refresh-1", "expires_in": 300,
        "id_token": id_token or sign(id_claims(login.nonce, at_hash=token_hash(access, "RS256"))),
    })


def test_finish_login_exchanges_the_code_with_the_verifier_and_returns_verified_claims(client, keycloak):
    login = client.begin_login()
    answer_tokens(keycloak, login)

    tokens = client.finish_login(login, {"state": login.state, "code": "the-code", "iss": ISSUER})

    assert tokens.id_claims["preferred_username"] == "900101035555"
    assert tokens.access_claims["typ"] == "Bearer"
    assert tokens.refresh_token == "refresh-1" and tokens.expires_in == 300
    assert keycloak.posts == [(f"{ISSUER}/protocol/openid-connect/token", {
        "grant_type": "authorization_code", "code": "the-code", "redirect_uri": CALLBACK,
        "client_id": CLIENT, "code_verifier": login.code_verifier,
    })]
    assert "refresh-1" not in repr(tokens)


def test_confidential_client_sends_its_secret(keycloak, cache, clock):
    client = make_client(keycloak, cache, clock, secret="s3cret")
    login = client.begin_login()
    answer_tokens(keycloak, login)

    client.finish_login(login, {"state": login.state, "code": "c"})

    assert keycloak.posts[0][1]["client_secret"] == "s3cret"


@pytest.mark.parametrize("query", [
    {"code": "c"},
    {"code": "c", "state": ""},
    {"code": "c", "state": "someone-elses-state"},
])
def test_wrong_or_missing_state_is_refused_before_any_exchange(client, keycloak, query):
    login = client.begin_login()
    refused("state_mismatch", client.finish_login, login, query)
    assert keycloak.posts == []


def test_callback_from_another_realm_is_refused_before_any_exchange(client, keycloak):
    login = client.begin_login()
    query = {"state": login.state, "code": "c", "iss": f"{KC}/realms/kelantan"}
    refused("wrong_issuer", client.finish_login, login, query)
    assert keycloak.posts == []


def test_error_from_keycloak_is_reported(client, keycloak):
    login = client.begin_login()
    error = refused("login_error", client.finish_login, login,
                    {"state": login.state, "error": "access_denied"})
    assert error.detail == "access_denied" and keycloak.posts == []


def test_rejected_code_is_reported(client, keycloak):
    login = client.begin_login()
    keycloak.token_answer = (400, {"error": "invalid_grant"})
    error = refused("code_rejected", client.finish_login, login, {"state": login.state, "code": "c"})
    assert "invalid_grant" in error.detail


def test_id_token_with_another_nonce_is_refused(client, keycloak):
    login = client.begin_login()
    answer_tokens(keycloak, login, id_token=sign(id_claims("replayed-nonce")))
    refused("nonce_mismatch", client.finish_login, login, {"state": login.state, "code": "c"})


def test_id_token_not_bound_to_the_access_token_is_refused(client, keycloak):
    login = client.begin_login()
    other = sign(access_claims(sub="user-1", jti="other"))
    unbound = sign(id_claims(login.nonce, at_hash=token_hash(other, "RS256")))
    answer_tokens(keycloak, login, id_token=unbound)
    refused("at_hash_mismatch", client.finish_login, login, {"state": login.state, "code": "c"})


def test_tokens_about_two_people_are_refused(client, keycloak):
    login = client.begin_login()
    answer_tokens(keycloak, login, access_token=sign(access_claims(sub="user-2")),
                  id_token=sign(id_claims(login.nonce)))
    refused("subject_mismatch", client.finish_login, login, {"state": login.state, "code": "c"})


def test_max_age_refuses_an_old_authentication(client, keycloak):
    login = client.begin_login(max_age=60)
    answer_tokens(keycloak, login, id_token=sign(id_claims(login.nonce, auth_time=NOW - 3600)))
    refused("expired", client.finish_login, login, {"state": login.state, "code": "c"})


# -- ID token checks -------------------------------------------------------------------------


@pytest.mark.parametrize("code, claims", [
    ("wrong_issuer", id_claims(iss=f"{KC}/realms/kelantan")),
    ("wrong_issuer", id_claims(iss=f"{KC}/realms/pahang/")),
    ("wrong_audience", id_claims(aud="ispeks-main", azp="ispeks-main")),
    ("wrong_audience", id_claims(aud="ispeks-main", azp=CLIENT)),
    ("wrong_audience", id_claims(aud=[CLIENT, "ispeks-main"], azp="ispeks-main")),
    ("wrong_audience", id_claims(aud=[CLIENT, "ispeks-main"], azp=None)),
    ("expired", id_claims(exp=NOW - 31)),
    ("not_yet_valid", id_claims(iat=NOW + 120)),
    ("nonce_mismatch", id_claims(nonce="other")),
    ("nonce_mismatch", id_claims(nonce=None)),
    ("wrong_token_type", id_claims(typ="Bearer")),
    ("malformed", id_claims(exp=None)),
    ("wrong_audience", id_claims(aud=None)),
    ("wrong_audience", id_claims(aud=[])),
    ("wrong_audience", id_claims(aud={"portal-ispeks": 1})),
    ("malformed", id_claims(sub=None)),
    ("malformed", id_claims(sub="")),
    ("malformed", id_claims(sub=7)),
])
def test_id_token_is_refused(client, code, claims):
    refused(code, client.verify_id_token, sign(claims), nonce="the-nonce")


def test_id_token_within_leeway_and_with_list_audience_is_accepted(client):
    claims = id_claims(exp=NOW - 20, iat=NOW + 20, aud=[CLIENT, "account"])
    assert client.verify_id_token(sign(claims), nonce="the-nonce")["sub"] == "user-1"


def test_token_signed_by_another_key_with_the_same_kid_is_refused(client):
    refused("bad_signature", client.verify_id_token, sign(id_claims(), IMPOSTOR), nonce="the-nonce")


def test_tampered_claims_are_refused(client):
    header, _, signature = sign(access_claims()).split(".")
    forged = unsigned({}, access_claims(sub="admin")).split(".")[1]
    refused("bad_signature", client.verify_access_token, f"{header}.{forged}.{signature}")


@pytest.mark.parametrize("alg", ["none", "HS256", None])
def test_unsafe_or_missing_algorithms_are_refused(client, alg):
    header = {"typ": "JWT", "kid": "key-1"} | ({"alg": alg} if alg else {})
    refused("bad_algorithm", client.verify_access_token, unsigned(header, access_claims()))


def test_unsafe_algorithm_is_refused_even_when_the_key_names_no_algorithm(client, keycloak):
    keycloak.keys = []
    keycloak.extra_jwks = [{k: v for k, v in KEY.export_public(as_dict=True).items() if k != "alg"}]
    header = {"alg": "none", "typ": "JWT", "kid": "key-1"}
    refused("bad_algorithm", client.verify_access_token, unsigned(header, access_claims()))
    assert keycloak.count("/certs") == 0  # refused before any key is looked up


def test_algorithm_other_than_the_keys_own_is_refused(client):
    private = KEY.export_private(as_dict=True)
    same_key_any_alg = jwk.JWK(**{k: v for k, v in private.items() if k != "alg"})
    token = sign(access_claims(), same_key_any_alg, alg="PS256", kid="key-1")
    refused("bad_algorithm", client.verify_access_token, token)


def test_token_without_kid_is_refused_without_fetching_keys(client, keycloak):
    header = {"alg": "RS256", "typ": "JWT"}
    refused("unknown_key", client.verify_access_token, unsigned(header, access_claims()))
    assert keycloak.count("/certs") == 0


def test_hmac_keyed_with_the_public_key_is_refused(client):
    public = KEY.export_public(as_dict=True)
    hmac_key = jwk.JWK(kty="oct", k=base64.urlsafe_b64encode(json.dumps(public).encode()).decode())
    token = sign(access_claims(), hmac_key, alg="HS256", kid="key-1")
    refused("bad_algorithm", client.verify_access_token, token)


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c.d", "!!.??.xx"])
def test_malformed_tokens_are_refused(client, token):
    refused("malformed", client.verify_access_token, token)


# -- access tokens -----------------------------------------------------------------------------


def test_access_token_of_this_realm_is_accepted(client):
    assert client.verify_access_token(sign(access_claims()))["azp"] == CLIENT


def test_access_token_of_another_realm_is_refused_without_any_fetch(client, keycloak):
    kelantan_token = sign(access_claims(iss=f"{KC}/realms/kelantan"))
    refused("wrong_issuer", client.verify_access_token, kelantan_token)
    assert keycloak.gets == []


def test_access_token_checks_expiry_type_and_audience(client):
    refused("expired", client.verify_access_token, sign(access_claims(exp=NOW - 60)))
    refused("wrong_token_type", client.verify_access_token, sign(id_claims()))
    refused("wrong_audience", client.verify_access_token, sign(access_claims()), audience="ispeks-main")
    assert client.verify_access_token(sign(access_claims()), audience=CLIENT)


@pytest.mark.parametrize("claims", [
    access_claims(aud=None),                          # no audience at all
    access_claims(aud="account"),                     # Keycloak's default without the mapper
    access_claims(aud=["account"], azp=CLIENT),       # azp alone is not the audience
    access_claims(aud=["ispeks-main"], azp="ispeks-main"),  # another client's token
])
def test_access_token_without_this_client_in_aud_is_refused(client, claims):
    refused("wrong_audience", client.verify_access_token, sign(claims))


@pytest.mark.parametrize("sub", [None, "", 42])
def test_access_token_without_a_subject_is_refused(client, sub):
    refused("malformed", client.verify_access_token, sign(access_claims(sub=sub)))


def test_finish_login_refuses_tokens_without_a_subject(client, keycloak):
    login = client.begin_login()
    answer_tokens(keycloak, login, access_token=sign(access_claims(sub=None)),
                  id_token=sign(id_claims(login.nonce)))
    refused("malformed", client.finish_login, login, {"state": login.state, "code": "c"})


# -- caching and key rotation -----------------------------------------------------------------


def test_second_verification_fetches_nothing(client, keycloak):
    for _ in range(5):
        client.verify_access_token(sign(access_claims()))
    client.begin_login()
    assert keycloak.count("/certs") == 1
    assert keycloak.count("/openid-configuration") == 1


def test_cache_is_shared_by_clients_of_the_same_realm(keycloak, cache, clock):
    for _ in range(3):
        make_client(keycloak, cache, clock).verify_access_token(sign(access_claims()))
    assert keycloak.count("/certs") == 1


def test_unknown_kid_refetches_once_then_finds_the_rotated_key(client, keycloak):
    client.verify_access_token(sign(access_claims()))
    keycloak.keys = [ROTATED, KEY]

    client.verify_access_token(sign(access_claims(), ROTATED))
    client.verify_access_token(sign(access_claims(), ROTATED))

    assert keycloak.count("/certs") == 2


def test_kid_still_unknown_after_the_refetch_is_refused_and_not_refetched_again_soon(
    client, keycloak, clock
):
    client.verify_access_token(sign(access_claims()))
    stranger = jwk.JWK.generate(kty="RSA", size=2048, kid="forged-kid")

    refused("unknown_key", client.verify_access_token, sign(access_claims(), stranger))
    refused("unknown_key", client.verify_access_token, sign(access_claims(), stranger))
    assert keycloak.count("/certs") == 2

    clock.now += 11  # past the cooldown: a rotation may have happened since
    refused("unknown_key", client.verify_access_token, sign(access_claims(), stranger))
    assert keycloak.count("/certs") == 3


def test_keys_and_discovery_are_refetched_after_the_ttl(client, keycloak, clock):
    client.verify_access_token(sign(access_claims()))
    clock.now += 601
    client.verify_access_token(sign(access_claims(exp=clock.now + 300, iat=clock.now)))
    assert keycloak.count("/certs") == 2
    assert keycloak.count("/openid-configuration") == 2


def test_encryption_keys_in_the_jwks_never_verify_signatures(client, keycloak):
    signer = jwk.JWK.generate(kty="RSA", size=2048, kid="enc-1")
    keycloak.extra_jwks = [signer.export_public(as_dict=True) | {"use": "enc", "alg": "RSA-OAEP"}]
    refused("unknown_key", client.verify_access_token, sign(access_claims(), signer))


def test_discovery_naming_another_issuer_is_refused_and_not_cached(client, keycloak):
    keycloak.discovery_issuer = f"{KC}/realms/kelantan"
    refused("wrong_issuer", client.begin_login)
    keycloak.discovery_issuer = ISSUER
    assert client.begin_login().url
    assert keycloak.count("/openid-configuration") == 2


# -- logout ------------------------------------------------------------------------------------


def test_logout_url_names_the_client_and_needs_no_id_token(client):
    url = client.logout_url("https://portal.example.gov.my/pahang/portal/")
    assert parse_qs(urlsplit(url).query) == {
        "client_id": [CLIENT], "post_logout_redirect_uri": ["https://portal.example.gov.my/pahang/portal/"]}


def test_logout_url_is_encoded(client):
    url = client.logout_url("https://portal.example.gov.my/pahang/portal/?a=1&b=2",
                            id_token_hint="a.b+c/d")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{ISSUER}/protocol/openid-connect/logout"
    assert parse_qs(parts.query) == {
        "id_token_hint": ["a.b+c/d"], "client_id": [CLIENT],
        "post_logout_redirect_uri": ["https://portal.example.gov.my/pahang/portal/?a=1&b=2"],
    }
    assert "a.b%2Bc%2Fd" in parts.query


def test_end_session_posts_the_refresh_token(client, keycloak):
    client.end_session("refresh-1")
    assert keycloak.posts == [(f"{ISSUER}/protocol/openid-connect/logout",
                               {"client_id": CLIENT, "refresh_token": "refresh-1"})]
    keycloak.logout_answer = (400, {"error": "invalid_grant"})
    refused("logout_failed", client.end_session, "refresh-1")


# -- the real HTTP layer ---------------------------------------------------------------------


def test_unreachable_keycloak_is_keycloak_unavailable():
    client = OidcClient("http://127.0.0.1:1", REALM, CLIENT, redirect_uri=CALLBACK,
                        http_timeout=2, cache=MetadataCache())
    with pytest.raises(KeycloakUnavailable):
        client.begin_login()


class _Answer:
    def __init__(self, status: int, body) -> None:
        self.status_code, self._body = status, body

    def json(self):
        if self._body is None:
            raise ValueError("not json")
        return self._body


def test_server_errors_are_keycloak_unavailable_and_client_errors_are_oidc_errors(monkeypatch):
    answers = iter([_Answer(503, None), _Answer(404, {"error": "Realm does not exist"}),
                    _Answer(200, None), _Answer(400, {"error": "invalid_grant"})])
    monkeypatch.setattr(requests, "request", lambda *args, **kwargs: next(answers))
    transport = RequestsTransport(timeout=1)

    with pytest.raises(KeycloakUnavailable):
        transport.get_json("http://kc/x")
    with pytest.raises(OidcError) as missing:
        transport.get_json("http://kc/x")
    assert missing.value.code == "metadata_unavailable"
    with pytest.raises(OidcError):
        transport.get_json("http://kc/x")
    assert transport.post_form("http://kc/token", {}) == (400, {"error": "invalid_grant"})


def test_at_hash_uses_the_left_half_of_the_algorithms_hash():
    digest = hashlib.sha256(b"token").digest()[:16]
    assert token_hash("token", "RS256") == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert len(token_hash("token", "RS512")) == len(token_hash("token", "ES512")) == 43
