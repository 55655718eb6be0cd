"""The sentences behind every flow's codes and field errors, and the mails', in Malay and English.

They live in ``flows/data/messages/<locale>.json`` (one flat catalogue per locale, the
same form as the web pages' ``web/messages``); ``<code>`` is the sentence and
``<code>.title`` the heading. ``mail.*`` keys are the emails' sentences
(``mail/render.py``). The web layer merges ``MESSAGES`` into its catalogue.
"""

from __future__ import annotations

from pathlib import Path

from idp_extension.i18n import read_messages

MESSAGES = read_messages(Path(__file__).resolve().parent / "data" / "messages")


def text(key: str, locale: str) -> str:
    """Return ``key``'s sentence in ``locale`` (English for "en", else Malay)."""
    return MESSAGES["en" if locale == "en" else "ms"][key]
