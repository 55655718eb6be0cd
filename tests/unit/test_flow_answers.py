"""Security answers: normalised, validated, stored as argon2id hashes, verified."""

from __future__ import annotations

import json

import pytest

from idp_extension.flows.answers import (
    DEFAULT_HASHER, MAX_STORED_LENGTH, has_answers, hash_answers, normalise_answer,
    stored_question_ids, validate_choices, verify_answer,
)
from tests.support.constants import FAST_HASHER

IDS = ["mother_name", "first_car", "favourite_colour", "first_pet"]
CHOICES = [("mother_name", "Siti Aishah"), ("first_car", "Kancil"), ("favourite_colour", "Biru")]


@pytest.mark.parametrize("raw, expected", [
    ("  Siti   Aishah ", "siti aishah"),
    ("SITI\tAISHAH\n", "siti aishah"),
    ("Ｋａｎｃｉｌ", "kancil"),           # full-width letters (NFKC)
    ("Straße", "strasse"),                # case folding, not just lower()
    ("Jalan\u00a0Ampang", "jalan ampang"),  # no-break space
    ("", ""),
])
def test_normalise(raw, expected):
    assert normalise_answer(raw) == expected


def test_valid_choices_have_no_errors():
    assert validate_choices(CHOICES, IDS) == {}


def test_errors_name_the_field_by_position():
    choices = [("mother_name", "a"), ("mother_name", "  "), ("nope", "Biru")]
    assert validate_choices(choices, IDS) == {
        "answer_1": "questions.answer_too_short",
        "question_2": "questions.duplicate", "answer_2": "questions.answer_required",
        "question_3": "questions.unknown",
    }


def test_exactly_three_are_required():
    assert validate_choices(CHOICES[:2], IDS) == {"questions": "questions.count"}
    assert validate_choices([], IDS) == {"questions": "questions.count"}


def test_two_characters_after_normalising_is_enough():
    assert validate_choices([("mother_name", " A  b "), *CHOICES[1:]], IDS) == {}
    assert validate_choices([("mother_name", "  Ab  "), *CHOICES[1:]], IDS) == {}


def test_stored_value_is_compact_json_of_ids_and_argon2id_hashes():
    stored = hash_answers(CHOICES, FAST_HASHER)

    entries = json.loads(stored)
    assert [e["q"] for e in entries] == [q for q, _ in CHOICES]
    assert all(set(e) == {"q", "h"} and e["h"].startswith("$argon2id$") for e in entries)
    assert stored_question_ids(stored) == [q for q, _ in CHOICES]
    assert has_answers(stored)
    for _, answer in CHOICES:
        assert answer.lower() not in stored.lower()


def test_three_default_hashes_fit_keycloaks_attribute_limit():
    long_ids = [("favourite_teacher", "x" * 100), ("father_birthplace", "y" * 100),
                ("childhood_friend", "z" * 100)]
    stored = hash_answers(long_ids, DEFAULT_HASHER)
    assert len(stored) < MAX_STORED_LENGTH // 4
    assert "m=65536,t=3,p=4" in stored


def test_verify_accepts_the_answer_however_it_is_typed():
    stored = hash_answers(CHOICES, FAST_HASHER)
    assert verify_answer(stored, "mother_name", "siti   AISHAH", FAST_HASHER)
    assert verify_answer(stored, "first_car", " KANCIL ", FAST_HASHER)


@pytest.mark.parametrize("stored, question, answer", [
    ("VALID", "mother_name", "Siti Aisyah"),      # wrong answer
    ("VALID", "first_car", "Siti Aishah"),        # another question's answer
    ("VALID", "first_pet", "Siti Aishah"),        # a question not chosen
    ("not json", "mother_name", "Siti Aishah"),
    ('{"q": "mother_name"}', "mother_name", "Siti Aishah"),
    ('[{"q": "mother_name", "h": "plain"}]', "mother_name", "Siti Aishah"),
    (None, "mother_name", "Siti Aishah"),
])
def test_verify_refuses_everything_else(stored, question, answer):
    if stored == "VALID":
        stored = hash_answers(CHOICES, FAST_HASHER)
    assert verify_answer(stored, question, answer, FAST_HASHER) is False


def test_incomplete_or_missing_answers_do_not_count():
    assert not has_answers(None)
    assert not has_answers("[]")
    assert not has_answers(json.dumps([{"q": "mother_name", "h": "$argon2id$x"}]))
