"""Render emails by name (DESIGN.md convention 10).

Layout: ``templates/<name>/<locale>/{subject.txt,body.txt,body.html}``. HTML bodies
usually extend the shared ``_layout/<locale>/base.html`` (passed in as ``layout``).
Text renders without escaping, HTML with autoescape; both with StrictUndefined so a
missing value fails the test that renders it instead of sending "Dear ,".
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import jinja2

from idp_extension.i18n import DEFAULT_LOCALE, normalize_locale
from idp_extension.mail.message import OutgoingMail

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
_NAME = re.compile(r"^[a-z0-9_]+$")


class RenderedEmail(NamedTuple):
    subject: str
    text: str
    html: str


@lru_cache(maxsize=8)
def _environments(templates_dir: Path) -> tuple[jinja2.Environment, jinja2.Environment]:
    loader = jinja2.FileSystemLoader(str(templates_dir))
    common = dict(loader=loader, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return jinja2.Environment(autoescape=False, **common), jinja2.Environment(
        autoescape=True, **common
    )


def render_email(
    name: str, locale: str, *, templates_dir: Path = TEMPLATES_DIR, **context: Any
) -> RenderedEmail:
    """Return the subject, text and HTML of email ``name`` in ``locale``."""
    if not _NAME.match(name):
        raise ValueError(f"bad email template name: {name!r}")
    locale = normalize_locale(locale) or DEFAULT_LOCALE
    text_env, html_env = _environments(Path(templates_dir))
    values = {**context, "locale": locale, "layout": f"_layout/{locale}/base.html"}
    prefix = f"{name}/{locale}"
    subject = text_env.get_template(f"{prefix}/subject.txt").render(values)
    return RenderedEmail(
        # A subject is one header line: fold whatever the template produced into one.
        subject=" ".join(subject.split()),
        text=text_env.get_template(f"{prefix}/body.txt").render(values),
        html=html_env.get_template(f"{prefix}/body.html").render(values),
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
