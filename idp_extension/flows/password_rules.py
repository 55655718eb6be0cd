"""Password rules users see and the server checks again, as data.

The five criteria are the manuals' checklist word for word; the rest (not the user ID,
not a common password, confirmation matches, a sane maximum) are checked on the server
and by the page where it can. Keycloak's policy (history, not the username) stays the
final word. ``rules_as_data()`` hands the same rules to the page's live checklist, with
JavaScript regular expressions (flag ``u``) that count characters as Keycloak does:
Java's ``isLowerCase``/``isUpperCase``/``isDigit`` and "special" = not a letter or digit.
"""

from __future__ import annotations

import gzip
import json
import re
import unicodedata
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from idp_extension.flows.texts import MESSAGES, text  # noqa: F401  (MESSAGES: the web layer)

MIN_LENGTH = 12
# Long enough for any passphrase, short enough that nobody posts a megabyte to hash.
MAX_LENGTH = 128
# A core shorter than this is not "a word with digits around it" (the list holds
# single letters, and "A#1234567890b" is not the word "b").
MIN_CORE_LENGTH = 4


@dataclass(frozen=True)
class PasswordRule:
    """One rule: its id, message key, texts, and how the page can check it."""

    id: str
    message_key: str
    # How the page checks it: "min_length", "max_length", "pattern", "not_user_id",
    # "matches_confirm", or "server" (only the server can, e.g. the common list).
    kind: str
    value: Any = None
    # True for the five criteria the manual lists under the password fields.
    checklist: bool = False

    def text(self, locale: str) -> str:
        """The rule's sentence in ``locale`` (flows/data/messages)."""
        return text(self.message_key, locale)

    @property
    def ms(self) -> str:
        return self.text("ms")

    @property
    def en(self) -> str:
        return self.text("en")


@dataclass(frozen=True)
class RuleFailure:
    """A rule the password breaks."""

    rule: str
    message_key: str


LENGTH = PasswordRule(
    "length", "password.rule.length",
    "min_length", MIN_LENGTH, checklist=True,
)
LOWER = PasswordRule(
    "lower", "password.rule.lower",
    "pattern", r"\p{Ll}", checklist=True,
)
UPPER = PasswordRule(
    "upper", "password.rule.upper",
    "pattern", r"\p{Lu}", checklist=True,
)
DIGIT = PasswordRule(
    "digit", "password.rule.digit",
    "pattern", r"\p{Nd}", checklist=True,
)
SPECIAL = PasswordRule(
    "special", "password.rule.special",
    "pattern", r"[^\p{L}\p{Nd}]", checklist=True,
)
NOT_USER_ID = PasswordRule(
    "not_user_id", "password.rule.not_user_id",
    "not_user_id",
)
NOT_COMMON = PasswordRule(
    "not_common", "password.rule.not_common",
    "server",
)
MAX = PasswordRule(
    "max_length", "password.rule.max_length",
    "max_length", MAX_LENGTH,
)
# Control characters (Unicode Cc: NUL, TAB, CR, LF, ESC, ...) and the invisible
# text-direction marks and overrides: typed by nobody on purpose, they make a password
# that looks different from what it is (a bidi override reorders what the user sees) and
# that some login forms, terminals or later systems would cut or mangle. Any other
# Unicode (letters of every script, emoji, spaces) stays allowed.
BIDI_CONTROLS = frozenset(
    "\u200e\u200f\u061c"                                      # LRM, RLM, ALM
    + "".join(chr(c) for c in range(0x202A, 0x202F))        # LRE RLE PDF LRO RLO
    + "".join(chr(c) for c in range(0x2066, 0x206A))        # LRI RLI FSI PDI
)
NO_CONTROL = PasswordRule(
    "no_control", "password.rule.no_control",
    "server",
)
CONFIRM = PasswordRule(
    "confirm", "password.rule.confirm",
    "matches_confirm",
)

RULES: tuple[PasswordRule, ...] = (
    LENGTH, LOWER, UPPER, DIGIT, SPECIAL, NOT_USER_ID, NOT_COMMON, MAX, NO_CONTROL, CONFIRM,
)

# Keycloak's own rejection (its policy is the final word), as message keys.
POLICY_HISTORY = "password.policy.history"
POLICY_USERNAME = "password.policy.username"
POLICY_OTHER = "password.policy.other"
_KEYCLOAK_REASONS = {
    "invalidPasswordHistoryMessage": POLICY_HISTORY,
    "invalidPasswordNotUsernameMessage": POLICY_USERNAME,
    "invalidPasswordMinLengthMessage": LENGTH.message_key,
    "invalidPasswordMaxLengthMessage": MAX.message_key,
    "invalidPasswordMinLowerCaseCharsMessage": LOWER.message_key,
    "invalidPasswordMinUpperCaseCharsMessage": UPPER.message_key,
    "invalidPasswordMinDigitsMessage": DIGIT.message_key,
    "invalidPasswordMinSpecialCharsMessage": SPECIAL.message_key,
    "invalidPasswordBlacklistedMessage": NOT_COMMON.message_key,
}

def keycloak_reason_key(policy_message: str) -> str:
    """Return the message key for Keycloak's rejection body ({"error": "<its key>", ...})."""
    try:
        error = json.loads(policy_message).get("error", "")
    except (ValueError, AttributeError):
        # Not JSON (an older or proxied answer): look for a known key in the text.
        error = next((key for key in _KEYCLOAK_REASONS if key in policy_message), "")
    return _KEYCLOAK_REASONS.get(error, POLICY_OTHER)


def rules_as_data() -> list[dict[str, Any]]:
    """Return every rule as JSON-able dicts for the page's live checklist."""
    return [{**asdict(rule), "ms": rule.text("ms"), "en": rule.text("en")} for rule in RULES]


def _is_lower(c: str) -> bool:
    return unicodedata.category(c) == "Ll"


def _is_upper(c: str) -> bool:
    return unicodedata.category(c) == "Lu"


def _is_digit(c: str) -> bool:
    return unicodedata.category(c) == "Nd"


def _is_special(c: str) -> bool:
    return not (unicodedata.category(c).startswith("L") or _is_digit(c))


_CHECKS = {
    "lower": _is_lower,
    "upper": _is_upper,
    "digit": _is_digit,
    "special": _is_special,
}


def has_control_characters(password: str) -> bool:
    """True if ``password`` holds a control character (Cc) or an invisible bidi control."""
    return any(unicodedata.category(c) == "Cc" or c in BIDI_CONTROLS for c in password)


def contains_user_id(password: str, user_id: str) -> bool:
    """True if ``password`` is, or contains, ``user_id`` (also written with dashes)."""
    if not user_id:
        return False
    lowered, wanted = password.casefold(), user_id.casefold()
    if wanted in lowered:
        return True
    # "900101-06-1234" hides the 12 digits of the ID behind separators.
    return wanted.isdigit() and wanted in re.sub(r"\D", "", password)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """Return the shipped list of common passwords (lower case)."""
    data = resources.files("idp_extension.flows") / "data"
    with gzip.open(data.joinpath("common-passwords.txt.gz").open("rb"), "rt", "utf-8") as handle:
        words = {line.strip() for line in handle}
    local = data.joinpath("common-passwords-my.txt").read_text("utf-8")
    words |= {line.strip() for line in local.splitlines() if not line.startswith("#")}
    words.discard("")
    return frozenset(words)


def password_core(password: str) -> str:
    """Return ``password`` lowered without its leading/trailing digits and symbols."""
    lowered = password.lower()
    start, end = 0, len(lowered)
    while start < end and not lowered[start].isalpha():
        start += 1
    while end > start and not lowered[end - 1].isalpha():
        end -= 1
    return lowered[start:end]


def is_common_password(password: str) -> bool:
    """True if the password, or its core ("Malaysia@2024" -> "malaysia"), is listed."""
    words = common_passwords()
    lowered = password.lower().strip()
    core = password_core(password)
    return lowered in words or (len(core) >= MIN_CORE_LENGTH and core in words)


def check_password(password: str, confirm: str, user_id: str) -> list[RuleFailure]:
    """Return every rule ``password`` breaks (an empty list means it passes)."""
    broken: list[PasswordRule] = []
    if len(password) < MIN_LENGTH:
        broken.append(LENGTH)
    for rule in (LOWER, UPPER, DIGIT, SPECIAL):
        if not any(_CHECKS[rule.id](c) for c in password):
            broken.append(rule)
    if contains_user_id(password, user_id):
        broken.append(NOT_USER_ID)
    if len(password) > MAX_LENGTH:
        broken.append(MAX)
    elif password and is_common_password(password):
        broken.append(NOT_COMMON)
    if has_control_characters(password):
        broken.append(NO_CONTROL)
    if password != confirm:
        broken.append(CONFIRM)
    return [RuleFailure(rule.id, rule.message_key) for rule in broken]
