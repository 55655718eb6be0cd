"""Email templates by name and locale, and the MIME they become."""

from __future__ import annotations

import email
from datetime import datetime, timezone
from email.policy import default as default_policy

import jinja2
import pytest

from idp_extension.mail import (
    MailSender,
    MailUnavailable,
    MemoryMailSender,
    OutgoingMail,
    SmtpMailSender,
    build_mime,
    compose_email,
    render_email,
)
from idp_extension.mail.inbox import parse_message
from idp_extension.mail.sender import mail_sender_from_settings
from idp_extension.settings import load_settings

CONTEXT = dict(
    recipient_name="Nur Aisyah binti Ahmad",
    link="https://akaun.example.gov.my/pahang/activation/abc?x=1&y=2",
    minutes=30,
    state_name="Pahang",
)


def test_renders_malay():
    subject, text, html = render_email("test_message", "ms", **CONTEXT)
    assert subject == "Mesej ujian iSPEKS untuk Nur Aisyah binti Ahmad"
    assert "Tuan/Puan Nur Aisyah binti Ahmad," in text
    assert "sah selama 30 minit sahaja" in text
    assert CONTEXT["link"] in text  # plain text: not escaped
    assert '<html lang="ms">' in html and "Teruskan" in html


def test_renders_english():
    subject, text, html = render_email("test_message", "en", **CONTEXT)
    assert subject == "iSPEKS test message for Nur Aisyah binti Ahmad"
    assert "valid for 30 minutes only" in text
    assert '<html lang="en">' in html and "Continue" in html


def test_unknown_locale_falls_back_to_malay():
    assert render_email("test_message", "fr", **CONTEXT).subject.startswith("Mesej ujian")
    assert render_email("test_message", "en-GB", **CONTEXT).subject.startswith("iSPEKS test")


def test_html_is_escaped_and_text_is_not():
    rendered = render_email("test_message", "ms", **{**CONTEXT, "recipient_name": "<b>Ali</b>"})
    assert "&lt;b&gt;Ali&lt;/b&gt;" in rendered.html and "<b>Ali</b>" not in rendered.html
    assert "<b>Ali</b>" in rendered.text
    assert 'href="https://akaun.example.gov.my/pahang/activation/abc?x=1&amp;y=2"' in rendered.html


def test_missing_values_fail_loudly():
    with pytest.raises(jinja2.UndefinedError):
        render_email("test_message", "ms", recipient_name="Ali", minutes=30)


def test_subject_is_always_one_line():
    context = {**CONTEXT, "recipient_name": "Ali\r\nBcc: x"}
    subject = render_email("test_message", "en", **context).subject
    assert "\n" not in subject and "\r" not in subject


@pytest.mark.parametrize("name", ["../etc", "test_message/../x", "", "Test"])
def test_template_names_are_plain(name):
    with pytest.raises(ValueError):
        render_email(name, "ms", **CONTEXT)


def test_unknown_template_is_an_error():
    with pytest.raises(jinja2.TemplateNotFound):
        render_email("no_such_email", "ms", **CONTEXT)


def test_compose_builds_an_outgoing_mail():
    message = compose_email("test_message", "ms", to="aisyah@pahang.gov.my", **CONTEXT)
    assert isinstance(message, OutgoingMail)
    assert message.to == "aisyah@pahang.gov.my"
    assert message.subject.startswith("Mesej ujian")


def test_mime_is_utf8_multipart_alternative_text_then_html():
    message = OutgoingMail(
        to="aisyah@pahang.gov.my",
        subject="Pengaktifan akaun — iSPEKS",
        text="Tahniah — akaun anda telah berjaya diaktifkan.",
        html="<p>Tahniah — akaun anda telah berjaya diaktifkan.</p>",
        headers={"X-Ispeks-Realm": "pahang"},
    )
    raw = build_mime(message, "noreply@ispeks.gov.my", "Sistem iSPEKS").as_bytes()
    parsed = email.message_from_bytes(raw, policy=default_policy)
    assert parsed.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in parsed.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert all(part.get_content_charset() == "utf-8" for part in parsed.iter_parts())
    assert str(parsed["Subject"]) == "Pengaktifan akaun — iSPEKS"
    assert str(parsed["From"]) == "Sistem iSPEKS <noreply@ispeks.gov.my>"
    assert parsed["X-Ispeks-Realm"] == "pahang"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Message-ID"].endswith("@ispeks.gov.my>")
    assert parsed["Date"]


def test_parsing_reads_back_what_build_mime_wrote():
    message = compose_email("test_message", "en", to="aisyah@pahang.gov.my", **CONTEXT)
    raw = build_mime(message, "noreply@ispeks.gov.my", "Sistem iSPEKS").as_bytes()
    received = parse_message(
        raw, id=7, envelope_from="noreply@ispeks.gov.my",
        envelope_to=["aisyah@pahang.gov.my"], received_at=datetime.now(timezone.utc),
    )
    assert received.subject == message.subject
    assert received.text.strip() == message.text.strip()
    assert received.html.strip() == message.html.strip()
    assert received.to == ("aisyah@pahang.gov.my",)
    assert received.from_addr == "noreply@ispeks.gov.my"
    assert received.links() == [CONTEXT["link"]]


@pytest.mark.parametrize(
    "changes",
    [
        {"to": "not-an-address"},
        {"to": "a@b.my\r\nBcc: evil@example.com"},
        {"subject": "Hello\nBcc: evil@example.com"},
        {"headers": {"Bcc": "evil@example.com"}},
        {"headers": {"From": "ceo@example.com"}},
    ],
)
def test_outgoing_mail_refuses_header_tricks(changes):
    fields = dict(to="a@pahang.gov.my", subject="s", text="t", html="<p>t</p>")
    with pytest.raises(ValueError):
        OutgoingMail(**{**fields, **changes})


def test_outgoing_mail_headers_cannot_change_after_creation():
    headers = {"X-One": "1"}
    message = OutgoingMail(to="a@pahang.gov.my", subject="s", text="t", html="h", headers=headers)
    headers["X-Two"] = "2"
    assert dict(message.headers) == {"X-One": "1"}
    with pytest.raises(TypeError):
        message.headers["X-Three"] = "3"


def test_memory_sender_keeps_messages_and_can_fail():
    sender = MemoryMailSender()
    message = compose_email("test_message", "ms", to="Aisyah@Pahang.gov.my", **CONTEXT)
    sender.send(message)
    assert sender.last() is message
    assert sender.to("aisyah@pahang.gov.my") == [message]

    down = MemoryMailSender(fail_with=MailUnavailable("test outage"))
    with pytest.raises(MailUnavailable):
        down.send(message)
    assert down.sent == []


def test_senders_satisfy_the_protocol():
    assert isinstance(MemoryMailSender(), MailSender)
    assert isinstance(SmtpMailSender("127.0.0.1", 25, "a@b.my"), MailSender)


def test_smtp_sender_from_settings_hides_the_password():
    settings = load_settings({"ISPEKS_SMTP_HOST": "smtp.gov.my", "ISPEKS_SMTP_PORT": "587",
                              "ISPEKS_SMTP_STARTTLS": "true", "ISPEKS_SMTP_USER": "ispeks",
                              "ISPEKS_SMTP_PASSWORD": "p4ss-w0rd"})
    sender = mail_sender_from_settings(settings)
    assert (sender.host, sender.port, sender.starttls, sender.user) == (
        "smtp.gov.my", 587, True, "ispeks")
    assert "p4ss-w0rd" not in repr(sender)
