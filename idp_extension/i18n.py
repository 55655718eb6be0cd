"""Locales and message catalogues, without Flask (the web, the mail and the CLI share it).

A catalogue is one flat JSON object per locale (``ms.json``, ``en.json``) mapping dotted
keys to text. Malay is the default: a key missing in English falls back to Malay, a key
missing everywhere shows the key itself, so a page never crashes over a message (the
unit tests keep both files complete).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping

SUPPORTED_LOCALES: tuple[str, ...] = ("ms", "en")
DEFAULT_LOCALE = "ms"

log = logging.getLogger(__name__)


class Bilingual:
    """A record named in Malay (``ms``) and English (``en``); ``text(locale)`` picks one,
    Malay unless the locale is English."""

    ms: str
    en: str

    def text(self, locale: str) -> str:
        return self.en if locale == "en" else self.ms


def normalize_locale(value: str | None) -> str | None:
    """Return the supported locale ``value`` names ("en-GB" → "en"), or None."""
    if not value:
        return None
    primary = value.strip().lower().replace("_", "-").split("-", 1)[0]
    return primary if primary in SUPPORTED_LOCALES else None


def read_messages(directory: Path) -> Mapping[str, Mapping[str, str]]:
    """Return ``{locale: {key: text}}`` from ``<directory>/<locale>.json``, read-only.

    The one form of the sidecar's text: the shared page catalogue (``web/messages``),
    each page's own (``web/messages/<page>``) and the flows' (``flows/data/messages``).
    """
    messages = {}
    for locale in SUPPORTED_LOCALES:
        with (Path(directory) / f"{locale}.json").open(encoding="utf-8") as handle:
            messages[locale] = MappingProxyType(json.load(handle))
    return MappingProxyType(messages)


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
        return cls(read_messages(directory))

    def merged(self, *extra: Mapping[str, Mapping[str, str]]) -> "MessageCatalog":
        """Return a catalogue with ``extra``'s messages added; keys already here win.

        The app starts from the shared page catalogue and the flows' sentences; each
        page's own catalogue (``web/messages/<page>``) is merged in when registered.
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


# -- dates as the manuals show them ----------------------------------------------------

# The manuals' pages and emails show Malaysian time (UTC+8 all year, no daylight saving).
MALAYSIA = timezone(timedelta(hours=8), "MYT")

_MONTHS = {
    "ms": ["Januari", "Februari", "Mac", "April", "Mei", "Jun", "Julai", "Ogos",
           "September", "Oktober", "November", "Disember"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"],
}


def format_email_date(value: datetime | None, locale: str) -> str | None:
    """Return e.g. "14 September 2020 11:50:04 AM" as the manuals' emails show it."""
    if value is None:
        return None
    month = _MONTHS["en" if locale == "en" else "ms"][value.month - 1]
    return f"{value.day} {month} {value.year} {value:%I:%M:%S %p}"


def format_expiry(value: datetime, locale: str) -> str:
    """Return e.g. "3 Mac 2026 9:00:00 AM (waktu Malaysia)" for emails and pages."""
    local = value.astimezone(MALAYSIA)
    month = _MONTHS["en" if locale == "en" else "ms"][local.month - 1]
    zone = "Malaysia time" if locale == "en" else "waktu Malaysia"
    hour = local.hour % 12 or 12
    return f"{local.day} {month} {local.year} {hour}:{local:%M:%S %p} ({zone})"


def lifetime_hours(minutes: int) -> str:
    """Return a lifetime in minutes as hours for people ("24", "1.5")."""
    return str(minutes // 60) if minutes % 60 == 0 else f"{minutes / 60:.1f}"


def format_page_date(value: datetime | None) -> str:
    """Return e.g. "14/09/2020 11:50:04 AM" as the manuals' account page shows it."""
    return f"{value:%d/%m/%Y %I:%M:%S %p}" if value else ""


def format_page_time(value: datetime) -> str:
    """Return e.g. "11:50 AM" in Malaysian time, as the pages say when a link expires."""
    return f"{value.astimezone(MALAYSIA):%I:%M %p}"


def parse_date(value: str | None) -> datetime | None:
    """Return the datetime of an ISO attribute value (registration date), or None."""
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
