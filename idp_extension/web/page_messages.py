"""Page texts kept per flow in ``web/messages/<name>/<locale>.json``.

A flow's pages bring their own catalogue files (as first login does), so that flows
developed side by side do not all edit the shared ``messages/ms.json``; the blueprint
merges them into the app's catalogue when it is registered.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from idp_extension.i18n import SUPPORTED_LOCALES

MESSAGES_DIR = Path(__file__).resolve().parent / "messages"


@lru_cache(maxsize=None)
def load_page_messages(name: str) -> dict[str, dict[str, str]]:
    """Return ``{locale: {key: text}}`` from ``messages/<name>/<locale>.json``."""
    return {locale: json.loads((MESSAGES_DIR / name / f"{locale}.json").read_text("utf-8"))
            for locale in SUPPORTED_LOCALES}
