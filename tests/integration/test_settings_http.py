"""Security settings by HTTP: the sidecar signs in through the real Keycloak and changes things.

The sidecar runs in-process (tests/support/inprocess.py) with the session's Keycloak and
SMTP inbox. Signing in is Keycloak's own code flow with PKCE for the confidential
``ispeks-sidecar`` client: the test follows the redirects and posts Keycloak's login form
as a browser would. "Five minutes later" is the in-process clock moved forward.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from idp_extension.flows.answers import ANSWERS_ATTRIBUTE, verify_answer
from idp_extension.flows.first_login import IMAGE_ATTRIBUTE, PHRASE_ATTRIBUTE
from idp_extension.gateway.users import ACTIVE
from idp_extension.web.security import origin_of
from tests.support import constants
from tests.support.constants import NEW_PASSWORD, OLD_PASSWORD
from tests.support.inprocess import Browser, Stack
from tests.support.oidc_login import login

PHRASE = (constants.PHRASE, constants.IMAGE)
NEW_QUESTIONS = {"question_1": "first_pet", "answer_1": "Comel",
                 "question_2": "favourite_food", "answer_2": "Nasi lemak",
                 "question_3": "birth_town", "answer_3": "Kuantan"}


def active(stack: Stack, realm: str, seed: str):
    return stack.active(realm, seed, OLD_PASSWORD, {PHRASE_ATTRIBUTE: [PHRASE[0]],
                                                     IMAGE_ATTRIBUTE: [PHRASE[1]]})


def to_keycloak(browser: Browser, start: str, **expected_params) -> object:
    """GET a sidecar page that sends the browser to Keycloak; return Keycloak's page."""
    answer = browser.get(start)
    assert answer.status in (302, 303), answer.text[:300]
    if not answer.location.startswith(browser.stack.settings.keycloak_url):
        answer = browser.get(answer.location)
    url = answer.location
    query = parse_qs(urlsplit(url).query)
    assert query["client_id"] == ["ispeks-sidecar"]
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    for name, value in expected_params.items():
        assert query.get(name) == [value], (name, query.get(name))
    return browser.get(url)


def sign_in(browser: Browser, realm: str, user_id: str, password: str, start: str | None = None,
            **expected_params):
    """From ``start`` to Keycloak's form, the password, and back to the sidecar's callback."""
    page = to_keycloak(browser, start or f"/{realm}/settings/", **expected_params)
    answer = browser.login_form(page, user_id, password)
    assert answer.status == 302, f"Keycloak refused: {answer.text[:300]}"
    assert answer.location.startswith(f"{browser.stack.settings.sidecar_public_url}/{realm}/settings/callback")
    return browser.get(answer.location)


def logs_in(settings, realm: str, user_id: str, password: str) -> bool:
    return login(settings.keycloak_url, realm, user_id, password).status == 302


def test_signing_in_shows_the_user_s_own_details(stack, seed):
    record, user = active(stack, "melaka", seed)
    browser = stack.browser()

    back = sign_in(browser, "melaka", record.user_id, OLD_PASSWORD)

    assert back.status == 303 and back.location == "/melaka/settings/"
    page = browser.get("/melaka/settings/")
    assert page.status == 200
    for words in ("Tetapan Akaun", record.user_id, record.name, record.email, record.department,
                  "Tarikh Pendaftaran", PHRASE[0], "Log Keluar"):
        assert words in page.text, words
    assert len(stack.sessions("melaka", user.id)) == 1
    assert "account:settings:signed_in" in [e["event"] for e in stack.audit()]


def test_a_fresh_login_changes_the_password_with_an_event_and_an_email(stack, seed):
    record, _ = active(stack, "pahang", seed)
    browser = stack.browser()
    sign_in(browser, "pahang", record.user_id, OLD_PASSWORD)
    form = browser.get("/pahang/settings/password")
    assert form.status == 200 and "Kata Laluan Baru" in form.text
    assert "Kata laluan semasa anda telah disahkan di halaman log masuk" in form.text
    mark = stack.inbox.last_id

    changed = browser.submit("/pahang/settings/password",
                             {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    assert changed.status == 303 and changed.location == "/pahang/settings/"
    assert "Kata laluan anda telah berjaya ditukar." in browser.get("/pahang/settings/").text
    assert logs_in(stack.settings, "pahang", record.user_id, NEW_PASSWORD)
    assert not logs_in(stack.settings, "pahang", record.user_id, OLD_PASSWORD)
    notice = stack.inbox.wait_for(to=record.email, after=mark, timeout=15)
    assert notice.subject.startswith("Kata Laluan iSPEKS Telah Ditukar")
    [event] = stack.events("account:password:changed")
    assert event["outcome"] == "success" and event["subject"] == record.user_id
    assert NEW_PASSWORD not in stack.audit_path.read_text()


def test_keycloak_history_refuses_the_current_password(stack, seed):
    record, _ = active(stack, "kelantan", seed)
    browser = stack.browser()
    sign_in(browser, "kelantan", record.user_id, OLD_PASSWORD)

    refused = browser.submit("/kelantan/settings/password",
                             {"password": OLD_PASSWORD, "confirm": OLD_PASSWORD})

    assert refused.status == 400
    assert "Kata laluan ini telah digunakan baru-baru ini." in refused.text


def test_a_stale_login_changes_nothing_until_keycloak_asks_for_the_password_again(stack, seed):
    record, user = active(stack, "selangor", seed)
    browser = stack.browser()
    sign_in(browser, "selangor", record.user_id, OLD_PASSWORD)
    mark = stack.inbox.last_id

    # Five minutes and a second later: viewing is fine, changing is not.
    stack.clock.offset = timedelta(minutes=5, seconds=1)
    assert browser.get("/selangor/settings/").status == 200
    assert browser.get("/selangor/settings/questions").location == "/selangor/settings/reauth?next=questions"
    # The forms were opened before (the CSRF token of any page of the session will do).
    csrf = browser.csrf("/selangor/settings/")
    stale = browser.post("/selangor/settings/questions", {**NEW_QUESTIONS, "csrf_token": csrf})
    assert stale.status == 303 and stale.location == "/selangor/settings/reauth?next=questions"
    posted = browser.post("/selangor/settings/password",
                          {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD, "csrf_token": csrf})
    assert posted.status == 303 and posted.location == "/selangor/settings/reauth?next=password"
    # Nothing changed in Keycloak, no email went out.
    after = stack.admin("selangor").get(user.id)
    assert after.attributes[ANSWERS_ATTRIBUTE] == user.attributes[ANSWERS_ATTRIBUTE]
    assert logs_in(stack.settings, "selangor", record.user_id, OLD_PASSWORD)
    assert stack.messages_since(mark) == []
    assert [e["details"]["reason"] for e in stack.audit() if e["outcome"] == "denied"] == [
        "login_not_fresh", "login_not_fresh"]

    # The re-authentication: prompt=login and max_age=300, so Keycloak shows its form
    # despite the SSO session; then back to the form, where the change now works.
    stack.clock.offset = timedelta(0)
    back = sign_in(browser, "selangor", record.user_id, OLD_PASSWORD,
                   start="/selangor/settings/reauth?next=password", prompt="login", max_age="300")
    assert back.status == 303 and back.location == "/selangor/settings/password"
    changed = browser.submit("/selangor/settings/password",
                             {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert changed.status == 303
    assert logs_in(stack.settings, "selangor", record.user_id, NEW_PASSWORD)


def test_changing_the_questions_and_the_secret_phrase(stack, seed):
    record, user = active(stack, "melaka", seed)
    browser = stack.browser()
    sign_in(browser, "melaka", record.user_id, OLD_PASSWORD)
    mark = stack.inbox.last_id

    assert browser.submit("/melaka/settings/questions", NEW_QUESTIONS).status == 303
    phrase = browser.submit("/melaka/settings/secret-phrase",
                            {"phrase": "Bulan di Tasik Biru", "image": "moon"})
    assert phrase.status == 303

    stored = stack.admin("melaka").get(user.id).attributes
    assert verify_answer(stored[ANSWERS_ATTRIBUTE][0], "first_pet", "comel")
    assert not verify_answer(stored[ANSWERS_ATTRIBUTE][0], "mother_name", "Siti Aishah")
    assert (stored[PHRASE_ATTRIBUTE], stored[IMAGE_ATTRIBUTE]) == (["Bulan di Tasik Biru"], ["moon"])
    subjects = sorted(m.subject.strip() for m in stack.messages_since(mark))
    assert [s.split(":")[0] for s in subjects] == [
        "Frasa Rahsia dan Imej iSPEKS Telah Ditukar", "Soalan Keselamatan iSPEKS Telah Ditukar"]
    assert {e["event"] for e in stack.audit() if e["outcome"] == "success"} >= {
        "account:security_questions:changed", "account:secret_phrase:changed"}
    # The login page's site key answers with the new phrase and picture.
    shown = browser.sidecar.post("/melaka/site-key", data={"id": record.user_id},
                                 headers={"Origin": origin_of(stack.settings.keycloak_url),
                                          "Accept": "application/json"})
    assert shown.status_code == 200
    assert (shown.json["phrase"], shown.json["image"]["id"]) == ("Bulan di Tasik Biru", "moon")


def test_log_keluar_ends_the_keycloak_session(stack, seed):
    record, user = active(stack, "pahang", seed)
    browser = stack.browser()
    sign_in(browser, "pahang", record.user_id, OLD_PASSWORD)
    assert len(stack.sessions("pahang", user.id)) == 1

    out = browser.post("/pahang/settings/logout", {"csrf_token": browser.csrf("/pahang/settings/")})
    # Ended from the back channel by its session id: no Keycloak page, no ID token needed.
    assert out.status == 303 and out.location == "/pahang/settings/signed-out"
    signed_out = browser.follow(out)

    assert signed_out.status == 200 and "Anda telah log keluar" in signed_out.text
    assert stack.sessions("pahang", user.id) == []
    # Back to the settings: Keycloak asks for the password again (no SSO session left).
    again = to_keycloak(browser, "/pahang/settings/")
    assert again.status == 200 and 'id="kc-form-login"' in again.body
    assert "account:settings:signed_out" in [e["event"] for e in stack.audit()]


def test_a_cookie_copied_before_log_keluar_is_refused_after(stack, seed):
    record, user = active(stack, "kelantan", seed)
    browser = stack.browser()
    sign_in(browser, "kelantan", record.user_id, OLD_PASSWORD)
    assert browser.get("/kelantan/settings/").status == 200
    copied = browser.sidecar.get_cookie("ispeks_session").value
    stored = stack.app.session_interface.get_signing_serializer(stack.app).loads(copied)
    # What the cookie holds, decoded: who and when, a random session id; never a token.
    assert set(stored["settings.user"]) == {"iss", "sub", "user_id", "auth_time", "at",
                                            "kc_sid", "sid", "totp_required"}  # a boolean
    assert not any(value.count(".") == 2 and len(value) > 100
                   for value in stored["settings.user"].values() if isinstance(value, str))

    browser.post("/kelantan/settings/logout", {"csrf_token": browser.csrf("/kelantan/settings/")})
    thief = stack.browser()
    thief.sidecar.set_cookie("ispeks_session", copied)

    refused = thief.get("/kelantan/settings/")
    assert refused.status == 302 and refused.location.startswith(stack.settings.keycloak_url)
    assert stack.sessions("kelantan", user.id) == []


def test_a_pending_account_is_refused_and_keeps_no_keycloak_session(stack, seed):
    record = stack.person("melaka", seed)
    admin = stack.admin("melaka")
    user, _ = admin.register_pending(record)
    admin.set_password(user.id, OLD_PASSWORD)  # e.g. a temporary password
    browser = stack.browser()

    refused = sign_in(browser, "melaka", record.user_id, OLD_PASSWORD)

    assert refused.status == 403 and "Akaun anda belum diaktifkan" in refused.text
    assert stack.sessions("melaka", user.id) == []
    assert admin.get(user.id).activation_state != ACTIVE
    assert browser.get("/melaka/settings/").status == 302  # not signed in
