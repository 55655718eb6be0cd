"""The activation pages with in-memory Keycloak, mail, audit and a manual clock."""

from __future__ import annotations

import dataclasses
import html
import json
import random
import re
from pathlib import Path

import pytest

from idp_extension.demo_users import synthetic_mykad, synthetic_people
from idp_extension.flows import activation as flow
from idp_extension.flows.emailed_link import DEFAULT_MIN_REQUEST_SECONDS
from idp_extension.flows.password_rules import rules_as_data
from idp_extension.gateway.users import ACTIVATION_STATE, ACTIVE
from idp_extension.i18n import SUPPORTED_LOCALES
from idp_extension.mail.errors import MailUnavailable
from idp_extension.realms.profile import attribute_names
from idp_extension.web import activation as pages
from idp_extension.web.access_log import REDACTED, RedactingLogger, redact
from idp_extension.web.language import catalog
from tests.support import worlds
from tests.support.constants import CSRF, NEW_PASSWORD, QUESTIONS_FORM
from tests.support.memory_users import InMemoryUserDirectory
from tests.support.tokens import with_flipped_signature
from tests.support.worlds import SITE_SETTINGS as SETTINGS
from tests.support.worlds import TENANTS

LINK = re.compile(r"http://sidecar\.test(?P<path>/[a-z]+/activation/link/[A-Za-z0-9_.\-]+)")
TEMPLATES = Path(pages.__file__).parent / "templates" / "activation"


class Site(worlds.Site):
    """One app with a directory per realm, and a browser-like client."""

    seed = "web-activation"

    def __init__(self, *, settings=SETTINGS, csrf: bool = False, **directory_options) -> None:
        self.directories = {
            realm: InMemoryUserDirectory(realm, declared_attributes=attribute_names(),
                                         **directory_options)
            for realm in TENANTS
        }
        super().__init__(settings=settings, csrf=csrf, **directory_options)
        self.directory = self.directories[self.realm]
        self.people = {realm: synthetic_people(TENANTS[realm], 6, seed=self.seed)
                       for realm in ("pahang", "kelantan")}

    def services(self):
        # Claims in the settings' store, as production has them.
        return dataclasses.replace(super().services(), claims=None)

    def directory_of(self, realm: str) -> InMemoryUserDirectory:
        return self.directories[realm]

    def pending(self, realm: str = "pahang", index: int = 0):
        user, _ = self.directories[realm].register_pending(self.people[realm][index])
        return user

    def request(self, user_id: str, realm: str = "pahang", **extra):
        return self.client.post(f"/{realm}/activation", data={"user_id": user_id, **extra})

    def link_path(self) -> str:
        return LINK.search(self.mail.last().text).group("path")

    def open_account(self, realm: str = "pahang", index: int = 0):
        user = self.pending(realm, index)
        self.request(user.user_id, realm)
        response = self.client.get(self.link_path())
        assert response.status_code == 303, response.get_data(as_text=True)
        return user

    def at_password_step(self, realm: str = "pahang", index: int = 0):
        user = self.open_account(realm, index)
        response = self.client.post(f"/{realm}/activation/account/questions", data=QUESTIONS_FORM)
        assert response.status_code == 303
        return user

    def finish(self, password: str, confirm: str | None = None, realm: str = "pahang"):
        return self.client.post(f"/{realm}/activation/account/password", data={
            "password": password, "confirm": password if confirm is None else confirm})


@pytest.fixture
def site() -> Site:
    return Site()


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


# -- which states --------------------------------------------------------------------


@pytest.mark.parametrize("realm", ["pahang", "kelantan"])
def test_activation_link_states_show_the_request_form_as_the_manual(site, realm):
    response = site.client.get(f"/{realm}/activation")
    body = text_of(response)

    assert response.status_code == 200
    for words in ("Emel Pengaktifan Akaun", "Sila nyatakan ID Pengguna akaun anda",
                  'placeholder="cth:123456789012"', ">Hantar<", "Kembali Ke Log Masuk"):
        assert words in body
    assert f'href="{SETTINGS.keycloak_url}/realms/{realm}/account/"' in body


@pytest.mark.parametrize("realm", ["selangor", "melaka"])
def test_temporary_password_states_have_no_activation_pages(site, realm):
    for path in ("", "/account", "/link/abc"):
        assert site.client.get(f"/{realm}/activation{path}").status_code == 404
    assert site.request("900101061234", realm).status_code == 404


def test_with_the_demo_portal_the_login_buttons_go_to_the_portal():
    site = Site(settings=SETTINGS.with_overrides(demo_portal=True))
    body = text_of(site.client.get("/pahang/activation"))
    assert 'href="/pahang/portal/"' in body


def test_the_page_is_in_english_on_request(site):
    body = text_of(site.client.get("/kelantan/activation?lang=en"))
    for words in ("Account Activation Email", "Please enter the User ID of your account",
                  ">Send<", "Back to Log In"):
        assert words in body


# -- request and confirmation --------------------------------------------------------


@pytest.mark.parametrize("raw", ["", "12345", "abcdefghijkl", "901332061234"])
def test_a_malformed_id_is_a_field_error_and_sends_nothing(site, raw):
    response = site.request(raw)
    body = text_of(response)

    assert response.status_code == 400
    assert "Sila masukkan No Kad Pengenalan 12 digit yang sah" in body
    assert 'aria-invalid="true"' in body and 'href="#user_id"' in body
    assert site.mail.sent == []


def test_a_pending_user_gets_an_email_and_a_confirmation_naming_no_address(site):
    user = site.pending()

    response = site.request(user.user_id)
    body = text_of(response)

    assert response.status_code == 200
    assert ("Jika ID Pengguna ini berdaftar dan belum diaktifkan, emel pengaktifan akaun telah "
            "dihantar ke emel rasmi yang didaftarkan untuknya dalam Modul Gaji.") in body
    local = user.email.split("@")[0]
    assert "*****" not in body and local not in body and "masked-email" not in body
    [message] = site.mail.sent
    assert message.to == user.email and message.subject == "Pengaktifan Akaun iSPEKS"
    assert site.clock.slept == [DEFAULT_MIN_REQUEST_SECONDS]


def test_the_email_follows_the_page_language(site):
    user = site.pending()
    site.client.get("/pahang/activation?lang=en")
    site.request(user.user_id)
    assert site.mail.last().subject == "iSPEKS Account Activation"


def test_unknown_active_and_disabled_ids_get_the_same_page_and_no_email(site):
    real = site.pending(index=0)
    active = site.pending(index=1)
    site.directories["pahang"].update_attributes(active.id, {ACTIVATION_STATE: [ACTIVE]})
    disabled = site.pending(index=2)
    site.directories["pahang"].set_enabled(disabled.id, False)
    unknown = synthetic_mykad(random.Random(5), "06")

    answers = {kind: site.request(user_id) for kind, user_id in (
        ("real", real.user_id), ("unknown", unknown), ("active", active.user_id),
        ("disabled", disabled.user_id))}

    assert [m.to for m in site.mail.sent] == [real.email]
    shapes = set()
    for kind, response in answers.items():
        body = response.get_data(as_text=True)
        headers = sorted(response.headers.items())
        shapes.add((response.status_code, body, tuple(headers)))
    assert len(shapes) == 1
    assert site.clock.slept == [DEFAULT_MIN_REQUEST_SECONDS] * 4


PER_NETWORK = int(pages.REQUESTS_PER_ID.per_network.split()[0])
OVERALL = int(pages.REQUESTS_PER_ID.overall.split()[0])


def _ask(site, user_id: str, address: str, path: str = "/pahang/activation"):
    return site.client.post(path, data={"user_id": user_id},
                            environ_base={"REMOTE_ADDR": address}).status_code


def test_a_stranger_on_one_network_cannot_stop_the_owner_asking(site):
    user = site.pending()
    dashed = f"{user.user_id[:6]}-{user.user_id[6:8]}-{user.user_id[8:]}"
    # One IPv6 /64 is one network, however the stranger writes the ID.
    stranger = [_ask(site, user_id, f"2001:db8:77:1::{n + 1:x}")
                for n, user_id in enumerate([user.user_id, dashed, user.user_id, dashed])]

    assert stranger == [200] * PER_NETWORK + [429] * (4 - PER_NETWORK)
    assert _ask(site, user.user_id, "10.20.30.40") == 200  # the owner, elsewhere
    # Recovery shares the counters (one mailbox): the stranger is refused there too.
    assert _ask(site, user.user_id, "2001:db8:77:1::9", "/pahang/recovery") == 429
    assert _ask(site, user.user_id, "10.20.30.41", "/pahang/recovery") == 200
    assert len(site.mail.sent) == PER_NETWORK + 1


def test_requests_per_id_from_every_network_stop_at_a_much_larger_ceiling(site):
    user = site.pending()
    # Refused requests count nowhere else: the stranger's 10 leave the ceiling alone.
    stranger = [_ask(site, user.user_id, "192.0.2.66") for _ in range(10)]
    others = [_ask(site, user.user_id, f"10.1.{n}.1") for n in range(OVERALL - PER_NETWORK)]
    over = site.client.post("/pahang/activation", data={"user_id": user.user_id},
                            environ_base={"REMOTE_ADDR": "10.2.0.1"})

    assert stranger == [200] * PER_NETWORK + [429] * (10 - PER_NETWORK)
    assert others == [200] * (OVERALL - PER_NETWORK)
    assert over.status_code == 429 and 0 < int(over.headers["Retry-After"]) <= 3600
    assert "Terlalu banyak percubaan" in text_of(over)
    assert len(site.mail.sent) == OVERALL
    other = site.pending(index=1)
    assert site.request(other.user_id).status_code == 200


def test_requests_are_limited_per_address(site):
    ids = [synthetic_mykad(random.Random(n), "06") for n in range(11)]
    statuses = [site.request(user_id).status_code for user_id in ids]

    assert statuses == [200] * 10 + [429]
    response = site.client.post("/pahang/activation", data={"user_id": ids[0]},
                                environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert response.status_code == 200


def test_activation_and_recovery_count_requests_per_address_apart(site):
    # The two flows' ID forms come from one add_link_pages and still count apart.
    ids = [synthetic_mykad(random.Random(100 + n), "06") for n in range(12)]
    activation = [site.request(user_id).status_code for user_id in ids[:11]]
    recovery = _ask(site, ids[11], "127.0.0.1", "/pahang/recovery")

    assert activation == [200] * 10 + [429]
    assert recovery == 200


def test_the_rate_limited_page_says_so_and_asks_to_wait(site):
    for n in range(10):
        site.request(synthetic_mykad(random.Random(n), "06"))
    response = site.request(synthetic_mykad(random.Random(99), "06"))
    body = text_of(response)
    assert response.status_code == 429
    assert "Terlalu banyak percubaan" in body and int(response.headers["Retry-After"]) > 0


def test_smtp_down_answers_the_same_page_and_nothing_changes(site):
    user = site.pending()
    unknown = synthetic_mykad(random.Random(5), "06")
    site.mail.fail_with = MailUnavailable("connection refused")

    response = site.request(user.user_id)

    assert response.status_code == 200
    assert response.get_data() == site.request(unknown).get_data()
    assert "mail:send:failed" in [e["event"] for e in site.audit.entries]
    assert site.directories["pahang"].get(user.id).attributes.get(flow.NONCE_ATTRIBUTE) is None


def test_keycloak_down_is_the_503_page(site):
    user = site.pending()
    site.directories["pahang"].unavailable = True

    response = site.request(user.user_id)

    assert response.status_code == 503 and response.headers["Retry-After"]
    assert site.mail.sent == []


def test_posting_without_the_csrf_token_is_refused():
    site = Site(csrf=True)
    user = site.pending()

    refused = site.request(user.user_id)
    assert refused.status_code == 400 and site.mail.sent == []

    form = site.client.get("/pahang/activation").get_data(as_text=True)
    accepted = site.request(user.user_id, csrf_token=CSRF.search(form).group(1))
    assert accepted.status_code == 200 and len(site.mail.sent) == 1


# -- the link and its cookie ---------------------------------------------------------


def test_following_the_link_moves_the_token_into_a_scoped_cookie(site):
    site.pending()
    site.request(site.people["pahang"][0].user_id)
    path = site.link_path()
    token = path.rsplit("/", 1)[1]

    response = site.client.get(path)

    assert response.status_code == 303
    assert response.headers["Location"] == "/pahang/activation/account"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    [cookie] = response.headers.getlist("Set-Cookie")
    assert cookie.startswith(f"{pages.COOKIE_NAME}=")
    assert token not in cookie
    for flag in ("HttpOnly", "Path=/pahang/activation", "SameSite=Lax"):
        assert flag in cookie
    assert "Secure" not in cookie
    max_age = int(re.search(r"Max-Age=(\d+)", cookie).group(1))
    assert 1700 < max_age <= 1800


def test_over_https_the_cookie_is_secure():
    site = Site(settings=SETTINGS.with_overrides(sidecar_public_url="https://sidecar.test"))
    user = site.pending()
    site.request(user.user_id)
    path = re.search(r"https://sidecar\.test(/\S+/link/\S+)", site.mail.last().text).group(1)
    cookie = site.client.get(path, base_url="https://sidecar.test").headers["Set-Cookie"]
    assert "Secure" in cookie


def test_the_account_page_shows_the_users_details_and_the_first_step(site):
    user = site.open_account()
    record = site.people["pahang"][0]

    response = site.client.get("/pahang/activation/account")
    body = text_of(response)

    assert response.status_code == 200
    for words in ("Pengaktifan Akaun", "No Kad Pengenalan", user.user_id, "Nama", record.name,
                  "Emel", record.email, "Tarikh Pendaftaran",
                  flow.format_page_date(record.registration_date),
                  "Tetapan Soalan Keselamatan", "Tetapan Kata Laluan",
                  "Anda perlu memilih TIGA(3) soalan keselamatan dibawah :",
                  ">Tambah<", ">Padam<", "Seterusnya", "Sila Pilih"):
        assert words in body, words
    # Without JavaScript: three question selects and three answers.
    for n in (1, 2, 3):
        assert f'name="question_{n}"' in body and f'name="answer_{n}"' in body
    for question in TENANTS["pahang"].security_questions:
        assert question.ms in body
    assert 'aria-current="step"' in body


@pytest.mark.parametrize("mangle", [
    with_flipped_signature,
    lambda token: "garbage",
])
def test_a_tampered_link_shows_the_reason_and_a_way_to_ask_again(site, mangle):
    site.pending()
    site.request(site.people["pahang"][0].user_id)
    base, token = site.link_path().rsplit("/", 1)

    response = site.client.get(f"{base}/{mangle(token)}")
    body = text_of(response)

    assert response.status_code == 400
    assert "Pautan Tidak Sah" in body and "ulangi Langkah 2" in body
    assert 'href="/pahang/activation"' in body and "Mohon Emel Pengaktifan Baharu" in body
    assert f"{pages.COOKIE_NAME}=;" in response.headers.get("Set-Cookie", "")


def test_an_expired_link_is_410_with_a_way_to_ask_again(site):
    site.pending()
    site.request(site.people["pahang"][0].user_id)
    site.clock.advance(minutes=30, seconds=1)

    response = site.client.get(site.link_path())

    assert response.status_code == 410
    assert "Pautan Telah Tamat Tempoh" in text_of(response)


def test_the_cookie_expires_with_the_link(site):
    site.open_account()
    site.clock.advance(minutes=31)

    response = site.client.get("/pahang/activation/account")

    assert response.status_code == 410 and "telah tamat tempoh" in text_of(response)


def test_pages_without_a_followed_link_ask_to_use_the_email(site):
    for method, path in (("get", "account"), ("post", "account/questions"),
                         ("post", "account/password")):
        response = getattr(site.client, method)(f"/pahang/activation/{path}")
        assert response.status_code == 400
        assert "Sila Gunakan Pautan Dalam Emel" in text_of(response)


def test_a_forged_cookie_is_a_tampered_link(site):
    site.client.set_cookie(pages.COOKIE_NAME, "forged.value", path="/pahang/activation")
    response = site.client.get("/pahang/activation/account")
    assert response.status_code == 400 and "Pautan Tidak Sah" in text_of(response)


def test_a_link_of_another_state_is_refused(site):
    site.pending("kelantan")
    site.request(site.people["kelantan"][0].user_id, "kelantan")
    token = site.link_path().rsplit("/", 1)[1]

    response = site.client.get(f"/pahang/activation/link/{token}")

    assert response.status_code == 400
    assert "bukan untuk iSPEKS negeri ini" in text_of(response)


# -- questions -----------------------------------------------------------------------


@pytest.mark.parametrize("changes, field, words", [
    ({"question_2": "mother_name"}, "question_2", "Setiap soalan keselamatan mesti berbeza."),
    ({"answer_3": "  "}, "answer_3", "Sila isi jawapan."),
    ({"question_1": ""}, "question_1", "Sila pilih soalan daripada senarai."),
    ({"answer_2": "x"}, "answer_2", "Jawapan mesti sekurang-kurangnya 2 aksara."),
])
def test_bad_questions_come_back_with_field_errors(site, changes, field, words):
    user = site.open_account()

    response = site.client.post("/pahang/activation/account/questions", data={**QUESTIONS_FORM, **changes})
    body = text_of(response)

    assert response.status_code == 400
    assert words in body and f'id="{field}-error"' in body
    # What was typed stays, so nobody retypes three answers for one mistake.
    assert 'value="Kancil merah"' in body or field == "answer_2"
    stored = site.directories["pahang"].get(user.id).attributes
    assert "ispeks_security_answers" not in stored


def test_questions_then_the_password_step_with_the_live_rules(site):
    site.open_account()

    response = site.client.post("/pahang/activation/account/questions", data=QUESTIONS_FORM)
    assert response.status_code == 303
    page = site.client.get(response.headers["Location"])
    body = text_of(page)

    for words in ("Kata Laluan", "Ulang Kata Laluan",
                  "Kata laluan anda tidak menepati syarat-syarat berikut :",
                  "Panjang aksara mesti tidak kurang daripada 12.",
                  "Mesti mengandungi aksara berhuruf kecil.",
                  "Mesti mengandungi aksara berhuruf besar.",
                  "Mesti mengandungi aksara bernombor.",
                  "Mesti mengandungi aksara khas.",
                  "Tunjuk Kata Laluan", ">Selesai<"):
        assert words in body, words
    raw = re.search(r"data-rules='([^']*)'", page.get_data(as_text=True)).group(1)
    assert json.loads(html.unescape(raw)) == json.loads(json.dumps(rules_as_data()))
    assert 'autocomplete="new-password"' in body


def test_coming_back_after_the_questions_resumes_at_the_password(site):
    site.at_password_step()
    site.request(site.people["pahang"][0].user_id)

    site.client.get(site.link_path())
    body = text_of(site.client.get("/pahang/activation/account"))

    assert 'id="password-form"' in body and 'id="qa-form"' not in body


# -- password and done ---------------------------------------------------------------


@pytest.mark.parametrize("password, confirm, words", [
    ("Pendek#9a", None, "Panjang aksara mesti tidak kurang daripada 12."),
    ("TIADA-HURUF-KECIL-9", None, "Mesti mengandungi aksara berhuruf kecil."),
    ("tiada-huruf-besar-9", None, "Mesti mengandungi aksara berhuruf besar."),
    ("Tiada-Nombor-Langsung", None, "Mesti mengandungi aksara bernombor."),
    ("TiadaAksaraKhas99", None, "Mesti mengandungi aksara khas."),
    ("Malaysia@2024", None, "Mesti bukan kata laluan yang biasa digunakan."),
    (NEW_PASSWORD, NEW_PASSWORD + "x", "Ulang Kata Laluan mesti sama dengan Kata Laluan."),
    ("Tiga#Ekor\r\nKucing9", None, "Mesti tidak mengandungi aksara kawalan"),
    ("Tiga#Ekor\u202eKucing9", None, "aksara arah teks yang tersembunyi"),
])
def test_a_refused_password_is_shown_clearly_and_changes_nothing(site, password, confirm, words):
    user = site.at_password_step()

    response = site.finish(password, confirm)
    body = text_of(response)

    assert response.status_code == 400
    assert "Kata laluan tidak diterima:" in body and words in body
    assert password not in response.get_data(as_text=True)
    assert site.directories["pahang"].password_count(user.id) == 1


def test_a_password_containing_the_id_is_refused(site):
    user = site.at_password_step()
    response = site.finish(f"Aa#{user.user_id}")
    assert response.status_code == 400
    assert "Mesti tidak sama dengan atau mengandungi ID Pengguna." in text_of(response)


def test_keycloaks_policy_refusal_is_a_message_not_a_crash():
    site = Site(password_policy=lambda *_: json.dumps({"error": "invalidPasswordHistoryMessage"}))
    site.at_password_step()

    response = site.finish(NEW_PASSWORD)

    assert response.status_code == 400
    assert "Kata laluan ini telah digunakan baru-baru ini." in text_of(response)


def test_the_password_before_the_questions_goes_back_to_the_questions(site):
    site.open_account()
    response = site.finish(NEW_PASSWORD)
    assert response.status_code == 303
    assert response.headers["Location"] == "/pahang/activation/account"


def test_the_whole_flow_activates_once_and_the_link_is_used_up(site):
    user = site.at_password_step()
    link = site.link_path()

    response = site.finish(NEW_PASSWORD)
    body = text_of(response)

    assert response.status_code == 200
    assert "Tahniah. Akaun anda telah berjaya diaktifkan. Anda boleh log masuk ke sistem." in body
    assert ">Log Masuk<" in body and body.count("step-done") == 2
    assert f"{pages.COOKIE_NAME}=;" in response.headers["Set-Cookie"]
    directory = site.directories["pahang"]
    assert directory.password_matches(user.id, NEW_PASSWORD)
    assert directory.get(user.id).activation_state == ACTIVE
    again = site.client.get(link)
    assert again.status_code == 410 and "Pautan Telah Digunakan" in text_of(again)
    assert site.audit.events() == [
        "account:activation:requested", "account:activation:link_opened",
        "account:security_questions:changed", "account:activation:completed",
        "account:activation:failed"]


def test_kelantan_runs_the_same_pages(site):
    user = site.at_password_step("kelantan")
    response = site.finish(NEW_PASSWORD, realm="kelantan")
    assert response.status_code == 200
    assert site.directories["kelantan"].get(user.id).activation_state == ACTIVE


def test_a_pending_user_locked_by_strangers_activates_and_is_unlocked(site):
    user = site.pending()
    site.directories["pahang"].record_failed_logins(user.id, 3)

    site.request(user.user_id)
    assert site.client.get(site.link_path()).status_code == 303
    site.client.post("/pahang/activation/account/questions", data=QUESTIONS_FORM)
    response = site.finish(NEW_PASSWORD)

    assert response.status_code == 200
    after = site.directories["pahang"].get(user.id)
    assert after.enabled and not after.permanently_locked


def test_a_link_of_an_account_disabled_meanwhile_is_refused(site):
    user = site.open_account()
    site.directories["pahang"].set_enabled(user.id, False)
    response = site.client.get("/pahang/activation/account")
    assert response.status_code == 403
    assert "Sila hubungi Pentadbir Sistem" in text_of(response)


# -- the catalogue and the log -------------------------------------------------------


def test_every_key_the_activation_pages_use_exists_in_both_languages(site):
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*['"]([a-z_.]+)['"]""", template.read_text()))
    codes = {"activation.link_missing", "activation.link_tampered", "activation.link_expired",
             "activation.link_used", "activation.link_wrong_realm", "activation.invalid_id"}
    used |= codes | {f"{code}.title" for code in codes}
    used |= {rule["message_key"] for rule in rules_as_data()}
    assert len(used) > 40
    with site.app.app_context():
        messages = catalog()
        missing = {(key, locale) for key in used for locale in SUPPORTED_LOCALES
                   if not messages.has(key, locale)}
    assert not missing


def test_the_flows_messages_do_not_shadow_the_web_catalogue():
    from idp_extension.flows import answers, password_rules
    from idp_extension.i18n import MessageCatalog
    from idp_extension.web.app import MESSAGES_DIR

    web = MessageCatalog.load(MESSAGES_DIR)
    for source in (flow.MESSAGES, password_rules.MESSAGES, answers.MESSAGES):
        for locale in SUPPORTED_LOCALES:
            assert not set(source[locale]) & web.keys(locale)


def test_the_access_log_never_shows_a_link_token():
    token = "eyJyZWFsbSI6InBhaGFuZyJ9.c2lnbmF0dXJl"
    assert redact(f"GET /pahang/activation/link/{token} HTTP/1.1") == \
        f"GET /pahang/activation/link/{REDACTED} HTTP/1.1"
    assert redact(f"/kelantan/recovery/link/{token}?lang=en") == \
        f"/kelantan/recovery/link/{REDACTED}?lang=en"
    assert redact("/pahang/portal/callback?state=abc&code=xyz") == \
        f"/pahang/portal/callback?state={REDACTED}&code={REDACTED}"
    assert redact("/pahang/activation/account") == "/pahang/activation/account"


def test_the_gunicorn_logger_cleans_every_atom():
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    token = "eyJyZWFsbSI6InBhaGFuZyJ9.c2lnbmF0dXJl"
    logger = RedactingLogger(Config())
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/pahang/activation/link/{token}",
               "SERVER_PROTOCOL": "HTTP/1.1", "PATH_INFO": f"/pahang/activation/link/{token}",
               "QUERY_STRING": "", "HTTP_REFERER": f"http://x/pahang/activation/link/{token}",
               "HTTP_COOKIE": "ispeks_activation=secret"}
    response = SimpleNamespace(status="303 See Other", sent=0,
                               headers=[("Set-Cookie", "ispeks_activation=secret")])
    request = SimpleNamespace(headers=[("Cookie", "ispeks_activation=secret")])

    atoms = logger.atoms(response, request, environ, timedelta(seconds=0.1))

    assert token not in repr(atoms) and "secret" not in repr(atoms)
    assert atoms["U"] == f"/pahang/activation/link/{REDACTED}"
