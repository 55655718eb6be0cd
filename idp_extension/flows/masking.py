"""Masked email addresses for confirmation pages, real and decoy.

"aminah.hassan@perbendaharaan.pahang.gov.my" -> "a*****.h*****@perbendaharaan.pahang.gov.my":
the first letter of each dot-separated part of the local part, then a fixed run of
stars (a fixed run hides the length of the name), and the domain in full.

A decoy is derived by HMAC from the ID so that an unknown, active or disabled ID gets a
stable address of the same shape as a real one: asking twice gives the same answer, and
without the secret key nobody can tell a decoy from a masked real address.
"""

from __future__ import annotations

import hashlib
import hmac

from idp_extension.tenants import Tenant

STARS = "*****"
# Initials weighted like Malaysian given and family names (more a, m, n, s than q, x).
_INITIALS = "aaaammmmnnnssshhhrrrzzffkkiijjllttbbddwwyyegopuc"


def mask_email(address: str) -> str:
    """Return ``address`` with every dot-separated part of its local part masked."""
    # Lower case, as decoys are: "Aminah.Hassan@..." must not look different.
    local, at, domain = address.strip().lower().rpartition("@")
    if not at or not local:
        return STARS
    return ".".join(part[:1] + STARS if part else "" for part in local.split(".")) + "@" + domain


def _decoy_domain(tenant: Tenant, pick: int) -> str:
    domains = tenant.email_domains or ("gov.my",)
    domain = domains[pick % len(domains)]
    # A bare "gov.my" is nobody's mailbox domain: real addresses sit under an agency or
    # the state (as the demo users do).
    return domain if domain.count(".") >= 2 else f"{tenant.realm}.{domain}"


def decoy_masked_email(secret_key: str, realm: str, user_id: str, tenant: Tenant) -> str:
    """Return a stable, plausible masked address for an ID that gets no email."""
    digest = hmac.new(
        secret_key.encode(), f"ispeks:decoy-email:{realm}:{user_id}".encode(), hashlib.sha256
    ).digest()
    # Most official addresses are "given.family"; some are a single word.
    parts = 1 if digest[0] % 5 == 0 else 2
    initials = [_INITIALS[digest[1 + i] % len(_INITIALS)] for i in range(parts)]
    local = ".".join(initial + STARS for initial in initials)
    return f"{local}@{_decoy_domain(tenant, digest[4])}"
