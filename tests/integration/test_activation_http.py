"""Account activation by HTTP against the real Keycloak and a real SMTP server.

The sidecar app runs in-process (Flask's test client, CSRF on) with the production
collaborators: each realm's sidecar service account in Keycloak, SMTP to the session's
inbox, a JSON-lines audit file. Only the clock is the test's (the real clock, which a
test may move forward) and the two outages are switches that point Keycloak or SMTP at
a closed port. The emailed link is read from the inbox and followed, as a person would.
"""

from __future__ import annotations

import html
import json
import random
import re
import threading
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from idp_extension.demo_users import synthetic_mykad, synthetic_people
from idp_extension.flows.activation import NONCE_ATTRIBUTE
from idp_extension.flows.answers import ANSWERS_ATTRIBUTE
from idp_extension.flows.emailed_link import DEFAULT_MIN_REQUEST_SECONDS
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.users import ACTIVATION_STATE, ACTIVE, UserDirectory
from idp_extension.tenants import load_tenants
from idp_extension.web.activation import COOKIE_NAME
from tests.support import inprocess
from tests.support.constants import ANSWERS, CSRF, NEW_PASSWORD
from tests.support.oidc_login import decode_jwt_claims, login
from tests.support.lockout import wait_until_locked
from tests.support.tokens import with_flipped_signature
from tests.support.waiting import wait_until

PASSWORD = NEW_PASSWORD
LINK = re.compile(r"https?://\S+?/(?P<realm>[a-z]+)/activation/link/(?P<token>[A-Za-z0-9_.\-]+)")
SENT = "emel pengaktifan akaun telah dihantar ke emel rasmi yang didaftarkan"


class Stack(inprocess.Stack):
    """The shared in-process sidecar (tests/support/inprocess.py), with activation's helpers."""

    def pending(self, realm: str, seed: str, count: int = 1):
        """Register ``count`` new pending users (synthetic people) and return their records."""
        records = synthetic_people(self.tenants[realm], count, seed=seed)
        for record in records:
            self.admin(realm).register_pending(record)
        return records

    def visitor(self, realm: str = "pahang") -> "Visitor":
        return Visitor(self, realm)

    def email_to(self, address: str, after: int):
        return self.inbox.wait_for(to=address, after=after, timeout=15)


class Visitor:
    """One browser: its own cookies; every form posted with the CSRF token of its page."""

    def __init__(self, stack: Stack, realm: str) -> None:
        self.stack = stack
        self.realm = realm
        self.client = stack.app.test_client()
        self.base = f"/{realm}/activation"

    def csrf(self, path: str | None = None) -> str:
        page = self.client.get(path or self.base)
        return CSRF.search(page.get_data(as_text=True)).group(1)

    def request(self, user_id: str, **environ):
        data = {"user_id": user_id, "csrf_token": self.csrf()}
        return self.client.post(self.base, data=data, environ_base=environ)

    def follow(self, link: str):
        return self.client.get(urlsplit(link).path)

    def account(self):
        return self.client.get(f"{self.base}/account")

    def questions(self, choices=ANSWERS):
        data = {"csrf_token": self.csrf(f"{self.base}/account")}
        for n, (question, answer) in enumerate(choices, start=1):
            data[f"question_{n}"], data[f"answer_{n}"] = question, answer
        return self.client.post(f"{self.base}/account/questions", data=data)

    def password(self, password: str, confirm: str | None = None, csrf: str | None = None):
        data = {"password": password, "confirm": password if confirm is None else confirm,
                "csrf_token": csrf or self.csrf(f"{self.base}/account")}
        return self.client.post(f"{self.base}/account/password", data=data)

    def request_and_read_link(self, record) -> str:
        mark = self.stack.inbox.last_id
        response = self.request(record.user_id)
        assert response.status_code == 200, text(response)
        return LINK.search(self.stack.email_to(record.email, mark).text).group(0)

    def at_password_step(self, record) -> str:
        link = self.request_and_read_link(record)
        assert self.follow(link).status_code == 303
        assert self.questions().status_code == 303
        return link


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def stack(provisioned_realms, mail_inbox, tmp_path) -> Stack:
    return Stack(provisioned_realms, mail_inbox, tmp_path / "audit.jsonl")


# -- the whole flow ------------------------------------------------------------------


@pytest.mark.parametrize("realm", ["pahang", "kelantan"])
def test_whole_flow_by_http_then_an_oidc_login_with_the_new_password(stack, seed, realm):
    [record] = stack.pending(realm, seed)
    visitor = stack.visitor(realm)
    mark = stack.inbox.last_id

    # Langkah 2-3: the ID; the confirmation names no address.
    form = visitor.client.get(f"/{realm}/activation")
    assert "Sila nyatakan ID Pengguna akaun anda" in text(form)
    sent = visitor.request(record.user_id)
    assert sent.status_code == 200 and SENT in text(sent)
    assert record.email.split("@")[0] not in text(sent) and "*****" not in text(sent)

    # Langkah 4: the email, read from the SMTP server.
    email = stack.email_to(record.email, mark)
    assert email.subject == "Pengaktifan Akaun iSPEKS"
    assert email.text and email.html
    for words in ("Pendaftaran Akaun iSPEKS", record.name,
                  "Sila ambil maklum bahawa pautan ini sah dalam tempoh 30 minit sahaja."):
        assert words in email.text
    assert ">Pengaktifan Akaun</a>" in email.html and record.name in email.html
    link = LINK.search(email.text)
    assert link.group("realm") == realm and link.group(0) in email.html
    assert "?" not in link.group(0)

    # Langkah 5: the link; the token moves from the URL into a cookie.
    opened = visitor.follow(link.group(0))
    assert opened.status_code == 303 and opened.headers["Location"] == f"/{realm}/activation/account"
    assert opened.headers["Referrer-Policy"] == "no-referrer"
    account = visitor.account()
    body = text(account)
    for words in ("Pengaktifan Akaun", record.user_id, record.name, record.email,
                  "Tetapan Soalan Keselamatan", "Tetapan Kata Laluan",
                  "Anda perlu memilih TIGA(3) soalan keselamatan dibawah :"):
        assert words in body
    assert link.group("token") not in account.get_data(as_text=True)

    # Langkah 5-6: questions, then the password.
    saved = visitor.questions()
    assert saved.status_code == 303
    assert "Kata laluan anda tidak menepati syarat-syarat berikut :" in text(visitor.account())
    done = visitor.password(PASSWORD)

    # Langkah 7.
    assert done.status_code == 200
    assert "Tahniah. Akaun anda telah berjaya diaktifkan. Anda boleh log masuk ke sistem." in text(done)
    assert f"{COOKIE_NAME}=;" in done.headers["Set-Cookie"]
    user = stack.admin(realm).find(record.user_id)
    assert user.activation_state == ACTIVE
    assert NONCE_ATTRIBUTE not in user.attributes
    assert json.loads(user.attributes[ANSWERS_ATTRIBUTE][0])[0]["h"].startswith("$argon2id$")

    outcome = login(stack.settings.keycloak_url, realm, record.user_id, PASSWORD)
    assert outcome.status == 302, outcome.error
    claims = decode_jwt_claims(outcome.tokens["id_token"])
    assert claims["preferred_username"] == record.user_id and claims["name"] == record.name

    events = [(e["event"], e["outcome"]) for e in stack.audit()]
    assert events == [
        ("account:activation:requested", "success"), ("account:activation:link_opened", "success"),
        ("account:security_questions:changed", "success"),
        ("account:activation:completed", "success")]
    written = stack.audit_path.read_text()
    for secret in (link.group("token"), PASSWORD, *(answer for _, answer in ANSWERS)):
        assert secret not in written


# -- request: who gets an email ------------------------------------------------------


@pytest.mark.parametrize("raw", ["12345", "abcdefghijkl", "901332061234", "900101171234"])
def test_a_malformed_id_is_a_field_error_and_sends_nothing(stack, raw):
    mark = stack.inbox.last_id
    response = stack.visitor().request(raw)
    assert response.status_code == 400
    assert "Sila masukkan No Kad Pengenalan 12 digit yang sah" in text(response)
    assert stack.nothing_sent_since(mark)
    assert stack.events() == []  # refused before any lookup


def test_unknown_active_and_disabled_ids_get_the_same_answer_and_no_email(stack, seed):
    real, active, disabled = stack.pending("pahang", seed, 3)
    admin = stack.admin("pahang")
    active_user = admin.find(active.user_id)
    admin.set_password(active_user.id, "Sudah#Aktif-Lama7")
    admin.update_attributes(active_user.id, {ACTIVATION_STATE: [ACTIVE]})
    admin.set_enabled(admin.find(disabled.user_id).id, False)
    unknown = synthetic_mykad(random.Random(seed), "06")
    assert admin.find(unknown) is None
    mark = stack.inbox.last_id

    kinds = (("real", real.user_id), ("unknown", unknown), ("active", active.user_id),
             ("disabled", disabled.user_id))
    answers, seconds = {}, {kind: [] for kind, _ in kinds}
    for attempt in range(3):  # interleaved, so a busy moment hits every kind alike
        for n, (kind, user_id) in enumerate(kinds):
            began = time.perf_counter()
            answers[kind] = stack.visitor().request(user_id, REMOTE_ADDR=f"10.3.{attempt}.{n}")
            seconds[kind].append(time.perf_counter() - began)

    for _ in range(3):
        mark = stack.email_to(real.email, mark).id
    assert stack.nothing_sent_since(mark), "only the pending user gets emails"
    ignored = [(e["subject"], e["details"]["reason"]) for e in stack.events(
        "account:activation:requested") if e["outcome"] == "denied"]
    assert sorted(ignored) == sorted(3 * [(unknown, "unknown"), (active.user_id, "not_pending"),
                                          (disabled.user_id, "disabled")])
    shapes = set()
    for kind, response in answers.items():
        body = CSRF.sub("*", response.get_data(as_text=True))
        shapes.add((response.status_code, body))
    assert len(shapes) == 1
    # Similar timing: every answer waits out the same padding.
    medians = {kind: sorted(values)[1] for kind, values in seconds.items()}
    assert min(min(values) for values in seconds.values()) >= DEFAULT_MIN_REQUEST_SECONDS
    assert max(medians.values()) - min(medians.values()) < 0.25, seconds


def test_a_stranger_cannot_stop_the_owner_asking_for_a_link(stack, seed):
    [record] = stack.pending("pahang", seed)
    visitor = stack.visitor()
    # Per ID from one network (an IPv6 /64 counts as one), not from everywhere.
    statuses = [visitor.request(record.user_id, REMOTE_ADDR=f"2001:db8:66:1::{n + 1}").status_code
                for n in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = visitor.request(record.user_id, REMOTE_ADDR="2001:db8:66:1::99")
    assert "Terlalu banyak percubaan" in text(limited) and limited.headers["Retry-After"]
    english = visitor.client.post("/pahang/activation?lang=en", data={
        "user_id": record.user_id, "csrf_token": visitor.csrf()},
        environ_base={"REMOTE_ADDR": "2001:db8:66:1::98"})
    assert english.status_code == 429 and "Too many attempts" in text(english)
    # The owner, at the office: still gets a link.
    mark = stack.inbox.last_id
    owner = visitor.request(record.user_id, REMOTE_ADDR="10.1.0.1")
    assert owner.status_code == 200, text(owner)
    assert LINK.search(stack.email_to(record.email, mark).text)


def test_requests_are_limited_per_address(stack, seed):
    visitor = stack.visitor()
    unknown = [synthetic_mykad(random.Random(f"{seed}{n}"), "06") for n in range(11)]
    statuses = [visitor.request(user_id).status_code for user_id in unknown]
    assert statuses == [200] * 10 + [429]
    assert visitor.request(unknown[0], REMOTE_ADDR="10.2.0.1").status_code == 200


def test_a_request_without_the_csrf_token_is_refused_and_sends_nothing(stack, seed):
    [record] = stack.pending("pahang", seed)
    mark = stack.inbox.last_id
    response = stack.visitor().client.post("/pahang/activation", data={"user_id": record.user_id})
    assert response.status_code == 400 and "Borang telah tamat tempoh" in text(response)
    assert stack.nothing_sent_since(mark)
    assert stack.events() == []  # refused before the flow


def test_smtp_down_answers_the_same_is_audited_changes_nothing_and_a_retry_works(stack, seed):
    [record] = stack.pending("pahang", seed)
    unknown = synthetic_mykad(random.Random(seed), "06")
    visitor = stack.visitor()
    stack.smtp.down = True

    response = visitor.request(record.user_id, REMOTE_ADDR="10.4.0.1")
    decoy = visitor.request(unknown, REMOTE_ADDR="10.4.0.2")

    assert response.status_code == decoy.status_code == 200
    assert CSRF.sub("*", response.get_data(as_text=True)) == CSRF.sub(
        "*", decoy.get_data(as_text=True))
    failed = stack.wait_for_event("mail:send:failed", record.user_id)
    assert failed["details"] == {"purpose": "activation", "reason": "mail_unavailable"}
    assert NONCE_ATTRIBUTE not in stack.admin("pahang").find(record.user_id).attributes
    stack.smtp.down = False
    link = visitor.request_and_read_link(record)
    assert visitor.follow(link).status_code == 303


def test_keycloak_down_is_503_changes_nothing_and_a_retry_works(stack, seed):
    [record] = stack.pending("pahang", seed)
    visitor = stack.visitor()
    mark = stack.inbox.last_id
    stack.keycloak.down = True

    response = visitor.request(record.user_id)

    assert response.status_code == 503 and response.headers["Retry-After"]
    assert "Perkhidmatan tidak tersedia" in text(response)
    assert stack.nothing_sent_since(mark)
    stack.keycloak.down = False
    visitor.at_password_step(record)

    # Down again at the last step: the account stays pending, the link usable.
    csrf = visitor.csrf("/pahang/activation/account")
    stack.keycloak.down = True
    failed = visitor.password(PASSWORD, csrf=csrf)
    assert failed.status_code == 503
    assert visitor.account().status_code == 503
    stack.keycloak.down = False
    user = stack.admin("pahang").find(record.user_id)
    assert user.activation_state == "pending" and user.attributes.get(NONCE_ATTRIBUTE)

    assert visitor.password(PASSWORD).status_code == 200
    assert login(stack.settings.keycloak_url, "pahang", record.user_id, PASSWORD).status == 302


# -- the link ------------------------------------------------------------------------


def test_an_expired_link_is_refused_with_a_way_to_ask_again(stack, seed):
    [record] = stack.pending("pahang", seed)
    visitor = stack.visitor()
    link = visitor.request_and_read_link(record)
    stack.clock.offset = timedelta(minutes=30, seconds=1)

    response = visitor.follow(link)

    assert response.status_code == 410
    body = text(response)
    assert "Pautan Telah Tamat Tempoh" in body and "ulangi Langkah 2" in body
    assert 'href="/pahang/activation"' in body


def test_an_expired_link_cannot_finish_either(stack, seed):
    [record] = stack.pending("pahang", seed)
    visitor = stack.visitor()
    visitor.at_password_step(record)
    csrf = visitor.csrf("/pahang/activation/account")
    stack.clock.offset = timedelta(minutes=30, seconds=1)

    assert visitor.password(PASSWORD, csrf=csrf).status_code == 410
    assert stack.admin("pahang").find(record.user_id).activation_state == "pending"


def test_a_used_link_cannot_be_used_again(stack, seed):
    [record] = stack.pending("pahang", seed)
    visitor = stack.visitor()
    link = visitor.at_password_step(record)
    assert visitor.password(PASSWORD).status_code == 200

    for again in (visitor, stack.visitor()):
        response = again.follow(link)
        assert response.status_code == 410 and "Pautan Telah Digunakan" in text(response)


def test_a_tampered_link_is_refused(stack, seed):
    [record] = stack.pending("pahang", seed)
    visitor = stack.visitor()
    link = visitor.request_and_read_link(record)

    for bad in (with_flipped_signature(link), link[:-5], link.rsplit("/", 1)[0] + "/bukan-pautan"):
        response = visitor.follow(bad)
        assert response.status_code == 400 and "Pautan Tidak Sah" in text(response)
    assert visitor.follow(link).status_code == 303


def test_a_link_for_another_state_is_refused(stack, seed):
    [record] = stack.pending("kelantan", seed)
    link = stack.visitor("kelantan").request_and_read_link(record)

    response = stack.visitor("pahang").follow(link.replace("/kelantan/", "/pahang/"))

    assert response.status_code == 400
    assert "bukan untuk iSPEKS negeri ini" in text(response)


def test_a_newer_link_supersedes_the_older_one(stack, seed):
    [record] = stack.pending("pahang", seed)
    visitor = stack.visitor()
    first = visitor.request_and_read_link(record)
    second = visitor.request_and_read_link(record)

    old = visitor.follow(first)
    assert old.status_code == 410 and "digantikan oleh pautan yang lebih baharu" in text(old)
    assert visitor.follow(second).status_code == 303


# -- questions and password ----------------------------------------------------------


def test_duplicate_questions_and_empty_answers_are_refused(stack, seed):
    [record] = stack.pending("pahang", seed)
    visitor = stack.visitor()
    visitor.follow(visitor.request_and_read_link(record))

    duplicate = visitor.questions([("mother_name", "Siti"), ("mother_name", "Aishah"),
                                   ("first_car", "Kancil")])
    empty = visitor.questions([("mother_name", "Siti"), ("first_car", "   "),
                               ("favourite_colour", "")])

    assert duplicate.status_code == 400
    assert "Setiap soalan keselamatan mesti berbeza." in text(duplicate)
    assert empty.status_code == 400 and text(empty).count("Sila isi jawapan.") >= 2
    assert ANSWERS_ATTRIBUTE not in stack.admin("pahang").find(record.user_id).attributes


def test_every_password_rule_is_enforced_by_the_server(stack, seed):
    [record] = stack.pending("pahang", seed)
    visitor = stack.visitor()
    visitor.at_password_step(record)
    cases = [
        ("Pendek#9a", None, "Panjang aksara mesti tidak kurang daripada 12."),
        ("TIADA-HURUF-KECIL-9", None, "Mesti mengandungi aksara berhuruf kecil."),
        ("tiada-huruf-besar-9", None, "Mesti mengandungi aksara berhuruf besar."),
        ("Tiada-Nombor-Langsung", None, "Mesti mengandungi aksara bernombor."),
        ("TiadaAksaraKhas99", None, "Mesti mengandungi aksara khas."),
        (f"Aa#{record.user_id}", None, "Mesti tidak sama dengan atau mengandungi ID Pengguna."),
        (record.user_id, None, "Mesti tidak sama dengan atau mengandungi ID Pengguna."),
        ("Malaysia@2024", None, "Mesti bukan kata laluan yang biasa digunakan."),
        ("P@ssw0rd2024!", None, "Mesti bukan kata laluan yang biasa digunakan."),
        (PASSWORD, PASSWORD + "x", "Ulang Kata Laluan mesti sama dengan Kata Laluan."),
    ]
    for password, confirm, words in cases:
        response = visitor.password(password, confirm)
        assert response.status_code == 400, password
        assert words in text(response), (password, words)

    user = stack.admin("pahang").find(record.user_id)
    assert user.activation_state == "pending"
    assert login(stack.settings.keycloak_url, "pahang", record.user_id, "Pendek#9a").status == 200
    assert visitor.password(PASSWORD).status_code == 200


def test_keycloaks_password_history_is_the_final_word_and_shown_clearly(stack, seed):
    # State IT set an account back to pending; its old password is in Keycloak's history.
    [record] = stack.pending("pahang", seed)
    admin = stack.admin("pahang")
    admin.set_password(admin.find(record.user_id).id, PASSWORD)
    visitor = stack.visitor()
    visitor.at_password_step(record)

    refused = visitor.password(PASSWORD)

    assert refused.status_code == 400
    assert "Kata laluan ini telah digunakan baru-baru ini." in text(refused)
    assert admin.find(record.user_id).activation_state == "pending"
    assert visitor.password("Lain#Kata-Laluan7").status_code == 200


def test_a_pending_user_locked_by_strangers_activates_and_signs_in(stack, seed):
    [record] = stack.pending("pahang", seed)
    for _ in range(3):
        login(stack.settings.keycloak_url, "pahang", record.user_id, "Teka#Salah-Kata9")
    admin = stack.admin("pahang")
    wait_until_locked(admin, admin.find(record.user_id).id)

    visitor = stack.visitor()
    visitor.at_password_step(record)
    assert visitor.password(PASSWORD).status_code == 200

    user = admin.find(record.user_id)
    assert user.enabled and not user.permanently_locked and user.activation_state == ACTIVE
    assert login(stack.settings.keycloak_url, "pahang", record.user_id, PASSWORD).status == 302
    assert "account:unlocked" in [e["event"] for e in stack.audit()]


def test_two_submissions_of_the_last_step_at_once_activate_the_account_once(stack, seed):
    [record] = stack.pending("pahang", seed)
    first = stack.visitor()
    first.at_password_step(record)
    # A second tab with the same link: the same cookie, its own page and CSRF token.
    second = stack.visitor()
    cookie = first.client.get_cookie(COOKIE_NAME, path="/pahang/activation")
    second.client.set_cookie(COOKIE_NAME, cookie.value, path="/pahang/activation")
    tokens = [first.csrf("/pahang/activation/account"), second.csrf("/pahang/activation/account")]
    barrier = threading.Barrier(2)
    results = {}

    def submit(name, visitor, csrf, password):
        barrier.wait()
        results[name] = visitor.password(password, csrf=csrf)

    threads = [threading.Thread(target=submit, args=("a", first, tokens[0], PASSWORD)),
               threading.Thread(target=submit, args=("b", second, tokens[1], "Lain#Kata-Laluan7"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    statuses = sorted(response.status_code for response in results.values())
    assert statuses == [200, 410], {k: (r.status_code, text(r)[:200]) for k, r in results.items()}
    winner = next(k for k, r in results.items() if r.status_code == 200)
    loser = results["b" if winner == "a" else "a"]
    assert "Pautan Telah Digunakan" in text(loser)
    completed = [e for e in stack.audit() if e["event"] == "account:activation:completed"]
    assert len(completed) == 1
    password = PASSWORD if winner == "a" else "Lain#Kata-Laluan7"
    assert login(stack.settings.keycloak_url, "pahang", record.user_id, password).status == 302


# -- gunicorn ------------------------------------------------------------------------


def test_the_gunicorn_access_log_never_holds_the_link_token(sidecar, mail_inbox, seed):
    import requests

    settings = sidecar.settings
    [record] = synthetic_people(load_tenants(settings.realm_templates_dir)["pahang"], 1, seed=seed)
    UserDirectory(bootstrap_admin(settings), "pahang").register_pending(record)
    browser = requests.Session()
    form = browser.get(f"{sidecar.url}/pahang/activation", timeout=10)
    mark = mail_inbox.last_id
    sent = browser.post(f"{sidecar.url}/pahang/activation", timeout=10, data={
        "user_id": record.user_id, "csrf_token": CSRF.search(form.text).group(1)})
    assert sent.status_code == 200 and SENT in html.unescape(sent.text)
    link = LINK.search(mail_inbox.wait_for(to=record.email, after=mark, timeout=15).text)
    assert link.group(0).startswith(sidecar.url)

    opened = browser.get(link.group(0), timeout=10)

    assert opened.status_code == 200 and opened.url == f"{sidecar.url}/pahang/activation/account"
    assert record.name in opened.text
    # A worker logs a request after answering it.
    log = wait_until(sidecar.log_path.read_text,
                     lambda text: "/pahang/activation/link/[REDACTED]" in text,
                     what="the link request in the access log")
    assert link.group("token") not in log
    assert link.group("token").split(".")[0] not in log
