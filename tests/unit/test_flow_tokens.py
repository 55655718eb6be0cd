"""Link tokens: signature, purpose, realm, expiry by the injected clock, nonce digests."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from itsdangerous import URLSafeSerializer

from idp_extension.flows.ports import ManualClock
from idp_extension.flows.tokens import (
    LinkExpired, LinkSigner, LinkTampered, LinkUsedOrSuperseded, LinkWrongRealm,
    check_current, nonce_attribute, nonce_digest,
)

SECRET = "token-test-secret"
SUB = "6f1c2a8e-1111-4c4c-9d9d-0123456789ab"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def signer(clock, purpose="activation", secret=SECRET, minutes=30) -> LinkSigner:
    return LinkSigner(secret, purpose, timedelta(minutes=minutes), clock)


def test_round_trip_gives_back_realm_user_and_nonce(clock):
    issued = signer(clock).issue("pahang", SUB)

    payload = signer(clock).read(issued.token, "pahang")

    assert payload == issued.payload
    assert (payload.realm, payload.sub, payload.purpose) == ("pahang", SUB, "activation")
    assert payload.expires_at - payload.issued_at == timedelta(minutes=30)


def test_nonce_has_at_least_128_bits_and_differs_every_time(clock):
    nonces = {signer(clock).issue("pahang", SUB).payload.nonce for _ in range(50)}
    assert len(nonces) == 50
    for nonce in nonces:
        assert len(base64.urlsafe_b64decode(nonce + "==")) >= 16


def test_token_is_url_safe_and_short(clock):
    token = signer(clock).issue("pahang", SUB).token
    assert len(token) < 300
    assert all(c.isalnum() or c in "-_." for c in token)


def test_expiry_is_checked_against_the_injected_clock(clock):
    token = signer(clock).issue("pahang", SUB).token

    clock.advance(minutes=30)
    signer(clock).read(token, "pahang")
    clock.advance(seconds=1)

    with pytest.raises(LinkExpired) as caught:
        signer(clock).read(token, "pahang")
    assert (caught.value.code, caught.value.http_status) == ("activation.link_expired", 410)


def test_lifetime_is_the_readers_so_a_shorter_setting_applies_to_old_links(clock):
    token = signer(clock, minutes=30).issue("pahang", SUB).token
    clock.advance(minutes=11)
    with pytest.raises(LinkExpired):
        signer(clock, minutes=10).read(token, "pahang")


def test_purpose_salts_the_signature(clock):
    token = signer(clock, purpose="recovery").issue("pahang", SUB).token
    with pytest.raises(LinkTampered) as caught:
        signer(clock).read(token, "pahang")
    assert caught.value.code == "activation.link_tampered"


def test_another_key_does_not_verify(clock):
    token = signer(clock, secret="other").issue("pahang", SUB).token
    with pytest.raises(LinkTampered):
        signer(clock).read(token, "pahang")


def test_wrong_realm_is_told_apart_from_tampering(clock):
    token = signer(clock).issue("kelantan", SUB).token
    with pytest.raises(LinkWrongRealm) as caught:
        signer(clock).read(token, "pahang")
    assert (caught.value.code, caught.value.http_status) == ("activation.link_wrong_realm", 400)


@pytest.mark.parametrize("payload", [
    {"realm": "pahang", "sub": SUB, "nonce": "n"},                       # no iat
    {"realm": "pahang", "sub": SUB, "nonce": "", "iat": 1},              # empty nonce
    {"realm": "pahang", "sub": 5, "nonce": "n", "iat": 1},               # wrong type
    {"realm": "pahang", "sub": SUB, "nonce": "n", "iat": "soon"},        # bad time
    {"realm": "pahang", "sub": SUB, "nonce": "n", "iat": 10 ** 20},      # absurd time
    ["pahang", SUB],
])
def test_genuinely_signed_but_malformed_payloads_are_tampered(clock, payload):
    token = URLSafeSerializer(SECRET, salt="ispeks:activation").dumps(payload)
    with pytest.raises(LinkTampered):
        signer(clock).read(token, "pahang")


def test_payload_cannot_be_edited(clock):
    token = signer(clock).issue("pahang", SUB).token
    body, _, signature = token.partition(".")
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    data["realm"] = "kelantan"
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    with pytest.raises(LinkTampered):
        signer(clock).read(f"{forged}.{signature}", "kelantan")


def test_oversized_tokens_are_refused_unread(clock):
    with pytest.raises(LinkTampered):
        signer(clock).read("a" * 2000, "pahang")


def test_only_the_current_nonce_digest_is_accepted(clock):
    first = signer(clock).issue("pahang", SUB).payload
    second = signer(clock).issue("pahang", SUB).payload

    check_current(second, nonce_digest(second.nonce))
    # The raw nonce (not its digest), nothing, or an empty value: all refused.
    for stored in (second.nonce, None, ""):
        with pytest.raises(LinkUsedOrSuperseded):
            check_current(second, stored)
    with pytest.raises(LinkUsedOrSuperseded) as caught:
        check_current(first, nonce_digest(second.nonce))
    assert (caught.value.code, caught.value.http_status) == ("activation.link_used", 410)


def test_digest_is_sha256_hex_and_attribute_names_follow_the_purpose():
    assert nonce_digest("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert nonce_attribute("activation") == "ispeks_nonce_activation"


def test_a_signer_needs_a_key(clock):
    with pytest.raises(ValueError):
        LinkSigner("", "activation", timedelta(minutes=30), clock)
