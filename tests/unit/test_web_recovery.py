"""The recovery pages with in-memory Keycloak, mail, audit and a manual clock."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from idp_extension.demo_users import synthetic_people
from idp_extension.flows import recovery as flow
from idp_extension.i18n import SUPPORTED_LOCALES
from idp_extension.web import recovery as pages
from idp_extension.web.access_log import REDACTED, redact
from idp_extension.web.language import catalog
from tests.support import worlds
from tests.support.constants import ANSWER_TO, CSRF, NEW_PASSWORD, OLD_PASSWORD
from tests.support.worlds import TENANTS

LINK = re.compile(r"http://sidecar\.test(?P<path>/[a-z]+/recovery/link/[A-Za-z0-9_.\-]+)")
MASKED = re.compile(r'class="masked-email">([^<]+)<')
ASKED = re.compile(r'name="answer_([a-z_]+)"')
TEMPLATES = Path(pages.__file__).parent / "templates"


class Site(worlds.Site):
    people_count = 4
    seed = "web-recovery"

    def __init__(self, realm: str = "pahang") -> None:
        super().__init__(realm)
        self.base = f"/{realm}/recovery"

    def request(self, user_id: str):
        return self.client.post(self.base, data={"user_id": user_id})

    def follow_latest_link(self):
        answer = self.client.get(LINK.search(self.mail.last().text).group("path"))
        assert answer.status_code == 303 and answer.headers["Location"] == f"{self.base}/questions"
        return answer

    def questions_page(self) -> str:
        page = self.client.get(f"{self.base}/questions")
        assert page.status_code == 200, page.text[:300]
        return page.text

    def at_password_step(self, index: int = 0):
        """An active user who followed the emailed link and answered right."""
        user = self.active(index)
        self.request(user.user_id)
        self.follow_latest_link()
        assert self.answer().status_code == 303
        return user

    def answer(self, right: bool = True):
        asked = ASKED.findall(self.questions_page())
        data = {f"answer_{q}": ANSWER_TO[q] if right else "salah" for q in asked}
        return self.client.post(f"{self.base}/questions", data=data)


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.mark.parametrize("realm", sorted(TENANTS))
def test_every_state_has_the_recovery_page(realm):
    page = Site(realm).client.get(f"/{realm}/recovery")
    assert page.status_code == 200
    body = text(page)
    assert "<h1>Lupa Kata Laluan</h1>" in body and "Sila nyatakan ID Pengguna akaun anda" in body
    assert "belum tersedia" not in body


def test_the_whole_way_by_http(realm="pahang"):
    site = Site(realm)
    user = site.active()

    sent = site.request(user.user_id)
    assert sent.status_code == 200
    assert "emel untuk menetapkan semula kata laluan telah dihantar ke emel rasmi" in text(sent)
    assert user.email not in text(sent)

    followed = site.follow_latest_link()
    cookie = followed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and f"Path={site.base}" in cookie and "SameSite=Lax" in cookie
    questions = site.questions_page()
    asked = ASKED.findall(questions)
    assert len(asked) == 2 and set(asked) < set(ANSWER_TO)
    # The same two on reload (the page but its CSRF token, signed with the second it was made).
    assert CSRF.sub("", site.questions_page()) == CSRF.sub("", questions)
    for question in asked:
        assert TENANTS[realm].question(question).ms in html.unescape(questions)

    answered = site.answer()
    assert answered.status_code == 303 and answered.headers["Location"] == f"{site.base}/password"
    assert site.client.get(f"{site.base}/questions").headers["Location"] == f"{site.base}/password"
    password_page = site.client.get(f"{site.base}/password")
    body = text(password_page)
    assert 'id="password-form"' in body and "data-rules=" in body and "js/activation.js" in body
    assert re.search(r'id="end_sessions"[^>]*checked', body)

    done = site.client.post(f"{site.base}/password", data={
        "password": NEW_PASSWORD, "confirm": NEW_PASSWORD, "end_sessions": "on"})
    assert done.status_code == 200
    assert "Kata laluan anda telah berjaya ditetapkan semula" in text(done)
    assert "Anda telah dilog keluar daripada semua sesi lain." in text(done)
    assert f"{pages.COOKIE_NAME}=;" in done.headers["Set-Cookie"]
    assert site.directory.password_matches(user.id, NEW_PASSWORD)
    assert site.directory.session_count(user.id) == 0


def test_unchecking_the_box_keeps_the_other_sessions():
    site = Site()
    user = site.at_password_step()
    done = site.client.post(f"{site.base}/password",
                            data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 200 and "sesi lain" not in text(done)
    assert site.directory.session_count(user.id) == 1


def test_an_unknown_id_gets_the_same_page_as_a_real_one_and_no_email():
    site = Site()
    real = site.active()
    unknown = synthetic_people(TENANTS["pahang"], 1, seed="nobody")[0].user_id

    real_page = site.request(real.user_id)
    unknown_page = site.request(unknown)

    assert real_page.status_code == unknown_page.status_code == 200
    def shape(response):
        return MASKED.sub('class="masked-email">*<', response.get_data(as_text=True))
    assert shape(real_page) == shape(unknown_page)
    assert len(site.mail.sent) == 1


def test_wrong_answers_count_down_then_the_account_is_locked():
    site = Site()
    user = site.active()
    site.request(user.user_id)
    site.follow_latest_link()

    first = site.answer(right=False)
    assert first.status_code == 400 and "Baki percubaan: 2" in text(first)
    second = site.answer(right=False)
    assert "Baki percubaan: 1" in text(second)
    third = site.answer(right=False)
    assert third.status_code == 403
    assert "Akaun anda telah disekat kerana jawapan keselamatan yang salah sebanyak 3 kali" in text(third)
    assert f"{pages.COOKIE_NAME}=;" in third.headers["Set-Cookie"]
    assert not site.directory.get(user.id).enabled


def test_an_expired_link_says_so_and_offers_a_new_one():
    site = Site()
    user = site.active()
    site.request(user.user_id)
    site.clock.advance(minutes=30, seconds=1)
    page = site.client.get(LINK.search(site.mail.last().text).group("path"))
    assert page.status_code == 410
    assert "Pautan tetapan semula kata laluan ini telah tamat tempoh" in text(page)
    assert f'href="{site.base}"' in page.get_data(as_text=True)


def test_pages_after_the_link_need_the_cookie():
    site = Site()
    for path in ("/questions", "/password"):
        page = site.client.get(site.base + path)
        assert page.status_code == 400 and "Sila Gunakan Pautan Dalam Emel" in text(page)


def test_the_password_page_needs_the_answers_first():
    site = Site()
    user = site.active()
    site.request(user.user_id)
    site.follow_latest_link()
    assert site.client.get(f"{site.base}/password").headers["Location"] == f"{site.base}/questions"
    posted = site.client.post(f"{site.base}/password",
                              data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert posted.status_code == 303 and site.directory.password_matches(user.id, OLD_PASSWORD)


def test_the_history_refusal_is_shown_clearly():
    site = Site()
    user = site.at_password_step()
    refused = site.client.post(f"{site.base}/password",
                               data={"password": OLD_PASSWORD, "confirm": OLD_PASSWORD,
                                     "end_sessions": "on"})
    assert refused.status_code == 400
    assert "Kata laluan ini telah digunakan baru-baru ini." in text(refused)


def test_the_access_log_masks_recovery_links():
    assert redact("GET /melaka/recovery/link/abc.def-GHI HTTP/1.1") == (
        f"GET /melaka/recovery/link/{REDACTED} HTTP/1.1")


def test_every_key_used_in_the_templates_exists_in_both_languages():
    site = Site()
    with site.app.app_context():
        messages = catalog()
    used = set()
    for folder in ("recovery", "settings", "self_service"):
        for template in (TEMPLATES / folder).glob("*.html"):
            source = template.read_text("utf-8")
            assert "<script" not in source and "<style" not in source, template
            assert not re.search(r"\sstyle=|\son[a-z]+=", source), template
            used |= set(re.findall(r"""\bt\(\s*['"]([a-z_.]+[a-z])['"]""", source))
    used |= {f"settings.notice.{c}" for c in ("password", "questions", "site_key")}
    used |= {f"{code}{suffix}" for code in (
        "recovery.wrong_answers", "recovery.locked", "recovery.account_blocked",
        "recovery.link_expired", "recovery.link_used", "recovery.link_tampered",
        "recovery.link_missing", "recovery.link_wrong_realm", "settings.reauthenticate",
        "settings.not_activated", "settings.account_unavailable", "settings.login_failed")
        for suffix in ("", ".title")}
    assert len(used) > 60
    missing = {(key, locale) for key in used for locale in SUPPORTED_LOCALES
               if not messages.has(key, locale)}
    assert not missing


def test_page_catalogues_define_the_same_keys_in_both_languages():
    from idp_extension.web.page_messages import load_page_messages

    for name in ("recovery", "settings", "self_service"):
        messages = load_page_messages(name)
        assert set(messages["ms"]) == set(messages["en"]), name
    for catalogue in (flow.MESSAGES,):
        assert set(catalogue["ms"]) == set(catalogue["en"])


def test_the_pages_speak_english_on_request():
    site = Site()
    user = site.active()
    form = text(site.client.get(f"{site.base}?lang=en"))
    assert "<h1>Forgot Password</h1>" in form and "Please enter your account's user ID" in form
    site.request(user.user_id)
    assert site.mail.last().subject == f"iSPEKS Forgotten Password: User ID {user.user_id}"
    site.follow_latest_link()
    questions = text(site.client.get(f"{site.base}/questions"))
    assert "Please answer the following TWO (2) security questions" in questions
    for question in ASKED.findall(questions):
        assert TENANTS["pahang"].question(question).en in questions
