"""The user's language: ``?lang=`` (remembered in a cookie), else Accept-Language, else Malay."""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import urlencode

from flask import Flask, Response, current_app, g, request

from idp_extension.i18n import DEFAULT_LOCALE, SUPPORTED_LOCALES, MessageCatalog, normalize_locale

LANG_COOKIE = "ispeks_lang"
LANG_PARAM = "lang"
CATALOG_KEY = "ispeks.messages"
_COOKIE_MAX_AGE = 365 * 24 * 3600


def init_language(app: Flask, catalog: MessageCatalog, *, secure_cookie: bool) -> None:
    """Choose a locale per request, offer ``t()`` to templates, remember ``?lang=``."""
    app.extensions[CATALOG_KEY] = catalog

    @app.context_processor
    def locale_helpers() -> dict[str, Any]:
        return {
            "t": t,
            "t_in": t_in,
            "locale": current_locale(),
            "locales": SUPPORTED_LOCALES,
            "switch_url": switch_url,
        }

    @app.after_request
    def remember_choice(response: Response) -> Response:
        chosen = normalize_locale(request.args.get(LANG_PARAM))
        if chosen and request.cookies.get(LANG_COOKIE) != chosen:
            response.set_cookie(
                LANG_COOKIE,
                chosen,
                max_age=_COOKIE_MAX_AGE,
                # Only the sidecar's pages (under /idp behind the proxy) need it.
                path=request.script_root or "/",
                secure=secure_cookie,
                httponly=True,
                samesite="Lax",
            )
        # Caches must not serve a Malay page to someone who asked for English.
        response.vary.update(("Cookie", "Accept-Language"))
        return response


def add_messages(app: Flask, *extra: Mapping[str, Mapping[str, str]]) -> None:
    """Merge ``extra`` ({locale: {key: text}}, e.g. a page's own catalogue) into ``app``'s catalogue."""
    app.extensions[CATALOG_KEY] = app.extensions[CATALOG_KEY].merged(*extra)


def select_locale() -> str:
    """Return the locale this request asks for."""
    for candidate in (request.args.get(LANG_PARAM), request.cookies.get(LANG_COOKIE)):
        locale = normalize_locale(candidate)
        if locale:
            return locale
    best = request.accept_languages.best_match(SUPPORTED_LOCALES)
    return normalize_locale(best) or DEFAULT_LOCALE


def current_locale() -> str:
    """The locale of the current request (chosen once, then cached on ``g``)."""
    if "locale" not in g:
        g.locale = select_locale()
    return g.locale


def catalog() -> MessageCatalog:
    """The running app's message catalogue."""
    return current_app.extensions[CATALOG_KEY]


def t(key: str, **params: Any) -> str:
    """Return message ``key`` in the current request's locale."""
    return catalog().text(key, current_locale(), **params)


def t_in(locale: str, key: str, **params: Any) -> str:
    """Return message ``key`` in ``locale`` (for pages shown in both languages)."""
    return catalog().text(key, locale, **params)


def switch_url(locale: str) -> str:
    """Return the current page's URL with ``lang`` set to ``locale``."""
    args = request.args.copy()
    args[LANG_PARAM] = locale
    return f"{request.script_root}{request.path}?{urlencode(list(args.items(multi=True)))}"
