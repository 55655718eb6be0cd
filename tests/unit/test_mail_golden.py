"""Every email, in Malay and English, renders as recorded (``data/mail_golden.json``).

The recording was made from the per-locale templates before their sentences moved to
the one message catalogue; the mails must read the same, whitespace aside. The inputs
carry markup and ampersands, so the recording also pins what HTML escapes.
Re-record (only for a deliberate change of wording): ``python -m tests.unit.test_mail_golden``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from idp_extension.mail.render import render_email

GOLDEN = Path(__file__).resolve().parent / "data" / "mail_golden.json"

NAME = "Nur <Aisyah> & Siti"
LINK = "https://akaun.example.gov.my/idp/pahang/activation/link/abc?x=1&y=2"
REQUEST = "https://akaun.example.gov.my/idp/pahang/activation?a=<b>"
HELPDESK = [{"name": "Meja <Bantuan>", "phone": "09-123 4567", "email": "helpdesk@pahang.gov.my"},
            {"name": "Unit IT & Rangkaian", "phone": "09-765 4321", "email": "it@pahang.gov.my"}]
CHANGES = ("password", "password_reset", "questions", "site_key", "locked",
           "totp_reset", "totp_enabled", "totp_disabled")


def _cases() -> dict[str, tuple[str, dict]]:
    cases: dict[str, tuple[str, dict]] = {}
    for state, date in (("Pahang", "12 Mac 2026 10:15 AM"), ("", "")):
        cases[f"activation/{state or 'nostate'}"] = ("activation", dict(
            recipient_name=NAME, state_name=state, link=LINK, minutes=30,
            request_url=REQUEST, registration_date=date))
        cases[f"recovery/{state or 'nostate'}"] = ("recovery", dict(
            recipient_name=NAME, state_name=state, link=LINK, minutes=30,
            request_url=REQUEST, user_id="800101-06-5432", requested_at="3 Apr 2026 9:00 PM"))
    for change in CHANGES:
        cases[f"security_change/{change}"] = ("security_change", dict(
            recipient_name=NAME, user_id="800101065432", state_name="Pahang", change=change,
            changed_at="4 Apr 2026 8:30 AM", recovery_url=REQUEST, helpdesk=HELPDESK))
    for change in ("password", "locked"):
        cases[f"security_change/{change}/bare"] = ("security_change", dict(
            recipient_name=NAME, user_id="800101065432", state_name="", change=change,
            changed_at="4 Apr 2026 8:30 AM", recovery_url=REQUEST, helpdesk=[]))
    cases["temporary_password"] = ("temporary_password", dict(
        recipient_name=NAME, user_id="800101-06-5432", state_name="Pahang",
        product="iSPEKS <Plus>", service_name="Daftar & Aktif", temporary_password="Ab<3&x",
        expires_at="5 Apr 2026 8:30 AM", hours=24, login_url=LINK))
    cases["test_message"] = ("test_message", dict(
        recipient_name=NAME, link=LINK, minutes=30, state_name="Pahang"))
    cases["test_message/nostate"] = ("test_message", dict(
        recipient_name=NAME, link=LINK, minutes=30))
    return cases


CASES = _cases()


def render_all() -> dict[str, dict[str, str]]:
    out = {}
    for case, (name, context) in CASES.items():
        for locale in ("ms", "en"):
            subject, text, html = render_email(name, locale, **context)
            out[f"{case}/{locale}"] = {"subject": subject, "text": text, "html": html}
    return out


def _squeeze(value: str, html: bool) -> str:
    if html:
        value = re.sub(r">\s+", ">", re.sub(r"\s+<", "<", value))
    return " ".join(value.split())


KEYS = sorted(f"{case}/{locale}" for case in CASES for locale in ("ms", "en"))


@pytest.fixture(scope="module")
def recorded() -> dict[str, dict[str, str]]:
    return json.loads(GOLDEN.read_text("utf-8"))


def test_every_mail_and_locale_is_recorded(recorded):
    assert set(recorded) == set(KEYS)


@pytest.mark.parametrize("key", KEYS)
def test_the_mail_reads_as_recorded(recorded, key):
    case, _, locale = key.rpartition("/")
    name, context = CASES[case]
    subject, text, html = render_email(name, locale, **context)
    expected = recorded[key]
    assert subject == expected["subject"]
    assert _squeeze(text, html=False) == _squeeze(expected["text"], html=False)
    assert _squeeze(html, html=True) == _squeeze(expected["html"], html=True)


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(render_all(), ensure_ascii=False, indent=1) + "\n", "utf-8")


def test_html_escapes_the_sentence_and_its_values_but_not_markup_built_in_the_template():
    from markupsafe import Markup

    from idp_extension.mail.render import sentences

    t = sentences("en", html=True)
    assert t("mail.dear", name="<b>Ali</b>") == "Dear &lt;b&gt;Ali&lt;/b&gt;,"
    assert "&ldquo;click here&rdquo;" in t("mail.activation.expired",
                                          click_here=Markup("&ldquo;click here&rdquo;"))
    assert sentences("en", html=False)("mail.dear", name="<b>Ali</b>") == "Dear <b>Ali</b>,"


def test_an_unknown_key_or_a_missing_value_fails():
    from idp_extension.mail.render import sentences

    with pytest.raises(KeyError):
        sentences("ms", html=False)("mail.no_such_sentence")
    with pytest.raises(KeyError):
        sentences("ms", html=True)("mail.dear")
