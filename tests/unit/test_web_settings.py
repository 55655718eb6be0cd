"""The security settings pages over in-memory services and a stand-in for Keycloak's OIDC.

The real code flow (PKCE, tokens, prompt=login, RP-initiated logout) is exercised against
the real Keycloak in tests/integration/test_settings_http.py; here a fake client answers
the same calls, so that the pages' decisions can be checked one by one.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from idp_extension.flows.first_login import IMAGE_ATTRIBUTE, PHRASE_ATTRIBUTE
from idp_extension.flows.site_key import SiteKeyContext, look_up
from idp_extension.gateway.oidc import LoginRequest, OidcError, Tokens
from idp_extension.web import settings as pages
from idp_extension.web import site_key as site_key_pages
from idp_extension.web.tenant import current_tenant
from tests.support import worlds
from tests.support.constants import IMAGE, NEW_PASSWORD, OLD_PASSWORD, PHRASE
from tests.support.worlds import SITE_SETTINGS, TENANTS

KEYCLOAK = "https://keycloak.test"


class FakeKeycloak:
    """Answers OidcClient's calls; ``signs_in`` decides who the next callback is."""

    def __init__(self, site: "Site") -> None:
        self.site = site
        self.started: list[dict] = []
        self.ended: list[str] = []
        self.signs_in = None  # (user, auth_time offset in seconds from "now")
        self.sessions = 0  # Keycloak sessions opened so far (their sid is numbered)
        self.tasks: list[str] = []  # the ID token's "tugas" claim (issue 12)

    def client(self) -> "FakeClient":
        return FakeClient(self)


class FakeClient:
    def __init__(self, keycloak: FakeKeycloak) -> None:
        self.keycloak = keycloak
        # Like the real client: the issuer of the realm in the request's URL.
        self.issuer = f"{KEYCLOAK}/realms/{current_tenant().realm}"

    def begin_login(self, locale=None, prompt=None, max_age=None, scope="openid", action=None):
        self.keycloak.started.append({"prompt": prompt, "max_age": max_age}
                                     | ({"action": action} if action else {}))
        query = f"state=s{len(self.keycloak.started)}&prompt={prompt}&max_age={max_age}"
        return LoginRequest(f"{self.issuer}/protocol/openid-connect/auth?{query}",
                            f"s{len(self.keycloak.started)}", "n", "v" * 43, max_age)

    def finish_login(self, request: LoginRequest, query) -> Tokens:
        if query.get("state") != request.state:
            raise OidcError("state_mismatch")
        user, offset = self.keycloak.signs_in
        auth_time = int(self.keycloak.site.clock.now().timestamp()) + offset
        self.keycloak.sessions += 1
        claims = {"iss": self.issuer, "sub": user.id, "preferred_username": user.user_id,
                  "auth_time": auth_time, "sid": f"kc-session-{self.keycloak.sessions}",
                  "tugas": list(self.keycloak.tasks)}
        return Tokens("id-token-of-" + user.user_id, "access", "refresh", claims, claims)

    def logout_url(self, post_logout_redirect_uri: str, *, id_token_hint=None) -> str:
        assert id_token_hint is None, "no ID token is kept for the logout"
        return (f"{self.issuer}/protocol/openid-connect/logout?client_id=ispeks-sidecar"
                f"&post_logout_redirect_uri={post_logout_redirect_uri}")

    def end_session(self, refresh_token: str) -> None:
        self.keycloak.ended.append(refresh_token)


class Site(worlds.Site):
    realm = "melaka"
    people_count = 3
    seed = "web-settings"
    active_attributes = {PHRASE_ATTRIBUTE: [PHRASE], IMAGE_ATTRIBUTE: [IMAGE]}

    def __init__(self, monkeypatch, realm: str = "melaka") -> None:
        super().__init__(realm)
        self.keycloak = FakeKeycloak(self)
        monkeypatch.setattr(pages, "oidc_client", self.keycloak.client)
        self.base = f"/{realm}/settings"

    def callback(self, user, *, auth_offset: int = 0):
        """Come back from Keycloak as ``user`` for the login started last."""
        self.keycloak.signs_in = (user, auth_offset)
        return self.client.get(f"{self.base}/callback?state=s{len(self.keycloak.started)}&code=c")

    def sign_in(self, user):
        start = self.client.get(f"{self.base}/")
        assert start.status_code == 302 and start.headers["Location"].startswith(KEYCLOAK)
        back = self.callback(user)
        assert back.status_code == 303 and back.headers["Location"] == f"{self.base}/"
        return back


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def site(monkeypatch) -> Site:
    return Site(monkeypatch)


def test_the_settings_start_with_a_keycloak_login_without_prompt(site):
    start = site.client.get(f"{site.base}/")
    assert start.status_code == 302
    assert site.keycloak.started == [{"prompt": None, "max_age": None}]


def test_after_signing_in_the_user_sees_their_details(site):
    user = site.active()
    site.sign_in(user)
    page = site.client.get(f"{site.base}/")
    body = text(page)
    assert page.status_code == 200
    for words in ("Tetapan Akaun", "Maklumat Pengguna", user.user_id, user.name, user.email,
                  site.people[0].department, "Tarikh Pendaftaran", "Pelangi di Bukit Hijau",
                  "Tukar Kata Laluan", "Soalan Keselamatan", "Frasa Rahsia dan Imej Online",
                  "Log Keluar"):
        assert words in body, words
    assert "id-token-of" not in body


def test_a_pending_account_is_refused_and_its_keycloak_session_ended(site):
    pending, _ = site.directory.register_pending(site.people[1])
    site.client.get(f"{site.base}/")
    refused = site.callback(pending)
    assert refused.status_code == 403 and "Akaun anda belum diaktifkan" in text(refused)
    assert site.keycloak.ended == ["refresh"]
    assert site.client.get(f"{site.base}/").status_code == 302  # not signed in


def test_a_callback_without_a_pending_login_is_refused(site):
    user = site.active()
    site.keycloak.signs_in = (user, 0)
    answer = site.client.get(f"{site.base}/callback?state=forged&code=c")
    assert answer.status_code == 400 and "Log Masuk Tidak Berjaya" in text(answer)


def test_changing_with_a_stale_login_sends_to_keycloak_with_prompt_login_and_changes_nothing(site):
    user = site.active()
    site.sign_in(user)
    site.clock.advance(minutes=5, seconds=1)

    posted = site.client.post(f"{site.base}/password",
                              data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    assert posted.status_code == 303
    assert posted.headers["Location"] == f"{site.base}/reauth?next=password"
    assert site.directory.password_matches(user.id, OLD_PASSWORD) and site.mail.sent == []
    reauth = site.client.get(posted.headers["Location"])
    query = parse_qs(urlsplit(reauth.headers["Location"]).query)
    assert query["prompt"] == ["login"] and query["max_age"] == ["300"]
    # Keycloak asked for the password: back to the form, which now works.
    back = site.callback(user)
    assert back.headers["Location"] == f"{site.base}/password"
    assert site.client.get(f"{site.base}/password").status_code == 200
    done = site.client.post(f"{site.base}/password",
                            data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["Location"] == f"{site.base}/"
    assert site.directory.password_matches(user.id, NEW_PASSWORD)
    assert "Kata laluan anda telah berjaya ditukar." in text(site.client.get(f"{site.base}/"))


def test_a_reauthentication_that_was_not_fresh_is_refused(site):
    user = site.active()
    site.sign_in(user)
    site.clock.advance(minutes=10)
    site.client.get(f"{site.base}/reauth?next=questions")
    # Keycloak reused an old session instead of asking for the password.
    stale = site.callback(user, auth_offset=-600)
    assert stale.status_code == 400


def test_a_stale_login_opens_no_change_form(site):
    user = site.active()
    site.sign_in(user)
    site.clock.advance(minutes=6)
    for page, name in (("password", "password"), ("questions", "questions"),
                       ("secret-phrase", "site_key")):
        answer = site.client.get(f"{site.base}/{page}")
        assert answer.headers["Location"] == f"{site.base}/reauth?next={name}"
    assert site.client.get(f"{site.base}/").status_code == 200  # viewing is fine


def test_the_password_page_explains_why_no_old_password_is_asked(site):
    user = site.active()
    site.sign_in(user)
    body = text(site.client.get(f"{site.base}/password"))
    assert "Kata laluan semasa anda telah disahkan di halaman log masuk" in body
    assert 'name="old_password"' not in body
    assert "Kata Laluan Baru" in body and "Sah Kata Laluan Baru" in body
    assert 'id="password-form"' in body and "data-rules=" in body


def test_the_current_password_is_refused_with_keycloak_s_reason(site):
    user = site.active()
    site.sign_in(user)
    refused = site.client.post(f"{site.base}/password",
                               data={"password": OLD_PASSWORD, "confirm": OLD_PASSWORD})
    assert refused.status_code == 400
    assert "Kata laluan ini telah digunakan baru-baru ini." in text(refused)


def test_changing_the_questions(site):
    user = site.active()
    site.sign_in(user)
    form = text(site.client.get(f"{site.base}/questions"))
    assert re.search(r'<option value="mother_name" selected>', form)
    bad = site.client.post(f"{site.base}/questions", data={
        "question_1": "first_pet", "answer_1": "Comel", "question_2": "first_pet",
        "answer_2": "Tompok", "question_3": "birth_town", "answer_3": "Kuantan"})
    assert bad.status_code == 400 and "Comel" not in bad.get_data(as_text=True)
    good = site.client.post(f"{site.base}/questions", data={
        "question_1": "first_pet", "answer_1": "Comel", "question_2": "favourite_food",
        "answer_2": "Nasi lemak", "question_3": "birth_town", "answer_3": "Kuantan"})
    assert good.status_code == 303
    assert "Soalan keselamatan anda telah berjaya ditukar." in text(site.client.get(f"{site.base}/"))
    assert site.mail.last().subject.startswith("Soalan Keselamatan iSPEKS Telah Ditukar")


def test_changing_the_phrase_shows_on_the_login_page_at_once(site):
    user = site.active()
    site.sign_in(user)
    cache = site.app.extensions[site_key_pages.CACHE_KEY]
    ctx = SiteKeyContext(TENANTS["melaka"], site.directory, SITE_SETTINGS.secret_key, min_seconds=0,
                         cache=cache)
    assert look_up(ctx, user.user_id).phrase == "Pelangi di Bukit Hijau"  # now cached

    changed = site.client.post(f"{site.base}/secret-phrase",
                               data={"phrase": "Bulan di Tasik Biru", "image": "moon"})

    assert changed.status_code == 303
    shown = look_up(ctx, user.user_id)
    assert (shown.phrase, shown.image.id) == ("Bulan di Tasik Biru", "moon")


def test_states_without_phrases_have_no_phrase_page(monkeypatch):
    site = Site(monkeypatch, "pahang")
    user = site.active()
    site.sign_in(user)
    assert site.client.get(f"{site.base}/secret-phrase").status_code == 404
    assert "Frasa Rahsia dan Imej Online" not in text(site.client.get(f"{site.base}/"))


def test_log_keluar_ends_both_sessions(site):
    user = site.active()
    site.sign_in(user)
    ended = []
    site.directory.end_session = lambda uuid, sid: ended.append((uuid, sid))

    out = site.client.post(f"{site.base}/logout")

    # Keycloak's session is ended from the back channel, by its id: no logout page there.
    assert ended == [(user.id, "kc-session-1")]
    assert out.status_code == 303 and out.headers["Location"] == f"{site.base}/signed-out"
    assert site.client.get(f"{site.base}/").status_code == 302  # the sidecar forgot the sign-in
    assert "Anda telah log keluar" in text(site.client.get(f"{site.base}/signed-out"))
    assert [e["event"] for e in site.audit.entries][-1] == "account:settings:signed_out"


def test_log_keluar_falls_back_to_keycloaks_logout_page_without_an_id_token(site):
    from idp_extension.gateway.errors import KeycloakUnavailable

    user = site.active()
    site.sign_in(user)

    def down(uuid, sid):
        raise KeycloakUnavailable("admin API unreachable")

    site.directory.end_session = down
    out = site.client.post(f"{site.base}/logout")

    location = out.headers["Location"]
    assert out.status_code == 303
    assert location.startswith(f"{KEYCLOAK}/realms/melaka/protocol/openid-connect/logout")
    assert "client_id=ispeks-sidecar" in location and "id_token_hint" not in location
    assert "post_logout_redirect_uri=http://sidecar.test/melaka/settings/signed-out" in location
    assert site.client.get(f"{site.base}/").status_code == 302


def _cookie(client) -> str:
    return client.get_cookie("ispeks_session").value


def _decoded(app, cookie: str) -> dict:
    return app.session_interface.get_signing_serializer(app).loads(cookie)


def test_a_cookie_copied_before_log_keluar_is_refused_after(site):
    user = site.active()
    site.sign_in(user)
    assert site.client.get(f"{site.base}/").status_code == 200
    copied = _cookie(site.client)
    site.directory.end_session = lambda uuid, sid: None

    site.client.post(f"{site.base}/logout")
    thief = site.app.test_client()
    thief.set_cookie("ispeks_session", copied)

    answer = thief.get(f"{site.base}/")
    assert answer.status_code == 302 and answer.headers["Location"].startswith(KEYCLOAK)
    assert thief.post(f"{site.base}/password", data={"password": NEW_PASSWORD,
                                                     "confirm": NEW_PASSWORD}).status_code == 302


def test_the_session_cookie_holds_no_token(site):
    user = site.active()
    site.sign_in(user)

    stored = _decoded(site.app, _cookie(site.client))

    assert set(stored["settings.user"]) == {"iss", "sub", "user_id", "auth_time", "at", "kc_sid",
                                            "sid", "totp_required"}  # a boolean (issue 12)
    assert "id-token-of" not in repr(stored) and "refresh" not in repr(stored)
    assert "access" not in repr(stored)


def test_signing_in_starts_a_new_session_and_drops_what_the_browser_brought(site):
    """No fixation: a cookie planted before the login (another person's sign-in, a stale
    CSRF token, anything) is not carried into the new session."""
    first, second = site.active(0), site.active(1)
    site.sign_in(first)
    planted = _decoded(site.app, _cookie(site.client))
    with site.client.session_transaction() as pre_login:
        pre_login["csrf_token"] = "planted-token"
        pre_login["portal.user"] = {"iss": "x", "sid": "attacker-chosen"}

    assert site.client.get(f"{site.base}/login").status_code == 302
    assert site.callback(second).status_code == 303

    after = _decoded(site.app, _cookie(site.client))
    assert set(after) == {"settings.user"}
    assert after["settings.user"]["sub"] == second.id
    assert after["settings.user"]["sid"] != planted["settings.user"]["sid"]
    # The replaced sign-in is revoked too: its cookie no longer opens the settings.
    old = site.app.test_client()
    old.set_cookie("ispeks_session", site.app.session_interface.get_signing_serializer(
        site.app).dumps(planted))
    assert old.get(f"{site.base}/").status_code == 302


def test_a_forged_session_id_opens_nothing(site):
    user = site.active()
    site.sign_in(user)
    record = dict(_decoded(site.app, _cookie(site.client))["settings.user"])
    serializer = site.app.session_interface.get_signing_serializer(site.app)
    for forged in ("guessed", "", None):
        other = site.app.test_client()
        other.set_cookie("ispeks_session", serializer.dumps({"settings.user": {**record,
                                                                               "sid": forged}}))
        assert other.get(f"{site.base}/").status_code == 302


def test_a_sign_in_of_another_state_does_not_count(monkeypatch):
    melaka = Site(monkeypatch, "melaka")
    user = melaka.active()
    melaka.sign_in(user)
    assert melaka.client.get("/selangor/settings/").status_code == 302


def test_the_sign_in_lapses_after_30_minutes(site):
    user = site.active()
    site.sign_in(user)
    site.clock.advance(timedelta(minutes=31).total_seconds())
    assert site.client.get(f"{site.base}/").status_code == 302
