"""Security answers: normalise, validate, hash with argon2id, verify.

Stored in the admin-only attribute ``ispeks_security_answers`` as a compact JSON list
``[{"q": question_id, "h": argon2id hash}, ...]``: about 400 characters for three, far
under Keycloak's 2048-character value limit. The answers themselves never leave memory.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Iterable, Mapping, Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from idp_extension.attributes import SECURITY_ANSWERS
from idp_extension.flows.texts import MESSAGES  # noqa: F401  (the web layer merges it)

ANSWERS_ATTRIBUTE = SECURITY_ANSWERS
QUESTIONS_REQUIRED = 3
MIN_ANSWER_LENGTH = 2
MAX_ANSWER_LENGTH = 100
MAX_STORED_LENGTH = 2048

# argon2-cffi's defaults (RFC 9106 low-memory profile: argon2id, 64 MiB, t=3, p=4).
DEFAULT_HASHER = PasswordHasher()

# Field error message keys (the web layer shows them next to the fields).
COUNT = "questions.count"
UNKNOWN = "questions.unknown"
DUPLICATE = "questions.duplicate"
ANSWER_REQUIRED = "questions.answer_required"
ANSWER_TOO_SHORT = "questions.answer_too_short"
ANSWER_TOO_LONG = "questions.answer_too_long"

def normalise_answer(answer: str) -> str:
    """Return ``answer`` as compared: NFKC, case-folded, inner spaces collapsed, stripped."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", answer).casefold())
    return " ".join(folded.split())


def validate_choices(
    choices: Sequence[tuple[str, str]], question_ids: Iterable[str]
) -> dict[str, str]:
    """Return field errors (``question_<n>``/``answer_<n>``, 1-based) for ``choices``."""
    if len(choices) != QUESTIONS_REQUIRED:
        return {"questions": COUNT}
    known = set(question_ids)
    errors: dict[str, str] = {}
    seen: set[str] = set()
    for position, (question_id, answer) in enumerate(choices, start=1):
        if question_id not in known:
            errors[f"question_{position}"] = UNKNOWN
        elif question_id in seen:
            errors[f"question_{position}"] = DUPLICATE
        seen.add(question_id)
        problem = _answer_problem(answer)
        if problem:
            errors[f"answer_{position}"] = problem
    return errors


def _answer_problem(answer: str) -> str | None:
    normalised = normalise_answer(answer or "")
    if not normalised:
        return ANSWER_REQUIRED
    if len(normalised) < MIN_ANSWER_LENGTH:
        return ANSWER_TOO_SHORT
    if len(normalised) > MAX_ANSWER_LENGTH:
        return ANSWER_TOO_LONG
    return None


def hash_answers(
    choices: Sequence[tuple[str, str]], hasher: PasswordHasher = DEFAULT_HASHER
) -> str:
    """Return the attribute value for already validated ``choices``."""
    entries = [{"q": q, "h": hasher.hash(normalise_answer(a))} for q, a in choices]
    stored = json.dumps(entries, separators=(",", ":"))
    if len(stored) > MAX_STORED_LENGTH:
        raise ValueError(f"hashed answers take {len(stored)} characters (limit {MAX_STORED_LENGTH})")
    return stored


def _entries(stored: str | None) -> list[Mapping[str, str]]:
    try:
        entries = json.loads(stored or "[]")
    except ValueError:
        return []
    if not isinstance(entries, list):
        return []
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("q"), str)
            and isinstance(e.get("h"), str)]


def stored_question_ids(stored: str | None) -> list[str]:
    """Return the question ids an attribute value holds answers for, in order."""
    return [entry["q"] for entry in _entries(stored)]


def has_answers(stored: str | None) -> bool:
    """True if ``stored`` holds a complete set of hashed answers."""
    return len(_entries(stored)) >= QUESTIONS_REQUIRED


def verify_answer(
    stored: str | None, question_id: str, answer: str, hasher: PasswordHasher = DEFAULT_HASHER
) -> bool:
    """True if ``answer`` matches the stored hash for ``question_id``."""
    entry = next((e for e in _entries(stored) if e["q"] == question_id), None)
    if entry is None:
        return False
    try:
        return hasher.verify(entry["h"], normalise_answer(answer or ""))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
