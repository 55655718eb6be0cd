"""Render a state's realm representation from the shared Jinja2 template.

The context is the state's merged values (``tenants.load_values``: defaults.toml, then
values/<state>.toml) plus ``runtime`` (from Settings: SMTP, sidecar URL, extra redirect
URIs) and ``user_profile`` (``realms.profile``). Rendering is strict: an
undefined value, an unknown (misspelt) key in a values file, or output that is not JSON
raises ``RenderError`` naming the key and the values file.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import tomllib
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

import jinja2
import jinja2.meta

from idp_extension.realms.profile import user_profile_config
from idp_extension.settings import Settings
from idp_extension.tasks import Catalogue, CatalogueError, role_representations
from idp_extension.tasks import client_uuid as task_client_uuid
from idp_extension.tenants import (
    PORTAL_CLIENT_ID,
    DEFAULTS_FILE,
    ValuesError,
    load_values,
    tenant_from_values,
    values_path,
)

TEMPLATE_NAME = "realm.json.j2"
SECRET_MASK = "**********"  # what Keycloak itself shows for a stored secret
CHECKSUM_ATTRIBUTE = "ispeks.templateChecksum"
# Context names the template gets from code, not from values files.
RESERVED_NAMES = frozenset({"runtime", "user_profile", "task_roles", "task_client_uuid"})
# Where Keycloak may send a browser back to the sidecar, under <public URL>/<realm>/
# (web/first_login.py, web/settings.py, web/portal.py; a unit test checks they agree).
SIDECAR_CALLBACK_PATHS = ("first-login/callback", "settings/callback", "pentadbiran/callback")
SIDECAR_POST_LOGOUT_PATHS = ("settings/signed-out", "pentadbiran/signed-out")
# The demo portal (settings.demo_portal) signs in with this portal client.
DEMO_PORTAL_CLIENT_ID = PORTAL_CLIENT_ID
DEMO_PORTAL_CALLBACK_PATH = "portal/callback"
DEMO_PORTAL_POST_LOGOUT_PATH = "portal/"
# Plain http is only for a browser talking to its own machine (RFC 8252, OAuth BCP).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class RenderError(ValuesError):
    """The realm template could not be rendered from a state's values."""


def _fail_if_undefined(value: Any) -> None:
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()


def _json_default(value: Any) -> Any:
    _fail_if_undefined(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def tojson(value: Any) -> str:
    """Write ``value`` as a JSON literal (Jinja filter; strings, numbers, lists, tables)."""
    _fail_if_undefined(value)
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def kcstr(value: Any) -> str:
    """Write ``value`` as the string Keycloak stores (Jinja filter; attributes, SMTP)."""
    _fail_if_undefined(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                          default=_json_default)
    return str(value)


def environment(templates_dir: Path) -> jinja2.Environment:
    """Return the strict Jinja2 environment for ``templates_dir``."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # JSON, not HTML: every value goes through ``tojson``
        keep_trailing_newline=True,
    )
    env.filters["tojson"] = tojson
    env.filters["kcstr"] = kcstr
    return env


def runtime_context(settings: Settings, realm: str) -> dict[str, Any]:
    """Return the ``runtime`` part of the context: what Settings decide, not values.

    No client secret: each realm's are random, kept in the credentials directory and
    set by ``realms.apply`` (``idp_extension.credentials``).
    """
    base = f"{settings.sidecar_public_url.rstrip('/')}/{realm}"
    demo_portal = None
    if settings.demo_portal:
        demo_portal = {"client_id": DEMO_PORTAL_CLIENT_ID,
                       "redirect_uris": [f"{base}/{DEMO_PORTAL_CALLBACK_PATH}"],
                       "post_logout_redirect_uris": [f"{base}/{DEMO_PORTAL_POST_LOGOUT_PATH}"]}
    return {
        "sidecar_public_url": settings.sidecar_public_url.rstrip("/"),
        "sidecar_redirect_uris": [f"{base}/{path}" for path in SIDECAR_CALLBACK_PATHS],
        "sidecar_post_logout_redirect_uris": [f"{base}/{path}"
                                              for path in SIDECAR_POST_LOGOUT_PATHS],
        "demo_portal": demo_portal,
        "extra_redirect_uris": list(settings.extra_redirect_uris),
        "smtp": {
            "host": settings.smtp_host,
            "port": settings.smtp_port,
            "sender": settings.smtp_from,
            "sender_name": settings.smtp_from_name,
            "starttls": settings.smtp_starttls,
            "user": settings.smtp_user,
            "password": settings.smtp_password,
        },
    }


def redirect_uri_problem(uri: Any) -> str | None:
    """Why ``uri`` cannot be a registered redirect URI, or None if it is an exact URL."""
    if not isinstance(uri, str) or not uri:
        return "not a URL"
    if "*" in uri:
        return ("a wildcard lets Keycloak send login codes to any page it matches; "
                "list each exact callback URL instead")
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "not an absolute https URL"
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        return "plain http is allowed on loopback only (127.0.0.1, localhost); use https"
    if parts.fragment or uri.endswith("#"):
        return "a redirect URI may not have a #fragment"
    if any(ch.isspace() for ch in uri):
        return "a URL may not contain spaces"
    return None


def check_redirect_uris(values: Mapping[str, Any], values_file: Any,
                        settings: Settings) -> None:
    """Refuse wildcard or inexact redirect URIs, naming the file (or variable) and key."""
    problems = []
    for index, client in enumerate(values.get("portal_clients") or []):
        if not isinstance(client, Mapping):
            continue
        for key in ("redirect_uris", "post_logout_redirect_uris"):
            uris = client.get(key, [])
            if key == "redirect_uris" and not uris:
                problems.append(f"portal_clients[{index}].{key}: at least one exact URL is needed")
            if not isinstance(uris, list):
                problems.append(f"portal_clients[{index}].{key}: must be a list of URLs")
                continue
            for n, uri in enumerate(uris):
                why = redirect_uri_problem(uri)
                if why:
                    problems.append(f"portal_clients[{index}].{key}[{n}] = {uri!r}: {why}")
    if problems:
        raise RenderError(f"{values_file}: " + "; ".join(problems))
    for uri in settings.extra_redirect_uris:
        why = redirect_uri_problem(uri)
        if why:
            raise RenderError(f"ISPEKS_EXTRA_REDIRECT_URIS: {uri!r}: {why}")


def _missing_key(exc: jinja2.UndefinedError) -> str:
    match = re.search(r"has no attribute '([^']+)'|'([^']+)' is undefined", str(exc))
    return next(g for g in match.groups() if g) if match else str(exc)


def _template_line(exc: BaseException) -> int | None:
    # Jinja rewrites the traceback so that template frames carry the template's lines.
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(TEMPLATE_NAME):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _read_raw(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def loop_item_keys(ast: jinja2.nodes.Template) -> dict[str, set[str]]:
    """Map each ``{% for item in name %}`` list to the attributes read from its items."""
    found: dict[str, set[str]] = {}
    for loop in ast.find_all(jinja2.nodes.For):
        if isinstance(loop.iter, jinja2.nodes.Name) and isinstance(loop.target, jinja2.nodes.Name):
            item = loop.target.name
            keys = found.setdefault(loop.iter.name, set())
            keys.update(node.attr for node in loop.find_all(jinja2.nodes.Getattr)
                        if isinstance(node.node, jinja2.nodes.Name) and node.node.name == item)
            keys.update(node.arg.value for node in loop.find_all(jinja2.nodes.Getitem)
                        if isinstance(node.node, jinja2.nodes.Name) and node.node.name == item
                        and isinstance(node.arg, jinja2.nodes.Const))
    return found


def unknown_keys(templates_dir: Path, state: str, referenced: set[str],
                 item_keys: Mapping[str, set[str]]) -> list[str]:
    """Keys in the state's values file that neither the template nor defaults know."""
    defaults = _read_raw(Path(templates_dir) / DEFAULTS_FILE)
    own = _read_raw(values_path(templates_dir, state))
    unknown = []
    for key, value in own.items():
        if key not in referenced and key not in defaults:
            unknown.append(key)
        elif isinstance(value, dict) and isinstance(defaults.get(key), dict):
            unknown += [f"{key}.{sub}" for sub in value if sub not in defaults[key]]
        elif isinstance(value, list) and key in item_keys:
            # Catches the TOML trap too: a top-level key written after a [[table]]
            # silently lands inside that table's last item.
            unknown += [f"{key}[{i}].{sub}" for i, item in enumerate(value)
                        if isinstance(item, dict) for sub in item if sub not in item_keys[key]]
    return unknown


def checksum(realm: Mapping[str, Any], key: str) -> str:
    """Return a keyed checksum of a rendered realm (without its checksum attribute).

    Keyed (HMAC) because the realm includes secrets and the checksum is readable by
    realm administrators: a plain hash of known text plus a password can be brute-forced.
    """
    body = copy.deepcopy(dict(realm))
    body.get("attributes", {}).pop(CHECKSUM_ATTRIBUTE, None)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hmac.new(key.encode(), canonical.encode(), hashlib.sha256).hexdigest()
    return "hmac-sha256:" + digest[:32]  # 128 bits tell versions apart


def render_realm(settings: Settings, state: str, templates_dir: Path | None = None) -> dict:
    """Render one state's realm representation (a dict ready for the admin API)."""
    templates_dir = Path(templates_dir or settings.realm_templates_dir)
    values = load_values(templates_dir, state)
    values_file = values["_values_file"]
    clash = RESERVED_NAMES & set(values)
    if clash:
        raise RenderError(f"{values_file}: reserved key(s) {sorted(clash)} may not be set")
    check_redirect_uris(values, values_file, settings)
    env = environment(templates_dir)
    try:
        ast = env.parse(env.loader.get_source(env, TEMPLATE_NAME)[0])
        template = env.get_template(TEMPLATE_NAME)
    except jinja2.TemplateNotFound:
        raise RenderError(f"{templates_dir / TEMPLATE_NAME}: template not found") from None
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"{templates_dir / TEMPLATE_NAME}:{exc.lineno}: {exc.message}") from None
    unknown = unknown_keys(templates_dir, state, jinja2.meta.find_undeclared_variables(ast),
                           loop_item_keys(ast))
    try:
        task_roles = role_representations(Catalogue.from_values(values))
    except CatalogueError as exc:
        raise RenderError(str(exc)) from None
    context = {**values, "runtime": runtime_context(settings, state),
               "user_profile": user_profile_config(), "task_roles": task_roles,
               "task_client_uuid": task_client_uuid(state)}
    try:
        text = template.render(context)
    except jinja2.UndefinedError as exc:
        line = _template_line(exc)
        where = f" (used at {TEMPLATE_NAME} line {line})" if line else ""
        hint = f"; unknown key(s) in that file, misspelt?: {', '.join(unknown)}" if unknown else ""
        raise RenderError(
            f"{values_file}: missing value {_missing_key(exc)!r}{where}{hint}"
        ) from None
    if unknown:
        raise RenderError(
            f"{values_file}: unknown key(s) {', '.join(repr(k) for k in unknown)} "
            f"(misspelt, or a top-level key placed after a [[table]]? "
            f"the template and {DEFAULTS_FILE} do not use them)"
        )
    try:
        tenant_from_values(values)  # the sidecar's own checks too (onboarding, ...)
    except TypeError as exc:  # a misspelt key inside [[helpdesk]] or [[security_questions]]
        raise RenderError(f"{values_file}: {exc}") from None
    try:
        realm = json.loads(text)
    except json.JSONDecodeError as exc:
        excerpt = "\n".join(text.splitlines()[max(exc.lineno - 3, 0):exc.lineno + 2])
        raise RenderError(
            f"{values_file}: {TEMPLATE_NAME} rendered invalid JSON at line {exc.lineno}: "
            f"{exc.msg}\n{excerpt}"
        ) from None
    # Keyed with the master credential, which every apply has and a realm admin does not.
    realm.setdefault("attributes", {})[CHECKSUM_ATTRIBUTE] = checksum(
        realm, settings.admin_client_secret
    )
    return realm


def mask_secrets(realm: Mapping[str, Any]) -> dict:
    """Return a copy of a rendered realm with client secrets and SMTP password masked."""
    masked = copy.deepcopy(dict(realm))
    for client in masked.get("clients", []):
        if client.get("secret"):
            client["secret"] = SECRET_MASK
    smtp = masked.get("smtpServer") or {}
    if smtp.get("password"):
        smtp["password"] = SECRET_MASK
    return masked
