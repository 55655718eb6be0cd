"""The shared form fields (templates/_password.html, templates/_security_fields.html)
and the messages each flow gives them: the macros build keys from a prefix, so no
template scan sees them."""

from __future__ import annotations

import re

import pytest

from idp_extension.i18n import SUPPORTED_LOCALES
from idp_extension.web.page_messages import MESSAGES_DIR, load_page_messages

TEMPLATES_DIR = MESSAGES_DIR.parent / "templates"

SUFFIXES = ("confirm", "rules_heading", "all_met", "rule_met", "rule_unmet",
            "confirm_matches", "also", "show")
# prefix -> the password label's key and whether the whole form (with its refusal
# summary) is used, or only the fields inside the flow's own form.
FLOWS = {
    "activation.password": ("password", True),
    "self_service.password": ("new", True),
    "first_login.password": ("password", False),
}


@pytest.mark.parametrize("prefix", sorted(FLOWS))
def test_every_message_the_password_fields_ask_for_exists_in_both_languages(prefix):
    messages = load_page_messages(prefix.split(".")[0])
    password_key, whole_form = FLOWS[prefix]
    keys = [*SUFFIXES, password_key, *(("refused",) if whole_form else ())]

    missing = {(f"{prefix}.{key}", locale) for key in keys for locale in SUPPORTED_LOCALES
               if not messages[locale].get(f"{prefix}.{key}")}

    assert not missing


def test_every_template_that_uses_the_fields_names_a_known_prefix():
    used = set()
    for template in TEMPLATES_DIR.rglob("*.html"):
        text = template.read_text()
        used |= set(re.findall(r"""prefix=['"]([a-z_.]+)['"]""", text))
        used |= set(re.findall(r"""(?:password_fields|checker_attributes)\(\s*['"]([a-z_.]+)['"]""",
                               text))

    assert used and used <= set(FLOWS)


QUESTION_PREFIXES = ("first_login.questions", "settings.questions")


@pytest.mark.parametrize("prefix", QUESTION_PREFIXES)
def test_every_message_the_question_pairs_ask_for_exists_in_both_languages(prefix):
    messages = load_page_messages(prefix.split(".")[0])

    missing = {(f"{prefix}.{key}", locale) for key in ("question", "choose", "answer")
               for locale in SUPPORTED_LOCALES if not messages[locale].get(f"{prefix}.{key}")}

    assert not missing


def test_every_template_that_uses_the_question_pairs_names_a_known_prefix():
    used = set()
    for template in TEMPLATES_DIR.rglob("*.html"):
        used |= set(re.findall(r"""question_pairs\(\s*['"]([a-z_.]+)['"]""", template.read_text()))

    assert used == set(QUESTION_PREFIXES)
