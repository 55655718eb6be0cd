"""Site key (phrase and image before the password): decoys, the real answer, timing, and
the sidecar's endpoint (CORS, origin check, shape, caching headers, gallery embedding)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from idp_extension.audit import MemoryAuditLog
from idp_extension.flows import site_key as S
from idp_extension.gallery import GALLERY, image_by_id
from idp_extension.gateway.errors import KeycloakUnavailable
from idp_extension.gateway.users import ACTIVATION_STATE, DirectoryUser
from idp_extension.mail.sender import MemoryMailSender
from idp_extension.settings import load_settings
from idp_extension.tenants import load_tenants
from idp_extension.web import Services, create_app
from idp_extension.web import site_key as web_site_key

SETTINGS = load_settings({})
TENANTS = load_tenants(SETTINGS.realm_templates_dir)
SECRET = "unit-test-secret"
KEYCLOAK_ORIGIN = "http://127.0.0.1:8080"
# Synthetic IDs only (never from the manuals).
ACTIVE_ID, PENDING_ID, LOCKED_ID, UNKNOWN_ID = (
    "900101015001", "900101015002", "900101015003", "900101015999")
PHRASE = "Kapal Layar di Muara Biru"


def _user(user_id: str, *, enabled=True, state="active", phrase=PHRASE, image="boat"):
    attributes = {ACTIVATION_STATE: [state]}
    if phrase:
        attributes[S.PHRASE_ATTRIBUTE] = [phrase]
    if image:
        attributes[S.IMAGE_ATTRIBUTE] = [image]
    if not enabled:
        attributes["disabledReason"] = ["permanentLockout"]
    return DirectoryUser(id=f"uuid-{user_id}", user_id=user_id, name="PENGGUNA UJIAN",
                         email="pengguna.ujian@selangor.gov.my", enabled=enabled,
                         attributes=attributes)


@dataclass
class FakeDirectory:
    """``find`` over a dict, counting calls (the flow must always look up)."""

    users: dict[str, DirectoryUser] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    fail: bool = False

    def find(self, user_id: str):
        self.calls.append(user_id)
        if self.fail:
            raise KeycloakUnavailable("simulated")
        return self.users.get(user_id)


def _directory() -> FakeDirectory:
    return FakeDirectory({
        ACTIVE_ID: _user(ACTIVE_ID),
        PENDING_ID: _user(PENDING_ID, state="pending", phrase=None, image=None),
        LOCKED_ID: _user(LOCKED_ID, enabled=False),
    })


class FakeClock:
    def __init__(self, step: float = 0.0):
        self.now = 100.0
        self.step = step  # seconds each reading advances (the "work" done)
        self.slept: list[float] = []

    def monotonic(self) -> float:
        self.now += self.step
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _ctx(state="selangor", directory=None, clock=None, **kwargs) -> S.SiteKeyContext:
    clock = clock or FakeClock()
    return S.SiteKeyContext(tenant=TENANTS[state], directory=directory or _directory(),
                            secret_key=SECRET, monotonic=clock.monotonic, sleep=clock.sleep,
                            **kwargs)


# --- decoys ---------------------------------------------------------------------------

def test_decoy_is_stable_for_one_id():
    first = S.decoy_site_key(SECRET, "selangor", UNKNOWN_ID)
    again = S.decoy_site_key(SECRET, "selangor", UNKNOWN_ID)

    assert first == again and first.source is S.Source.DECOY
    assert first.image in GALLERY and first.phrase


def test_decoy_ignores_case_and_surrounding_spaces_like_keycloak_usernames():
    assert S.decoy_site_key(SECRET, "melaka", " AB123 ") == S.decoy_site_key(
        SECRET, "melaka", "ab123")


def test_decoys_differ_by_id_realm_and_secret():
    ids = [f"8501010{n:05d}" for n in range(200)]
    answers = [S.decoy_site_key(SECRET, "selangor", i) for i in ids]

    # Across many IDs: many different phrases, and every picture of the gallery is used.
    assert len({a.phrase for a in answers}) > 150
    assert {a.image.id for a in answers} == {g.id for g in GALLERY}
    differ_by_realm = sum(a != S.decoy_site_key(SECRET, "melaka", i) for a, i in zip(answers, ids))
    differ_by_secret = sum(a != S.decoy_site_key("another-secret", "selangor", i)
                           for a, i in zip(answers, ids))
    assert differ_by_realm > 190 and differ_by_secret > 190


def test_decoy_phrases_pass_the_rules_of_a_chosen_phrase():
    from idp_extension.flows.first_login import normalise_phrase, phrase_problem

    for n in range(500):
        phrase = S.decoy_site_key(SECRET, "selangor", f"id-{n}").phrase
        # What the settings and first-login pages would accept from a person, unchanged.
        assert phrase == normalise_phrase(phrase) and phrase_problem(phrase) is None, phrase


@pytest.mark.parametrize("bad", ["", "   ", None, "x" * (S.MAX_ID_LENGTH + 1), "a\nb"])
def test_empty_oversized_or_unprintable_ids_are_refused_before_any_lookup(bad):
    directory = _directory()

    with pytest.raises(S.InvalidSiteKeyId) as raised:
        S.look_up(_ctx(directory=directory), bad)

    assert raised.value.http_status == 400 and directory.calls == []


# --- real answers, and who gets a decoy -------------------------------------------------

def test_active_user_of_a_phrase_state_gets_their_own_phrase_and_image():
    answer = S.look_up(_ctx("selangor"), ACTIVE_ID)

    assert answer.source is S.Source.REAL
    assert (answer.phrase, answer.image) == (PHRASE, image_by_id("boat"))


@pytest.mark.parametrize("who", [UNKNOWN_ID, PENDING_ID, LOCKED_ID])
def test_unknown_pending_and_locked_ids_get_their_decoy(who):
    directory = _directory()

    answer = S.look_up(_ctx("selangor", directory=directory), who)

    assert answer.source is S.Source.DECOY
    assert answer == S.decoy_site_key(SECRET, "selangor", who)
    assert directory.calls == [who]  # the same Keycloak work as for a real ID


def test_states_without_phrases_never_reveal_one_even_for_an_active_user():
    directory = _directory()
    assert TENANTS["pahang"].uses_secret_phrase is False

    answer = S.look_up(_ctx("pahang", directory=directory), ACTIVE_ID)

    assert answer.source is S.Source.DECOY and answer.phrase != PHRASE
    assert directory.calls == [ACTIVE_ID]


@pytest.mark.parametrize("changes", [
    {"phrase": None}, {"image": None}, {"image": "not-in-the-gallery"}, {"phrase": "   "}])
def test_an_incomplete_choice_gets_a_decoy(changes):
    directory = FakeDirectory({ACTIVE_ID: _user(ACTIVE_ID, **changes)})

    assert S.look_up(_ctx(directory=directory), ACTIVE_ID).source is S.Source.DECOY


def test_keycloak_outage_is_not_hidden_behind_a_decoy():
    with pytest.raises(KeycloakUnavailable):
        S.look_up(_ctx(directory=FakeDirectory(fail=True)), UNKNOWN_ID)


# --- timing -----------------------------------------------------------------------------

@pytest.mark.parametrize("who", [ACTIVE_ID, UNKNOWN_ID])
def test_every_answer_is_padded_to_the_same_floor(who):
    clock = FakeClock(step=0.01)  # each clock reading: 10 ms of work
    started = clock.now

    S.look_up(_ctx(clock=clock, min_seconds=0.25), who)

    assert clock.now - started == pytest.approx(0.25, abs=0.011)
    assert len(clock.slept) == 1


def test_slow_lookups_are_not_padded_further():
    clock = FakeClock(step=0.4)

    S.look_up(_ctx(clock=clock, min_seconds=0.25), UNKNOWN_ID)

    assert clock.slept == [0.0]


def test_by_default_nothing_is_kept_so_a_new_choice_shows_at_once():
    directory = _directory()
    ctx = _ctx(directory=directory, cache=S.AnswerCache())
    before = S.look_up(ctx, PENDING_ID)

    directory.users[PENDING_ID] = _user(PENDING_ID)  # registered: phrase and image chosen
    after = S.look_up(ctx, PENDING_ID)

    assert before.source is S.Source.DECOY and after.source is S.Source.REAL
    assert directory.calls == [PENDING_ID, PENDING_ID]


def test_a_cache_turned_on_answers_again_without_keycloak_until_it_expires_or_forgets():
    directory = _directory()
    now = [0.0]
    cache = S.AnswerCache(seconds=60, clock=lambda: now[0])
    ctx = _ctx(directory=directory, cache=cache)

    first, second = S.look_up(ctx, ACTIVE_ID), S.look_up(ctx, ACTIVE_ID.upper() + " ")
    now[0] = 61.0
    third = S.look_up(ctx, ACTIVE_ID)
    cache.forget("selangor", ACTIVE_ID)
    fourth = S.look_up(ctx, ACTIVE_ID)

    assert first == second == third == fourth
    assert directory.calls == [ACTIVE_ID, ACTIVE_ID, ACTIVE_ID]


def test_cache_is_bounded():
    cache = S.AnswerCache(seconds=60, size=3)
    for n in range(5):
        cache.put("selangor", f"id-{n}", S.decoy_site_key(SECRET, "selangor", f"id-{n}"))

    assert cache.get("selangor", "id-0") is None and cache.get("selangor", "id-4") is not None


# --- the endpoint -----------------------------------------------------------------------

def _app(settings):
    directory = _directory()
    services = Services(audit=MemoryAuditLog(), mail=MemoryMailSender(),
                        directories=lambda realm: directory)
    app = create_app(settings, tenants=TENANTS, services=services)
    app.extensions[web_site_key.MIN_SECONDS_KEY] = 0.0
    app.extensions["test.directory"] = directory
    return app


@pytest.fixture
def app():
    return _app(SETTINGS)


def _post(client, realm="selangor", user_id=ACTIVE_ID, origin=KEYCLOAK_ORIGIN,
          forwarded_for=None, **kwargs):
    headers = {"Accept": "application/json"}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    if origin:
        headers["Origin"] = origin
    return client.post(f"/{realm}/site-key", data={"id": user_id}, headers=headers, **kwargs)


def test_endpoint_answers_the_login_origin_with_phrase_and_image(app):
    response = _post(app.test_client())

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == KEYCLOAK_ORIGIN
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Origin" in response.headers["Vary"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_json() == {
        "phrase": PHRASE,
        "image": {"id": "boat", "url": "http://127.0.0.1:5000/static/gallery/boat.svg",
                  "alt_ms": image_by_id("boat").alt_ms, "alt_en": image_by_id("boat").alt_en},
    }


def test_real_and_unknown_answers_have_the_same_shape(app):
    client = app.test_client()
    real, unknown = _post(client).get_json(), _post(client, user_id=UNKNOWN_ID).get_json()

    def shape(value):
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items()}
        return type(value).__name__

    assert shape(real) == shape(unknown)
    assert unknown["phrase"] != real["phrase"]


@pytest.mark.parametrize("origin", ["http://evil.example", "http://127.0.0.1:5000", None])
def test_other_origins_are_refused_without_a_lookup(app, origin):
    response = _post(app.test_client(), origin=origin)

    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers
    assert response.get_json()["error"]["code"] == "site_key.foreign_origin"
    assert app.extensions["test.directory"].calls == []


def test_get_is_not_an_answer_so_ids_never_reach_access_logs(app):
    response = app.test_client().get(f"/selangor/site-key?id={ACTIVE_ID}",
                                     headers={"Origin": KEYCLOAK_ORIGIN})

    assert response.status_code == 405


def test_empty_id_is_a_400_the_page_can_read(app):
    response = _post(app.test_client(), user_id="")

    assert response.status_code == 400
    assert response.headers["Access-Control-Allow-Origin"] == KEYCLOAK_ORIGIN


def _unknown_id(n: int) -> str:
    return f"8801010{n:05d}"  # synthetic, none of them in the directory


def test_rate_limit_answers_429_readable_by_the_page_and_counts_per_address(app):
    client = app.test_client()
    limit = int(web_site_key.RATE_LIMIT.split()[0])
    answers = [_post(client, user_id=_unknown_id(n), environ_base={"REMOTE_ADDR": "10.0.0.7"})
               .status_code for n in range(limit + 1)]

    assert answers[:limit] == [200] * limit and answers[-1] == 429
    refused = _post(client, environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert refused.headers["Access-Control-Allow-Origin"] == KEYCLOAK_ORIGIN
    assert refused.headers.get("Retry-After")
    assert _post(client, environ_base={"REMOTE_ADDR": "10.0.0.8"}).status_code == 200


def _exhaust_and_probe(app, first_address: str, second_address: str) -> tuple[int, int]:
    """Spend one X-Forwarded-For's allowance from the proxy's address, then probe another."""
    client = app.test_client()
    limit = int(web_site_key.RATE_LIMIT.split()[0])
    proxy = {"REMOTE_ADDR": "127.0.0.1"}
    for n in range(limit):
        _post(client, user_id=_unknown_id(n), environ_base=proxy, forwarded_for=first_address)
    over = _post(client, environ_base=proxy, forwarded_for=first_address)
    other = _post(client, environ_base=proxy, forwarded_for=second_address)
    return over.status_code, other.status_code


def _limits(limits: str) -> list[int]:
    return [int(part.split()[0]) for part in limits.split(";")]


PER_NETWORK = _limits(web_site_key.PER_ID.per_network)[0]
OVERALL = _limits(web_site_key.PER_ID.overall)[0]


def test_the_per_id_limit_applies_across_addresses_the_same_for_every_kind_of_id(app):
    client = app.test_client()
    refusals = {}
    for kind, user_id in {"active": ACTIVE_ID, "pending": PENDING_ID, "locked": LOCKED_ID,
                          "unknown": UNKNOWN_ID}.items():
        # Each address stays under its own per-ID allowance; together they reach the ceiling.
        statuses = [_post(client, user_id=user_id,
                          environ_base={"REMOTE_ADDR": f"10.{n % 250}.{n // 250}.9"}).status_code
                    for n in range(OVERALL)]
        assert statuses == [200] * OVERALL, kind
        refusals[kind] = _post(client, user_id=user_id, environ_base={"REMOTE_ADDR": "10.99.0.1"})

    bodies = {kind: (r.status_code, r.get_data()) for kind, r in refusals.items()}
    assert set(bodies.values()) == {bodies["unknown"]}, bodies
    assert bodies["unknown"][0] == 429
    assert {tuple(sorted(r.headers.keys())) for r in refusals.values()} == {
        tuple(sorted(refusals["unknown"].headers.keys()))}
    waits = [int(r.headers["Retry-After"]) for r in refusals.values()]
    assert max(waits) - min(waits) <= 1 and min(waits) > 0
    assert refusals["active"].headers["Access-Control-Allow-Origin"] == KEYCLOAK_ORIGIN
    # Another ID from the same address is still answered.
    assert _post(client, user_id=_unknown_id(1), environ_base={"REMOTE_ADDR": "10.99.0.1"}
                 ).status_code == 200


def test_a_stranger_on_one_network_cannot_use_up_the_owners_site_key(app):
    client = app.test_client()
    stranger = [_post(client, environ_base={"REMOTE_ADDR": f"2001:db8:5:7::{n:x}"}).status_code
                for n in range(1, OVERALL + 1)]

    # One IPv6 /64 is one network: changing the last 64 bits gains nothing.
    assert stranger == [200] * PER_NETWORK + [429] * (OVERALL - PER_NETWORK)
    assert _post(client, environ_base={"REMOTE_ADDR": "2001:db8:5:8::1"}).status_code == 200
    assert _post(client, environ_base={"REMOTE_ADDR": "198.51.100.4"}).status_code == 200


def test_behind_a_trusted_proxy_each_browser_has_its_own_limit():
    app = _app(SETTINGS.with_overrides(trusted_proxy_hops=1))

    assert _exhaust_and_probe(app, "203.0.113.5", "203.0.113.6") == (429, 200)


def test_without_a_trusted_proxy_forwarded_addresses_are_ignored():
    # Else a client could claim a new address per request and never be limited.
    app = _app(SETTINGS)

    assert _exhaust_and_probe(app, "203.0.113.5", "203.0.113.6") == (429, 429)


def test_keycloak_outage_is_a_503(app):
    app.extensions["test.directory"].fail = True

    response = _post(app.test_client())

    assert response.status_code == 503
    assert response.headers["Access-Control-Allow-Origin"] == KEYCLOAK_ORIGIN


def test_gallery_images_may_be_embedded_by_the_login_page_other_files_not(app):
    client = app.test_client()
    image = client.get("/static/gallery/boat.svg")
    css = client.get("/static/css/ispeks.css")

    assert image.status_code == 200 and image.mimetype == "image/svg+xml"
    assert image.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    assert css.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert _post(client).headers["Cross-Origin-Resource-Policy"] == "same-origin"


def test_the_login_pages_forgotten_password_link_opens_recovery(app):
    response = app.test_client().get("/selangor/recovery")
    endpoint, _ = app.url_map.bind("localhost").match("/selangor/recovery")

    assert response.status_code == 200
    assert endpoint == "tenant.recovery.request_form"
