"""Login IDs and email addresses as people type them (first login, and flows to come).

A login ID is a 12-digit MyKad number or a company ID (an SSM registration number):
* since 2019, 12 digits: year of registration, entity type (01 local company,
  02 foreign company, 03 business, 04 limited liability partnership, 05-06 other
  entities), serial: "201901000005";
* before, up to 7 digits and a check letter: "1234567-X" (the dash optional).
Keycloak keeps usernames in lower case, so the old form's letter is lower case there.
"""

from __future__ import annotations

import re

from idp_extension.flows.common import ValidationFailed, keyed_id
from idp_extension.payroll import InvalidUserId, normalise_mykad

MAX_EMAIL_LENGTH = 254
SSM_NUMBER = re.compile(r"^(?:19|20)\d{2}0[1-6]\d{6}$")
SSM_OLD_NUMBER = re.compile(r"^(\d{1,7})-?([A-Z])$")
_EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")


class InvalidLoginIdError(ValidationFailed, code="first_login.invalid_id"):
    """The ID is neither a MyKad number nor a company registration number."""

    def __init__(self) -> None:
        super().__init__({"user_id": self.code}, "malformed user ID")


class InvalidEmailError(ValidationFailed, code="first_login.invalid_email"):
    """The email is empty or not shaped like an address."""

    def __init__(self) -> None:
        super().__init__({"email": self.code}, "malformed email")


def normalise_company_id(raw: str) -> str:
    """Return an SSM registration number as Keycloak keeps it, or raise InvalidUserId."""
    text = re.sub(r"\s", "", raw or "").upper()
    compact = text.replace("-", "")
    if SSM_NUMBER.match(compact):
        return compact
    old = SSM_OLD_NUMBER.match(text)
    if old:
        return f"{old.group(1)}-{old.group(2)}".lower()
    raise InvalidUserId(f"not a company registration number: {raw!r}")


def normalise_login_id(raw: str) -> str:
    """Return a MyKad number (12 digits) or a company ID as Keycloak keeps it, or raise."""
    compact = re.sub(r"[\s-]", "", raw or "")
    try:
        return normalise_mykad(compact)
    except InvalidUserId:
        pass
    return normalise_company_id(raw)


def parse_login_id(raw: str) -> str:
    """``normalise_login_id``, raising InvalidLoginIdError (shown at once) instead."""
    try:
        return normalise_login_id(raw)
    except InvalidUserId:
        raise InvalidLoginIdError() from None


def display_id(user_id: str) -> str:
    """Return an ID as people write it ("1234567-X", not Keycloak's "1234567-x")."""
    return user_id.upper()


def login_id_rate_limit_key(secret_key: str, realm: str, raw_id: str,
                            purpose: str = "first_login") -> str:
    """Return the rate-limit key for requests about one login ID (keyed hash: no IDs in Redis)."""
    try:
        subject = normalise_login_id(raw_id)
    except InvalidUserId:
        subject = (raw_id or "").strip()[:64].lower()
    return keyed_id(secret_key, f"{realm}:{purpose}:", purpose, realm, subject)


def normalise_email(raw: str) -> str:
    """Return the address trimmed and lower-cased, or raise InvalidEmailError."""
    address = (raw or "").strip().lower()
    if len(address) > MAX_EMAIL_LENGTH or not _EMAIL.match(address):
        raise InvalidEmailError()
    return address
