"""The development inbox: a real SMTP server on loopback, fed by the real SmtpMailSender.

Needs no Keycloak: settings come from ``load_settings()`` directly, not from the
session fixture that starts Keycloak.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from idp_extension.keycloak_server import free_port
from idp_extension.mail import MailUnavailable, SmtpMailSender, compose_email
from idp_extension.mail.inbox import MailInbox
from idp_extension.mail.inbox_web import serve_inbox_web
from idp_extension.mail.sender import mail_sender_from_settings
from idp_extension.settings import load_settings

pytestmark = pytest.mark.integration

MALAY = "Tahniah — akaun anda telah berjaya diaktifkan. Ejaan Jawi: ڤهڠ"


@pytest.fixture(scope="module")
def inbox():
    with MailInbox("127.0.0.1", 0) as running:
        yield running


@pytest.fixture
def sender(inbox) -> SmtpMailSender:
    settings = load_settings().with_overrides(smtp_host="127.0.0.1", smtp_port=inbox.port)
    return mail_sender_from_settings(settings)


def message_to(address: str, **changes):
    context = dict(
        recipient_name="Nur Aisyah binti Ahmad",
        link=f"http://127.0.0.1:5000/pahang/activation/{address.split('@')[0]}",
        minutes=30,
        state_name="Pahang",
    )
    context.update(changes)
    return compose_email("test_message", "ms", to=address, **context)


def test_receives_a_real_multipart_utf8_message(inbox, sender):
    outgoing = message_to("aisyah.1@pahang.gov.my", recipient_name=MALAY)
    sender.send(outgoing)

    received = inbox.wait_for(to="AISYAH.1@pahang.gov.my", timeout=10)
    assert received.subject == outgoing.subject and MALAY in received.subject
    assert MALAY in received.text and MALAY in received.html
    assert received.to == ("aisyah.1@pahang.gov.my",)
    assert received.envelope_to == ("aisyah.1@pahang.gov.my",)
    assert received.from_addr == "noreply@ispeks.gov.my"
    assert received.links() == ["http://127.0.0.1:5000/pahang/activation/aisyah.1"]
    assert b"multipart/alternative" in received.raw
    assert received.date.tzinfo is not None


def test_wait_for_blocks_until_the_message_arrives(inbox, sender):
    mark = inbox.last_id
    timer = threading.Timer(0.5, sender.send, args=(message_to("late@pahang.gov.my"),))
    started = time.monotonic()
    timer.start()
    try:
        received = inbox.wait_for(to="late@pahang.gov.my", after=mark, timeout=10)
    finally:
        timer.join()
    assert received.id > mark
    assert time.monotonic() - started >= 0.4


def test_wait_for_with_a_predicate_and_after(inbox, sender):
    sender.send(message_to("twice@pahang.gov.my", minutes=10))
    first = inbox.wait_for(to="twice@pahang.gov.my")
    sender.send(message_to("twice@pahang.gov.my", minutes=20))
    second = inbox.wait_for(to="twice@pahang.gov.my", after=first.id)
    assert "20 minit" in second.text and second.id > first.id
    assert inbox.wait_for(lambda m: "10 minit" in m.text, to="twice@pahang.gov.my") == first


def test_wait_for_times_out(inbox):
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        inbox.wait_for(to="nobody@pahang.gov.my", timeout=0.3)
    assert time.monotonic() - started < 2


def test_keeps_only_the_newest_messages():
    with MailInbox(max_messages=3) as small:
        sender = SmtpMailSender("127.0.0.1", small.port, "noreply@ispeks.gov.my")
        for n in range(5):
            sender.send(message_to(f"user{n}@melaka.gov.my"))
        small.wait_for(to="user4@melaka.gov.my")
        assert [m.to[0] for m in small.messages()] == [
            "user2@melaka.gov.my", "user3@melaka.gov.my", "user4@melaka.gov.my"]
        small.clear()
        assert small.messages() == []


def test_restart_keeps_the_port():
    inbox = MailInbox()
    inbox.start()
    port = inbox.port
    inbox.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    inbox.start()
    try:
        assert inbox.port == port
        SmtpMailSender("127.0.0.1", port, "noreply@ispeks.gov.my").send(message_to("r@gov.my"))
        assert inbox.wait_for(to="r@gov.my").subject
    finally:
        inbox.stop()


def test_sending_to_a_closed_port_raises_mail_unavailable_quickly():
    sender = SmtpMailSender("127.0.0.1", free_port(), "noreply@ispeks.gov.my", timeout=5)
    started = time.monotonic()
    with pytest.raises(MailUnavailable) as raised:
        sender.send(message_to("x@pahang.gov.my"))
    assert time.monotonic() - started < 2
    assert raised.value.http_status == 503


def test_a_server_that_never_answers_times_out_as_mail_unavailable():
    with socket.socket() as silent:  # accepts the connection, never says hello
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        sender = SmtpMailSender("127.0.0.1", silent.getsockname()[1], "a@b.my", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(MailUnavailable):
            sender.send(message_to("x@pahang.gov.my"))
        assert time.monotonic() - started < 3


# --- the inbox web page -----------------------------------------------------


@pytest.fixture(scope="module")
def web(inbox):
    server = serve_inbox_web(inbox, "127.0.0.1", 0)
    yield server
    server.shutdown()


def test_web_page_lists_and_shows_a_message(inbox, sender, web):
    sender.send(message_to("web.page@kelantan.gov.my", recipient_name=MALAY))
    received = inbox.wait_for(to="web.page@kelantan.gov.my")

    listing = requests.get(f"{web.url}/", timeout=5)
    assert listing.status_code == 200
    assert "web.page@kelantan.gov.my" in listing.text
    assert MALAY in listing.text  # the subject, decoded
    assert f'href="/messages/{received.id}"' in listing.text
    # Newest first.
    assert listing.text.index("web.page@kelantan.gov.my") < listing.text.index("aisyah.1@")

    page = requests.get(f"{web.url}/messages/{received.id}", timeout=5)
    assert page.status_code == 200
    assert "web.page@kelantan.gov.my" in page.text
    assert "Tuan/Puan" in page.text  # the text body
    assert (
        f'src="/messages/{received.id}/html" sandbox="allow-popups '
        'allow-top-navigation-by-user-activation allow-popups-to-escape-sandbox"'
    ) in page.text
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]

    body = requests.get(f"{web.url}/messages/{received.id}/html", timeout=5)
    csp = body.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp
    assert "frame-ancestors 'self'" in csp
    assert body.text.startswith('<!doctype html><base target="_blank">')
    assert 'href="http://127.0.0.1:5000/pahang/activation/web.page"' in body.text


def test_web_api_lists_messages_as_json(inbox, sender, web):
    sender.send(message_to("api@selangor.gov.my"))
    received = inbox.wait_for(to="api@selangor.gov.my")
    listing = requests.get(f"{web.url}/api/messages", timeout=5).json()
    assert listing[0]["id"] == received.id  # newest first
    assert listing[0]["to"] == ["api@selangor.gov.my"]
    assert listing[0]["links"] == ["http://127.0.0.1:5000/pahang/activation/api"]
    one = requests.get(f"{web.url}/api/messages/{received.id}", timeout=5).json()
    assert one["subject"] == received.subject
    assert requests.get(f"{web.url}/api/messages/999999", timeout=5).status_code == 404


def test_web_server_shuts_down_and_frees_its_port(inbox):
    server = serve_inbox_web(inbox, "127.0.0.1", 0)
    port = server.port
    assert requests.get(f"http://127.0.0.1:{port}/api/messages", timeout=5).status_code == 200
    server.shutdown()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/api/messages", timeout=2)
