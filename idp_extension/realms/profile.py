"""Declare the realm's user profile: every attribute any part of iSPEKS stores.

With ``unmanagedAttributePolicy`` left unset (DISABLED), Keycloak silently drops writes
of undeclared attributes (KEYCLOAK-NOTES.md), so this list is the contract between the
sidecar, the payroll import and Keycloak. Admin-only attributes are never mapped into
tokens and are invisible in the account console.
"""

from __future__ import annotations

from typing import Any

from idp_extension import attributes as attr

ADMIN_ONLY = {"view": ["admin"], "edit": ["admin"]}
USER_VISIBLE_ADMIN_EDIT = {"view": ["admin", "user"], "edit": ["admin"]}
USER_EDITABLE = {"view": ["admin", "user"], "edit": ["admin", "user"]}

ACTIVATION_STATES = attr.ACTIVATION_STATES

# name -> max length; the sidecar stores only hashes, ids, nonces and timestamps here.
SIDECAR_ATTRIBUTES: dict[str, int] = {
    attr.ACTIVATION_STATE: 16,
    # JSON of three {question id, argon2 hash}: about 350 characters.
    attr.SECURITY_ANSWERS: 4096,
    attr.SECRET_PHRASE: 255,
    attr.IMAGE_ID: 64,
    attr.NONCE_ACTIVATION: 255,
    attr.NONCE_TEMP_PASSWORD: 255,
    attr.NONCE_RECOVERY: 255,
    attr.TEMP_PASSWORD_HASH: 512,
    attr.TEMP_PASSWORD_EXPIRES: 64,
    attr.RECOVERY_FAILURES: 16,
    attr.PROFILE_VERSION: 16,
    # ISO 8601 timestamps: when the account turned active; when a reminder was emailed.
    attr.ACTIVATED_AT: 64,
    attr.REMINDED_AT: 64,
}
# Shown to the user (pages, account console), changed only by state IT or payroll, like
# email, firstName and lastName above.
PAYROLL_ATTRIBUTES: dict[str, tuple[int, str]] = {
    attr.DEPARTMENT: (255, "Jabatan / Department"),
    attr.REGISTRATION_DATE: (32, "Tarikh Pendaftaran / Registration date"),
}

# Keycloak's person-name-prohibited-characters list without "/": Malaysian names carry
# "A/L", "A/P", "S/O" and "D/O", which that validator refuses. Control characters are
# refused too. The payroll import checks the same set before writing.
PROHIBITED_NAME_CHARS = frozenset('<>&"$%!#?§;*~\\|^=[]{}()')
# A Java regex and a Python one alike: the whole name, none of the characters above.
PERSON_NAME_PATTERN = (
    "^[^" + "".join("\\" + c if c in "\\[]^" else c for c in sorted(PROHIBITED_NAME_CHARS))
    + "\\x00-\\x1F\\x7F]+$"
)
PERSON_NAME_VALIDATIONS = {"pattern": {"pattern": PERSON_NAME_PATTERN,
                                       "error-message": "error-person-name-invalid-character"}}


def _attribute(name: str, permissions: dict[str, list[str]], max_length: int,
               display_name: str | None = None, **extra: Any) -> dict[str, Any]:
    validations: dict[str, Any] = {"length": {"max": max_length}}
    validations.update(extra.pop("validations", {}))
    attribute = {
        "name": name,
        "displayName": display_name or "${%s}" % name,
        "validations": validations,
        "permissions": permissions,
        "multivalued": False,
    }
    attribute.update(extra)
    return attribute


def user_profile_config() -> dict[str, Any]:
    """Return the declarative user profile (the UPConfig JSON) of every state realm."""
    attributes = [
        # Users cannot rename themselves: editUsernameAllowed is false in the realm.
        _attribute("username", USER_EDITABLE, 255, validations={
            "username-prohibited-characters": {}, "up-username-not-idn-homograph": {}}),
        # Payroll owns the official email and the name (manual 003: kept in Modul Gaji by
        # the department): users see them, only admins (payroll import, state IT, the
        # sidecar's service account) change them. Editable by users, anyone holding a
        # session could point the email at another mailbox and receive recovery links.
        # Not required: payroll imports may lack it, and a required attribute would
        # stop the user at Keycloak's unthemed "update profile" page.
        _attribute("email", USER_VISIBLE_ADMIN_EDIT, 255, validations={"email": {}}),
        # Payroll provides one full name: it goes to firstName, lastName stays optional.
        _attribute("firstName", USER_VISIBLE_ADMIN_EDIT, 255,
                   validations=PERSON_NAME_VALIDATIONS),
        _attribute("lastName", USER_VISIBLE_ADMIN_EDIT, 255,
                   validations=PERSON_NAME_VALIDATIONS),
    ]
    attributes += [
        _attribute(name, USER_VISIBLE_ADMIN_EDIT, size, label, group="user-metadata")
        for name, (size, label) in PAYROLL_ATTRIBUTES.items()
    ]
    for name, size in SIDECAR_ATTRIBUTES.items():
        extra: dict[str, Any] = {"group": "ispeks-internal"}
        if name == attr.ACTIVATION_STATE:
            extra["validations"] = {"options": {"options": list(ACTIVATION_STATES)}}
        attributes.append(_attribute(name, ADMIN_ONLY, size, name, **extra))
    return {
        "attributes": attributes,
        "groups": [
            {"name": "user-metadata", "displayHeader": "User metadata",
             "displayDescription": "Attributes, which refer to user metadata"},
            {"name": "ispeks-internal", "displayHeader": "iSPEKS (internal)",
             "displayDescription": "Kept by the iSPEKS sidecar; never shown to users"},
        ],
    }


def attribute_names() -> list[str]:
    """Return every declared attribute's name, in declaration order."""
    return [a["name"] for a in user_profile_config()["attributes"]]
