"""Password rules: the manual's five criteria, the ID, common passwords, confirmation."""

from __future__ import annotations

import json

import pytest

from idp_extension.flows import password_rules as rules
from idp_extension.flows.password_rules import (
    check_password, contains_user_id, is_common_password, keycloak_reason_key, password_core,
    rules_as_data,
)

USER_ID = "850214065123"
STRONG = "Tiga#Ekor-Kucing9"


def broken(password: str, confirm: str | None = None, user_id: str = USER_ID) -> list[str]:
    return [f.rule for f in check_password(password, password if confirm is None else confirm, user_id)]


def test_a_good_password_passes():
    assert check_password(STRONG, STRONG, USER_ID) == []


@pytest.mark.parametrize("password, rule", [
    ("Pendek#9a", "length"),
    ("SEMUA-BESAR-1234", "lower"),
    ("semua-kecil-1234", "upper"),
    ("Tiada-Nombor-Sini", "digit"),
    ("TiadaAksaraKhas1234", "special"),
])
def test_each_of_the_five_criteria(password, rule):
    assert broken(password) == [rule]


def test_every_failure_is_listed_at_once():
    assert broken("zqx") == ["length", "upper", "digit", "special"]


def test_letters_digits_and_specials_are_counted_as_keycloak_does():
    # Java's Character.isLowerCase / isUpperCase / isDigit and "not a letter or digit".
    assert broken("ÉCOLE-ÉTÉ-été-2024") == []
    assert broken("Bunga Raya Ku 2024") == []         # a space is special to Keycloak
    assert "digit" in broken("Kata-Laluan-²³")        # superscripts are not digits
    assert broken("Kata-Laluan-١٢٣") == []             # Arabic-Indic digits are (Nd)


def test_length_is_twelve_or_more():
    assert "length" in broken("Ab#4567890a")   # 11
    assert "length" not in broken("Ab#4567890ab")  # 12


def test_overlong_passwords_are_refused_without_the_list_lookup():
    assert broken("Aa#1" + "x" * 125) == ["max_length"]


@pytest.mark.parametrize("password", [
    f"Aa#{USER_ID}", f"{USER_ID}Aa#", f"Aa#{USER_ID[:6]}-{USER_ID[6:8]}-{USER_ID[8:]}",
])
def test_the_user_id_may_not_appear(password):
    assert "not_user_id" in broken(password)


def test_user_id_check_is_case_insensitive_for_company_ids():
    assert contains_user_id("Xx#Syarikat-ABC-01", "syarikat-abc-01")
    assert not contains_user_id(STRONG, "")


@pytest.mark.parametrize("password", [
    "Password123!", "P@ssw0rd2024!", "Qwerty@123456", "Malaysia@2024", "#Putrajaya2025",
    "Sayang@123456", "Kelantan#2024", "Katalaluan@12", "Ispeks@2024!!",
])
def test_common_passwords_and_their_decorated_forms_are_refused(password):
    assert "not_common" in broken(password)


def test_core_strips_digits_and_symbols_only_at_the_ends():
    assert password_core("Malaysia@2024") == "malaysia"
    assert password_core("2024!P@ssw0rd#1") == "p@ssw0rd"
    assert password_core("12345!") == ""


def test_short_cores_are_not_looked_up():
    # "b" is on the list; "A#1234567890b" is not a decorated "b".
    assert "b" in rules.common_passwords()
    assert not is_common_password("#1234567890b")


def test_the_list_holds_django_s_and_the_malaysian_words():
    words = rules.common_passwords()
    assert len(words) > 19_000
    assert {"password", "qwerty", "katalaluan", "putrajaya", "pahang", "ispeks"} <= words
    assert all(w == w.lower().strip() for w in words if w.isascii())
    assert not any(w.startswith("# ") for w in words)  # the Malay list's comments


@pytest.mark.parametrize("character", [
    "\x00", "\r", "\n", "\t", "\x1b", "\x7f", "\x85",          # Cc: NUL, CR, LF, TAB, ESC, DEL, NEL
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",           # embeddings and overrides
    "\u2066", "\u2067", "\u2068", "\u2069",                     # isolates
    "\u200e", "\u200f",                                         # LRM, RLM
])
def test_control_and_bidi_characters_are_refused(character):
    password = f"Tiga#Ekor{character}Kucing9"
    assert broken(password) == ["no_control"]
    assert rules.has_control_characters(password)


@pytest.mark.parametrize("password", [
    "Kuih-Muih🍰Sedap1", "ÉCOLE-ÉTÉ-été-2024", "Bunga Raya Ku 2024", "Kata-Laluan-١٢٣",
    "Nasi\u00a0Lemak#Pedas9",  # a no-break space is a space, not a control character
    "数据-Sayang-Ku#2024",
])
def test_other_unicode_stays_allowed(password):
    assert broken(password) == []


def test_control_rule_speaks_both_languages():
    assert "aksara kawalan" in rules.MESSAGES["ms"]["password.rule.no_control"]
    assert "control characters" in rules.MESSAGES["en"]["password.rule.no_control"]


def test_confirmation_must_match():
    assert broken(STRONG, STRONG + " ") == ["confirm"]
    assert broken(STRONG, "") == ["confirm"]


def test_manual_texts_are_word_for_word():
    checklist = [r for r in rules.RULES if r.checklist]
    assert [r.ms for r in checklist] == [
        "Panjang aksara mesti tidak kurang daripada 12.",
        "Mesti mengandungi aksara berhuruf kecil.",
        "Mesti mengandungi aksara berhuruf besar.",
        "Mesti mengandungi aksara bernombor.",
        "Mesti mengandungi aksara khas.",
    ]


def test_rules_are_json_for_the_live_checklist():
    data = json.loads(json.dumps(rules_as_data()))
    assert [d["id"] for d in data if d["checklist"]] == ["length", "lower", "upper", "digit", "special"]
    assert {d["kind"] for d in data} == {
        "min_length", "max_length", "pattern", "not_user_id", "matches_confirm", "server"}
    assert all({"id", "message_key", "ms", "en", "kind", "value", "checklist"} == set(d) for d in data)


def test_every_message_key_has_both_languages():
    assert rules.MESSAGES["ms"].keys() == rules.MESSAGES["en"].keys()
    for rule in rules.RULES:
        assert rule.message_key in rules.MESSAGES["en"]


@pytest.mark.parametrize("body, key", [
    # Bodies exactly as Keycloak 26.7 answered PUT /users/{id}/reset-password.
    ('{"error":"invalidPasswordHistoryMessage","error_description":"Invalid password: must not be '
     'equal to any of last 3 passwords."}', "password.policy.history"),
    ('{"error":"invalidPasswordNotUsernameMessage","error_description":"Invalid password: must not '
     'be equal to the username."}', "password.policy.username"),
    ('{"error":"invalidPasswordMinLengthMessage","error_description":"Invalid password: minimum '
     'length 12."}', "password.rule.length"),
    ('{"error":"invalidPasswordMinSpecialCharsMessage","error_description":"..."}',
     "password.rule.special"),
    ('{"error":"somethingNew"}', "password.policy.other"),
    ("Keycloak said invalidPasswordHistoryMessage in plain text", "password.policy.history"),
    ("[1, 2]", "password.policy.other"),
    ("", "password.policy.other"),
])
def test_keycloak_rejections_map_to_message_keys(body, key):
    assert keycloak_reason_key(body) == key
