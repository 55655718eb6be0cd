"""Render emails by name (DESIGN.md convention 10).

One mail is two templates, ``templates/<name>.txt`` and ``templates/<name>.html`` (which
extends the shared ``_layout/frame.html``), for every locale: their sentences come from
the flows' message catalogue (``flows/data/messages/<locale>.json``, keys ``mail.*``)
through ``t(key, **values)``, which fills ``{name}`` placeholders. In HTML both the
sentence and the values are escaped (a value built as markup in the template, such as a
quoted link label, stays markup); text is not escaped. The text template sets
``subject``. Everything renders with StrictUndefined, and an unknown key or a missing
placeholder fails, so a missing value fails the test that renders it instead of
sending "Dear ,".
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, NamedTuple

import jinja2
from markupsafe import Markup, escape

from idp_extension.flows.texts import MESSAGES
from idp_extension.i18n import DEFAULT_LOCALE, normalize_locale
from idp_extension.mail.message import OutgoingMail

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
_NAME = re.compile(r"^[a-z0-9_]+$")


class RenderedEmail(NamedTuple):
    subject: str
    text: str
    html: str


def columns(rows: Iterable[tuple[str, Any]]) -> str:
    """``label : value`` lines for a text mail, the colons aligned."""
    rows = [(str(label), value) for label, value in rows]
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label.ljust(width)} : {value}" for label, value in rows)


@lru_cache(maxsize=8)
def _environments(templates_dir: Path) -> tuple[jinja2.Environment, jinja2.Environment]:
    loader = jinja2.FileSystemLoader(str(templates_dir))
    common = dict(loader=loader, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    text_env = jinja2.Environment(autoescape=False, **common)
    text_env.globals["columns"] = columns
    return text_env, jinja2.Environment(autoescape=True, **common)


def sentences(locale: str, *, html: bool) -> Callable[..., str]:
    """``t(key, **values)``: the catalogue's sentence ``key`` in ``locale``, filled in."""
    catalogue = MESSAGES[locale]

    def t(key: str, **values: Any) -> str:
        sentence = catalogue[key]
        if html:
            return escape(sentence).format(**values)  # Markup.format escapes the values
        return sentence.format(**values)

    return t


def render_email(
    name: str, locale: str, *, templates_dir: Path = TEMPLATES_DIR, **context: Any
) -> RenderedEmail:
    """Return the subject, text and HTML of email ``name`` in ``locale``."""
    if not _NAME.match(name):
        raise ValueError(f"bad email template name: {name!r}")
    locale = normalize_locale(locale) or DEFAULT_LOCALE
    text_env, html_env = _environments(Path(templates_dir))
    text = text_env.get_template(f"{name}.txt").make_module(
        {**context, "locale": locale, "t": sentences(locale, html=False)})
    html = html_env.get_template(f"{name}.html").render(
        {**context, "locale": locale, "t": sentences(locale, html=True)})
    return RenderedEmail(
        # A subject is one header line: fold whatever the template produced into one.
        subject=" ".join(str(text.subject).split()),
        text=str(text),
        html=html,
    )


def compose_email(
    name: str,
    locale: str,
    *,
    to: str,
    headers: Mapping[str, str] | None = None,
    templates_dir: Path = TEMPLATES_DIR,
    about: str = "",
    **context: Any,
) -> OutgoingMail:
    """Render email ``name`` and address it to ``to`` (``about``: the user ID, for audit)."""
    subject, text, html = render_email(name, locale, templates_dir=templates_dir, **context)
    return OutgoingMail(to=to, subject=subject, text=text, html=html, headers=headers or {},
                        template=name, about=about)
