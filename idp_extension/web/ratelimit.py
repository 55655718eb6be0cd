"""Rate limiting per client address (Flask-Limiter), declared on views, bound per app.

Views are module-level while limiters belong to one app (tests build many apps), so a
view is only *marked* with ``@rate_limit(...)``; ``apply_rate_limits`` wraps the marked
views of one app with that app's limiter once every blueprint is registered.
"""

from __future__ import annotations

from typing import Callable, Iterable, TypeVar

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from idp_extension.metrics import RATE_LIMIT_REFUSALS
from idp_extension.settings import Settings

LIMITER_KEY = "ispeks.limiter"
_MARK = "_ispeks_rate_limits"

View = TypeVar("View", bound=Callable)


def init_rate_limiting(app: Flask, settings: Settings) -> Limiter:
    """Attach a limiter counting in ``settings.ratelimit_storage_uri``."""
    limiter = Limiter(
        key_func=get_remote_address,
        storage_uri=settings.ratelimit_storage_uri,
        # If Redis is down, count in memory rather than lock everybody out.
        in_memory_fallback_enabled=True,
        headers_enabled=False,
        key_prefix="ispeks",
        on_breach=_count_refusal,
    )
    limiter.init_app(app)
    app.extensions[LIMITER_KEY] = limiter
    return limiter


def _count_refusal(_limit: object) -> None:
    """Count one refused request by route template (metrics.py)."""
    rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
    RATE_LIMIT_REFUSALS.labels(route=rule).inc()


def current_limiter() -> Limiter:
    """The running app's limiter (for shared limits or ad-hoc checks)."""
    return current_app.extensions[LIMITER_KEY]


def rate_limit(
    limit: str,
    *,
    methods: Iterable[str] | None = ("POST",),
    key_func: Callable[[], str] | None = None,
) -> Callable[[View], View]:
    """Mark a view to be limited to ``limit`` (e.g. "5 per minute") per client address.

    ``key_func`` counts by something else instead (e.g. the account a form names); a
    view may carry several marks, each counted on its own.
    """

    def mark(view: View) -> View:
        marks = list(getattr(view, _MARK, ()))
        marks.append((limit, tuple(methods) if methods else None, key_func))
        setattr(view, _MARK, marks)
        return view

    return mark


def apply_rate_limits(app: Flask) -> None:
    """Wrap every marked view of ``app`` with ``app``'s limiter."""
    limiter: Limiter = app.extensions[LIMITER_KEY]
    if app.extensions.get(_MARK):
        raise RuntimeError("rate limits are already applied to this app")
    app.extensions[_MARK] = True
    for endpoint, view in list(app.view_functions.items()):
        for limit, methods, key_func in getattr(view, _MARK, ()):
            view = limiter.limit(
                limit, methods=list(methods) if methods else None, key_func=key_func
            )(view)
        app.view_functions[endpoint] = view
