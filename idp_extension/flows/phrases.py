"""The secret phrase and the online image (Selangor, Melaka): the rules every flow applies.

First login sets them, the settings change them, the login page's site key shows them.
The phrase is shown to anyone who types the ID on the login page, so it must be plain
words and never a secret (the password, an answer).
"""

from __future__ import annotations

import unicodedata
from typing import Sequence

from idp_extension.attributes import IMAGE_ID, SECRET_PHRASE
from idp_extension.flows.answers import normalise_answer
from idp_extension.gallery import image_by_id

PHRASE_ATTRIBUTE = SECRET_PHRASE
IMAGE_ATTRIBUTE = IMAGE_ID

MIN_PHRASE_LENGTH = 4
MAX_PHRASE_LENGTH = 60
# Markup and template syntax: the phrase is shown on the login page of everyone who types
# this ID. The page escapes it anyway; refusing these keeps it plain words.
PHRASE_FORBIDDEN = frozenset('<>&"`\\{}')

# Field error keys (shown next to the fields; texts in idp_extension/messages/flows).
IMAGE_REQUIRED = "first_login.image_required"
IMAGE_UNKNOWN = "first_login.image_unknown"
PHRASE_REQUIRED = "first_login.phrase_required"
PHRASE_TOO_SHORT = "first_login.phrase_too_short"
PHRASE_TOO_LONG = "first_login.phrase_too_long"
PHRASE_MARKUP = "first_login.phrase_markup"
PHRASE_SECRET = "first_login.phrase_secret"


def normalise_phrase(raw: str) -> str:
    """Return the phrase as stored: NFKC, trimmed, inner whitespace collapsed to one space."""
    return " ".join(unicodedata.normalize("NFKC", raw or "").split())


def phrase_problem(phrase: str, secrets_: Sequence[str] = ()) -> str | None:
    """Return the field error key for an already normalised phrase, or None.

    ``secrets_`` (the new password, the answers) must not be the phrase or inside it: the
    phrase is shown to anyone who types this ID on the login page.
    """
    if not phrase:
        return PHRASE_REQUIRED
    if any(c in PHRASE_FORBIDDEN or unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs", "Cn")
           for c in phrase):
        return PHRASE_MARKUP
    if len(phrase) < MIN_PHRASE_LENGTH:
        return PHRASE_TOO_SHORT
    if len(phrase) > MAX_PHRASE_LENGTH:
        return PHRASE_TOO_LONG
    folded = normalise_answer(phrase)
    for secret in secrets_:
        secret_folded = normalise_answer(secret or "")
        if secret_folded and (secret_folded == folded or
                              (len(secret_folded) >= 8 and secret_folded in folded)):
            return PHRASE_SECRET
    return None


def image_problem(image_id: str) -> str | None:
    """Return the field error key for a chosen online image, or None."""
    if not image_id:
        return IMAGE_REQUIRED
    if image_by_id(image_id) is None:
        return IMAGE_UNKNOWN
    return None
