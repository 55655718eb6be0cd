"""Every Keycloak user attribute iSPEKS reads or writes, by name: the one list.

The gateway (``gateway/users.py``), the flows and the realm's user profile
(``realms/profile.py``) all take the names from here, so a renamed attribute cannot be
declared under one name and written under another (Keycloak silently drops writes of
undeclared attributes, KEYCLOAK-NOTES.md).
"""

from __future__ import annotations

# -- kept by the sidecar (admin-only) -------------------------------------------------
ACTIVATION_STATE = "ispeks_activation_state"
PENDING, ACTIVE = "pending", "active"
ACTIVATION_STATES = (PENDING, ACTIVE)
# JSON of three {question id, argon2 hash}.
SECURITY_ANSWERS = "ispeks_security_answers"
SECRET_PHRASE = "ispeks_secret_phrase"
IMAGE_ID = "ispeks_image_id"
TEMP_PASSWORD_HASH = "ispeks_temp_password_hash"
TEMP_PASSWORD_EXPIRES = "ispeks_temp_password_expires"
# Wrong answers to the security questions in recovery (flows/recovery.py).
RECOVERY_FAILURES = "ispeks_recovery_failures"
PROFILE_VERSION = "ispeks_profile_version"
# When the account turned active (ISO 8601, UTC), written with ACTIVATION_STATE=active by
# activation and first login; the campaign report counts activations per day with it.
ACTIVATED_AT = "ispeks_activated_at"
# When ``report remind`` last emailed this pending user (ISO 8601, UTC): once a day at most.
REMINDED_AT = "ispeks_reminded_at"


def nonce_attribute(purpose: str) -> str:
    """Name of the user attribute that holds the current nonce digest for ``purpose``."""
    return f"ispeks_nonce_{purpose}"


NONCE_ACTIVATION = nonce_attribute("activation")
NONCE_RECOVERY = nonce_attribute("recovery")
NONCE_TEMP_PASSWORD = nonce_attribute("temp_password")

# -- payroll's (shown to the user, changed by state IT or the payroll import) ---------
DEPARTMENT = "department"
REGISTRATION_DATE = "registration_date"

# -- Keycloak's own ---------------------------------------------------------------------
# Set by Keycloak itself when brute-force protection locks an account for good.
DISABLED_REASON = "disabledReason"
PERMANENT_LOCKOUT = "permanentLockout"
