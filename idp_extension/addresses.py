"""What counts as one email address here: a single plain addr-spec, nothing more.

Payroll addresses are official mailboxes (``nama@jabatan.pahang.gov.my``): a dot-atom
local part, ``@``, a DNS domain name. Anything the RFC also allows but no official
mailbox needs is refused, because every extra form is a way to reach a second mailbox
or to smuggle something into a header or a terminal:

* a comma or a semicolon (``boss,x@pahang.gov.my`` is two recipients in a To header,
  the first one a local mailbox of the relay), a display name (``Boss <x@...>``), angle
  brackets, comments in parentheses, spaces and control characters;
* quoted local parts (``"a@b"@pahang.gov.my``): legal, never issued by a department,
  and they make "the part after the last @" differ from the real domain;
* ``%`` and ``!`` (``x%evil.example@relay`` and bang paths are routed onwards by some
  relays), and the other rarely used RFC symbols; letters, digits, ``.``, ``_``, ``-``,
  ``+`` and the apostrophe (O'Neil) remain;
* more than one ``@``, empty dot segments, domain literals (``[10.0.0.1]``), non-ASCII
  (internationalised addresses need SMTPUTF8, which the states' relays do not promise).
"""

from __future__ import annotations

import re
from email.utils import getaddresses

MAX_LOCAL = 64
MAX_ADDRESS = 254
# A subset of RFC 5322 atext, in dot-atom form: no leading, trailing or doubled dot.
_ATEXT = r"[A-Za-z0-9_+'-]+"
_LOCAL = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
# RFC 1035 labels (letters, digits, inner hyphens), at least two, a letters-only TLD.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)+[A-Za-z]{{2,63}}")


def is_single_addr_spec(value: str) -> bool:
    """True if ``value`` is exactly one plain address (see the module docstring)."""
    if not isinstance(value, str) or not value.isascii() or len(value) > MAX_ADDRESS:
        return False
    local, at, domain = value.partition("@")
    if not at or len(local) > MAX_LOCAL or len(domain) > 253:
        return False
    if not _LOCAL.fullmatch(local) or not _DOMAIN.fullmatch(domain):
        return False
    # Belt and braces: the standard library's header parser must read the same single
    # address back, with no display name, or a To header would say something else.
    return getaddresses([value]) == [("", value)]


def address_domain(value: str) -> str:
    """Return the domain of a single addr-spec in lower case ("" for anything else)."""
    return value.partition("@")[2].lower() if is_single_addr_spec(value) else ""
