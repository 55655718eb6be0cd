"""The first-login pages over in-memory services (the Keycloak sign-in itself: integration)."""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import pytest

import idp_extension.web as web
from idp_extension.flows import first_login as fl
from idp_extension.gallery import GALLERY
from idp_extension.i18n import SUPPORTED_LOCALES
from idp_extension.mail.errors import MailUnavailable
from idp_extension.settings import load_settings
from idp_extension.web import sessions
from idp_extension.web import first_login as page
from idp_extension.web.language import catalog
from idp_extension.web.page_messages import load_page_messages
from tests.support import worlds
from tests.support.constants import IMAGE, NEW_PASSWORD, PHRASE, QUESTIONS_FORM
from tests.support.worlds import TENANTS

SETTINGS = load_settings({}).with_overrides(demo_portal=True)
REFUSAL = "Pengguna Tidak Dapat Didaftarkan, Sila Hubungi Pentadbir Sistem"
PASSWORD_LINE = re.compile(r"Kata Laluan Sementara *: (\S+)")


class Site(worlds.Site):
    """An app over in-memory Keycloak, mail and audit, with a test client."""

    realm = "melaka"
    settings = SETTINGS
    people_count = 3
    seed = "web-first-login"

    def signed_in(self, index: int = 0):
        """A user who requested a temporary password and signed in at Keycloak with it."""
        user = self.pending(index)
        answer = self.client.post(f"/{self.realm}/first-login",
                                  data={"user_id": user.user_id, "email": user.email})
        assert answer.status_code == 303, answer.text[:500]
        issue = self.directory.get(user.id).attributes[fl.ISSUE_ATTRIBUTE][0]
        # What the callback's sessions.start leaves: the record and its live session id.
        session_id = f"unit-test-session-{user.id}"
        assert self.claims.claim(sessions.STORE_PREFIX + session_id, page.SIGNED_IN_SECONDS)
        with self.client.session_transaction() as session:
            session[page.USER_KEY] = {"realm": self.realm, "sub": user.id,
                                      "user_id": user.user_id, "auth_time": int(time.time()),
                                      "issue": issue, "at": int(time.time()),
                                      "sid": session_id}
        return user


def form_data(**changes) -> dict[str, str]:
    data = {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD, **QUESTIONS_FORM,
            "image": IMAGE, "phrase": PHRASE}
    data.update(changes)
    return data


@pytest.mark.parametrize("realm, name", [("melaka", "Pendaftaran"),
                                         ("selangor", "Login Kali Pertama")])
def test_form_has_the_manuals_labels_and_buttons(realm, name):
    text = Site(realm).text(f"/{realm}/first-login")

    assert f"<h1>{name}</h1>" in text
    for label in ("Pengaktifan ID Pengguna", "No Pengenalan / ID Syarikat", "Emel", "Hantar",
                  "Isi Semula", "Keluar", "Maklumat ID Pengguna"):
        assert label in text, label


def test_form_speaks_english_on_request():
    text = Site().text("/melaka/first-login?lang=en")
    assert "<h1>Registration</h1>" in text and "MyKad No / Company ID" in text


def test_activation_link_states_have_no_first_login_page():
    site = Site("pahang")
    assert site.client.get("/pahang/first-login").status_code == 404
    assert site.client.post("/pahang/first-login", data={}).status_code == 404


def test_mismatch_gets_the_same_answer_as_a_match_and_sends_nothing():
    site = Site()
    user = site.pending()
    other = site.pending(index=1)

    mismatch = site.client.post("/melaka/first-login",
                                data={"user_id": user.user_id, "email": "salah@melaka.gov.my"})
    assert site.mail.sent == []
    match = site.client.post("/melaka/first-login",
                             data={"user_id": other.user_id, "email": other.email})

    assert [m.to for m in site.mail.sent] == [other.email]
    for answer in (mismatch, match):
        assert answer.status_code == 303
        assert answer.headers["Location"].endswith("/melaka/first-login/sent")
    assert mismatch.get_data() == match.get_data()
    assert sorted(mismatch.headers.items()) == sorted(match.headers.items())
    # The confirmation says whom to call if no email comes (the manual's refusal).
    text = site.text("/melaka/first-login/sent")
    for contact in TENANTS["melaka"].helpdesk:
        assert contact.name in text and contact.phone in text and contact.email in text


def test_an_address_outside_the_states_domains_gets_the_one_refusal_at_once():
    site = Site()
    user = site.pending()

    answer = site.client.post("/melaka/first-login",
                              data={"user_id": user.user_id, "email": "ali@gmail.com"})

    text = html.unescape(answer.text)
    assert answer.status_code == 400 and REFUSAL in text
    assert site.mail.sent == []
    assert f'value="{user.user_id}"' in answer.text  # what was typed stays


def test_malformed_id_is_shown_next_to_the_field():
    site = Site()
    answer = site.client.post("/melaka/first-login",
                              data={"user_id": "12345", "email": "a.b@melaka.gov.my"})

    assert answer.status_code == 400
    assert 'aria-invalid="true"' in answer.text
    assert fl.MESSAGES["ms"]["first_login.invalid_id"] in html.unescape(answer.text)
    assert site.directory.calls == []


def test_match_sends_the_email_and_shows_the_manuals_confirmation():
    site = Site()
    user = site.pending()

    answer = site.client.post("/melaka/first-login",
                              data={"user_id": user.user_id, "email": user.email})

    assert answer.status_code == 303 and answer.headers["Location"].endswith(
        "/melaka/first-login/sent")
    [message] = site.mail.sent
    assert f"{SETTINGS.sidecar_public_url}/melaka/first-login/continue" in message.text
    text = site.text("/melaka/first-login/sent")
    assert ("Jika No. Pengenalan dan emel ini sepadan dengan rekod pengguna baharu dalam "
            "Modul Gaji, kata laluan sementara telah dihantar ke emel tersebut.") in text
    assert 'href="/melaka/first-login/continue"' in text and "Log Masuk" in text


def test_smtp_down_answers_the_same_and_nothing_usable_is_left():
    site = Site()
    user = site.pending()
    site.mail.fail_with = MailUnavailable("down")

    answer = site.client.post("/melaka/first-login",
                              data={"user_id": user.user_id, "email": user.email})

    assert answer.status_code == 303 and answer.headers["Location"].endswith("/first-login/sent")
    assert [e["event"] for e in site.audit.entries].count("mail:send:failed") == 1
    assert fl.EXPIRES_ATTRIBUTE not in site.directory.get(user.id).attributes


def test_posts_need_the_csrf_token():
    site = Site(csrf=True)
    user = site.pending()

    answer = site.client.post("/melaka/first-login",
                              data={"user_id": user.user_id, "email": user.email})

    assert answer.status_code == 400 and site.mail.sent == []
    form = site.client.get("/melaka/first-login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    ok = site.client.post("/melaka/first-login", data={"user_id": user.user_id,
                                                        "email": user.email, "csrf_token": token})
    assert ok.status_code == 303 and len(site.mail.sent) == 1


def test_requests_are_limited_per_id():
    site = Site()
    user = site.pending()
    statuses = []
    for _ in range(4):
        site.clock.advance(seconds=fl.REPEAT_WINDOW_SECONDS + 1)
        statuses.append(site.client.post("/melaka/first-login", data={
            "user_id": user.user_id, "email": user.email}).status_code)

    assert statuses == [303, 303, 303, 429]


def test_a_stranger_on_one_network_cannot_stop_the_owner_asking():
    site = Site()
    user = site.pending()
    form = {"user_id": user.user_id, "email": user.email}

    def ask(address: str) -> int:
        site.clock.advance(seconds=fl.REPEAT_WINDOW_SECONDS + 1)
        return site.client.post("/melaka/first-login", data=form,
                                environ_base={"REMOTE_ADDR": address}).status_code

    assert [ask("198.51.100.23") for _ in range(4)] == [303, 303, 303, 429]
    assert ask("10.44.0.2") == 303  # the owner, at the office


def test_register_page_without_a_sign_in_says_so():
    answer = Site().client.get("/melaka/first-login/register")

    assert answer.status_code == 401
    assert fl.MESSAGES["ms"]["first_login.session_missing"] in html.unescape(answer.text)


def test_register_page_shows_the_user_and_every_field():
    site = Site()
    user = site.signed_in()

    text = site.text("/melaka/first-login/register")

    assert "<h1>Maklumat Pendaftaran Baru</h1>" in text
    assert user.user_id in text and user.name in text and user.email in text
    for label in ("ID Pengguna", "Nama", "Emel", "Maklumat Kata Laluan", "Kata Laluan Baru",
                  "Sah Kata Laluan Baru", "Soalan dan Jawapan Rahsia", "Imej Online",
                  "Frasa Rahsia", "Aktif", "* Medan Wajib Diisi"):
        assert label in text, label
    assert len(re.findall(r'<select [^>]*name="question_\d"', text)) == 3
    radios = re.findall(r'<input class="gallery-radio" type="radio" name="image" id="image-(\w+)"', text)
    assert radios == [image.id for image in GALLERY]
    for image in GALLERY:  # every picture is named for screen readers
        assert f'alt="{image.alt_ms}"' in text
    assert 'data-rules=' in text and 'id="password-submit"' in text  # the live checklist


def test_errors_show_next_to_their_fields_and_keep_the_choices():
    site = Site()
    site.signed_in()

    answer = site.client.post("/melaka/first-login/register", data=form_data(
        question_2="mother_name", image="", phrase="<script>"))

    text = html.unescape(answer.text)
    assert answer.status_code == 400
    assert "Setiap soalan keselamatan mesti berbeza." in text
    assert fl.MESSAGES["ms"][fl.IMAGE_REQUIRED] in text
    assert fl.MESSAGES["ms"][fl.PHRASE_MARKUP] in text
    assert NEW_PASSWORD not in answer.text  # passwords are never sent back
    assert 'value="favourite_colour" selected' in answer.text


def test_aktif_activates_and_the_done_page_leads_to_the_portal():
    site = Site()
    user = site.signed_in()

    answer = site.client.post("/melaka/first-login/register", data=form_data())

    assert answer.status_code == 303 and answer.headers["Location"].endswith(
        "/melaka/first-login/done")
    assert site.directory.get(user.id).activation_state == "active"
    text = site.text("/melaka/first-login/done")
    assert "Pendaftaran telah berjaya, pengguna boleh menggunakan sistem Portal iSPEKS." in text
    assert 'href="/melaka/portal/"' in text
    # The sign-in is used up.
    assert site.client.get("/melaka/first-login/register").status_code == 401


def test_aktif_drops_the_login_pages_cached_decoy_for_the_id():
    from idp_extension.flows.site_key import AnswerCache, SiteKey
    from idp_extension.web.site_key import CACHE_KEY

    site = Site()
    user = site.signed_in()
    cache = site.app.extensions[CACHE_KEY] = AnswerCache(seconds=60)
    decoy = SiteKey.__new__(SiteKey)  # what the login page got while the account was pending
    cache.put("melaka", user.user_id, decoy)

    assert site.client.post("/melaka/first-login/register", data=form_data()).status_code == 303

    assert cache.get("melaka", user.user_id) is None


def test_temporary_password_as_new_password_is_refused_clearly():
    site = Site()
    user = site.signed_in()
    temporary = PASSWORD_LINE.search(site.mail.last().text).group(1)

    answer = site.client.post("/melaka/first-login/register",
                              data=form_data(password=temporary, confirm=temporary))

    assert answer.status_code == 400
    assert fl.MESSAGES["ms"][fl.PASSWORD_REUSED] in html.unescape(answer.text)
    assert site.directory.get(user.id).activation_state == "pending"


def test_expired_sign_in_gets_a_page_offering_a_new_temporary_password():
    site = Site()
    user = site.signed_in()
    site.clock.advance(minutes=TENANTS["melaka"].temporary_password_minutes)
    # The flow's own expiry is under test here, not the sign-in's: keep that one alive.
    site.claims.claim(f"{sessions.STORE_PREFIX}unit-test-session-{user.id}", 60)

    answer = site.client.get("/melaka/first-login/register")

    assert answer.status_code == 403
    assert 'href="/melaka/first-login"' in answer.text
    assert fl.MESSAGES["ms"]["first_login.expired"] in html.unescape(answer.text)


def test_every_page_key_exists_in_both_languages():
    site = Site()
    templates = Path(web.__file__).parent / "templates" / "first_login"
    used = set()
    for template in templates.glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*['"]([a-z_.]+)['"]""", template.read_text()))
    assert len(used) > 30
    with site.app.app_context():
        messages = catalog()
        missing = {(key, locale) for key in used for locale in SUPPORTED_LOCALES
                   if not messages.has(key, locale)}
    assert not missing


def test_page_messages_define_the_same_keys_in_both_languages():
    loaded = load_page_messages("first_login")
    assert set(loaded["ms"]) == set(loaded["en"])


def test_first_login_templates_have_no_inline_script_or_style():
    for template in (Path(web.__file__).parent / "templates" / "first_login").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert "<script" not in text and "<style" not in text, template.name
        assert not re.search(r"\sstyle=|\son[a-z]+=", text), template.name


def test_a_sign_in_without_a_live_server_side_session_opens_nothing():
    site = Site()
    site.signed_in()
    with site.client.session_transaction() as session:
        session[page.USER_KEY] = {**session[page.USER_KEY], "sid": "guessed"}

    assert site.client.get("/melaka/first-login/register").status_code == 401


def test_a_cookie_copied_before_aktif_is_refused_after():
    site = Site()
    site.signed_in()
    copied = site.client.get_cookie("ispeks_session").value

    assert site.client.post("/melaka/first-login/register", data=form_data()).status_code == 303
    thief = site.app.test_client()
    thief.set_cookie("ispeks_session", copied)

    assert thief.get("/melaka/first-login/register").status_code == 401
