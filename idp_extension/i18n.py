"""Locales and message catalogues, without Flask (the web, the mail and the CLI share it).

A catalogue is one flat JSON object per locale (``ms.json``, ``en.json``) mapping dotted
keys to text. Malay is the default: a key missing in English falls back to Malay, a key
missing everywhere shows the key itself, so a page never crashes over a message (the
unit tests keep both files complete).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Iterable, Mapping

SUPPORTED_LOCALES: tuple[str, ...] = ("ms", "en")
DEFAULT_LOCALE = "ms"

log = logging.getLogger(__name__)


def normalize_locale(value: str | None) -> str | None:
    """Return the supported locale ``value`` names ("en-GB" → "en"), or None."""
    if not value:
        return None
    primary = value.strip().lower().replace("_", "-").split("-", 1)[0]
    return primary if primary in SUPPORTED_LOCALES else None


class _KeepMissing(dict):
    """Leave ``{name}`` in place when no value was given, instead of failing the page."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class MessageCatalog:
    """Text by key and locale."""

    def __init__(self, messages: Mapping[str, Mapping[str, str]]) -> None:
        self._messages = {locale: dict(messages.get(locale, {})) for locale in SUPPORTED_LOCALES}

    @classmethod
    def load(cls, directory: Path) -> "MessageCatalog":
        """Read ``<directory>/<locale>.json`` for every supported locale."""
        messages = {}
        for locale in SUPPORTED_LOCALES:
            path = Path(directory) / f"{locale}.json"
            with path.open(encoding="utf-8") as handle:
                messages[locale] = json.load(handle)
        return cls(messages)

    def merged(self, *extra: Mapping[str, Mapping[str, str]]) -> "MessageCatalog":
        """Return a catalogue with ``extra``'s messages added; keys already here win.

        Flows keep the sentences of their own error codes next to the code (no copy to
        drift apart); the web layer merges them in.
        """
        messages = {locale: {} for locale in SUPPORTED_LOCALES}
        for source in extra:
            for locale in SUPPORTED_LOCALES:
                messages[locale].update(source.get(locale, {}))
        for locale in SUPPORTED_LOCALES:
            messages[locale].update(self._messages[locale])
        return MessageCatalog(messages)

    def keys(self, locale: str) -> set[str]:
        """Every key the catalogue defines for ``locale``."""
        return set(self._messages[locale])

    def has(self, key: str, locale: str) -> bool:
        """True if ``locale`` itself defines ``key`` (no fallback)."""
        return key in self._messages.get(locale, {})

    def text(self, key: str, locale: str, **params: Any) -> str:
        """Return the message ``key`` in ``locale``, with ``{name}`` placeholders filled."""
        locale = normalize_locale(locale) or DEFAULT_LOCALE
        template = self._messages[locale].get(key)
        if template is None:
            template = self._messages[DEFAULT_LOCALE].get(key)
            log.warning("message %r missing for locale %r", key, locale)
        if template is None:
            return key
        # Only format when asked: literal braces in plain messages stay as they are.
        return template.format_map(_KeepMissing(params)) if params else template

    def all_locales(self, key: str, **params: Any) -> list[tuple[str, str]]:
        """Return ``(locale, text)`` for every locale, Malay first."""
        return [(locale, self.text(key, locale, **params)) for locale in SUPPORTED_LOCALES]


def best_locale(candidates: Iterable[str | None]) -> str:
    """Return the first supported locale among ``candidates``, else the default."""
    for candidate in candidates:
        locale = normalize_locale(candidate)
        if locale:
            return locale
    return DEFAULT_LOCALE
