"""Frozen settings, read once from the environment at start-up.

This is the only module that reads ``os.environ`` (DESIGN.md convention 2). Everything
else receives a ``Settings`` value. Every field has an embedded default so that the dev
stack runs with no configuration at all; production sets the ``ISPEKS_*`` variables
listed in README.md.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# A built wheel carries realm-templates/ and themes/ here (setup.py copies them in); a
# source checkout has none and uses the top-level folders of the tree.
PACKAGED_DATA = Path(__file__).resolve().parent / "_data"


def data_dir(name: str) -> Path:
    """Return the installed copy of ``realm-templates`` or ``themes``, else the checkout's."""
    packaged = PACKAGED_DATA / name
    return packaged if packaged.is_dir() else PROJECT_ROOT / name


def _default_cache_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ispeks-idp"


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _count(value: str) -> int:
    """A whole number, 0 or more (ports, proxy hops)."""
    text = value.strip()
    if not text.isdigit():
        raise ValueError("expected a whole number, 0 or more")
    return int(text)


def _storage_uri(value: str) -> str:
    """memory:// or a Redis URI (``shared_state.storage_scheme``)."""
    from idp_extension.shared_state import storage_scheme

    storage_scheme(value)
    return value.strip()


class SettingsError(ValueError):
    """An ``ISPEKS_*`` variable holds a value that cannot be used; the message names it."""


@dataclass(frozen=True)
class Settings:
    """Everything the CLI, the sidecar and the Keycloak runner are configured with."""

    # Keycloak as the sidecar and the CLI reach it.
    keycloak_url: str = "http://127.0.0.1:8080"
    # Where the admin REST API is reached (the CLI's provisioning, the sidecar's service
    # accounts). Empty: ``keycloak_url``. Production closes /admin on the public proxy
    # and points this at an internal listener (deploy/nginx/ispeks.conf.template).
    keycloak_admin_url: str = ""
    # The bootstrap admin service account (master realm). Used only to create states and
    # change realm settings (``realms apply``/``rotate-secret``), never by the sidecar
    # nor by the ``users`` commands.
    admin_client_id: str = "ispeks-bootstrap"
    admin_client_secret: str = ""
    # Each realm's client secrets, one file per realm and client
    # (``<dir>/<realm>/ispeks-sidecar.secret``, ``.../ispeks-state-it.secret``), random,
    # written by ``realms apply`` (see ``idp_extension.credentials``). None: the dev
    # stack's (``<cache>/dev/credentials``), so the CLI finds a running dev stack's.
    credentials_dir: Path | None = None
    # Where the sidecar is reached by browsers (links in emails, redirect URIs).
    sidecar_public_url: str = "http://127.0.0.1:5000"
    # Flask signing key (CSRF, sessions, signed tokens).
    secret_key: str = "dev-only-secret-key-change-me"
    # SMTP used by Keycloak's realm settings and by the sidecar.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_from: str = "noreply@ispeks.gov.my"
    smtp_from_name: str = "Sistem iSPEKS"
    smtp_starttls: bool = False
    smtp_user: str = ""
    smtp_password: str = ""
    # Rate-limit counters and one-time claims (``shared_state.py``): memory:// (one
    # process) or redis://host:port/db in production, shared by every worker and instance.
    ratelimit_storage_uri: str = "memory://"
    # Declares that exactly one sidecar process (one gunicorn worker) ever runs, so that
    # memory:// is allowed with production-looking settings.
    single_instance: bool = False
    # Reverse proxies in front of the sidecar that append X-Forwarded-For/-Proto. With
    # 0 those headers are ignored (anyone can send them); behind a proxy that stays 0,
    # every browser has the proxy's address and shares one rate-limit counter.
    trusted_proxy_hops: int = 0
    audit_log_path: Path | None = None
    # The activation campaign report serves a summary kept in the shared state and scans
    # Keycloak again when it is older than this many seconds (reporting/service.py).
    report_max_age_seconds: int = 600
    realm_templates_dir: Path = field(default_factory=lambda: data_dir("realm-templates"))
    themes_dir: Path = field(default_factory=lambda: data_dir("themes"))
    cache_dir: Path = field(default_factory=lambda: _default_cache_dir(os.environ))
    java_home: str = ""
    # Serve a demo portal (a Portal iSPEKS stand-in) under /<realm>/portal/: dev and tests.
    demo_portal: bool = False
    # Extra redirect URIs for portal clients (development and tests only).
    extra_redirect_uris: tuple[str, ...] = ()
    # prometheus_client's multiprocess directory (gunicorn with several workers). It is
    # prometheus_client itself that reads PROMETHEUS_MULTIPROC_DIR; the sidecar only
    # needs to know whether to add up the workers' files when /metrics is scraped.
    metrics_multiproc_dir: Path | None = None

    @property
    def url_prefix(self) -> str:
        """The path the sidecar is mounted at behind the proxy ("/idp"), or "" at the root.

        Taken from ``sidecar_public_url``, which already says where browsers reach it.
        """
        return urlsplit(self.sidecar_public_url).path.rstrip("/")

    @property
    def credentials_path(self) -> Path:
        """Where the per-realm client secrets are (``credentials_dir`` or the dev stack's)."""
        return self.credentials_dir or self.cache_dir / "dev" / "credentials"

    @property
    def strict(self) -> bool:
        """True where secrets must be strong: served over https, or a non-loopback Keycloak."""
        return urlsplit(self.sidecar_public_url).scheme == "https" or not is_loopback_url(
            self.keycloak_url)

    @property
    def admin_api_url(self) -> str:
        """The base URL for admin REST calls: ``keycloak_admin_url`` or ``keycloak_url``."""
        return self.keycloak_admin_url or self.keycloak_url

    def with_overrides(self, **changes) -> "Settings":
        return replace(self, **changes)

    def as_environment(self) -> dict[str, str]:
        """The ``ISPEKS_*`` variables that ``load_settings`` turns back into these settings.

        Used to hand the same settings to a child process (gunicorn).
        """
        env = {}
        for name, (attr, _) in _ENV_FIELDS.items():
            value = getattr(self, attr)
            if value is None or value == "":
                continue
            env[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
        if self.extra_redirect_uris:
            env["ISPEKS_EXTRA_REDIRECT_URIS"] = ",".join(self.extra_redirect_uris)
        return env


_ENV_FIELDS: dict[str, tuple[str, type]] = {
    "ISPEKS_KEYCLOAK_URL": ("keycloak_url", str),
    "ISPEKS_KEYCLOAK_ADMIN_URL": ("keycloak_admin_url", str),
    "ISPEKS_ADMIN_CLIENT_ID": ("admin_client_id", str),
    "ISPEKS_ADMIN_CLIENT_SECRET": ("admin_client_secret", str),
    "ISPEKS_CREDENTIALS_DIR": ("credentials_dir", Path),
    "ISPEKS_SIDECAR_PUBLIC_URL": ("sidecar_public_url", str),
    "ISPEKS_SECRET_KEY": ("secret_key", str),
    "ISPEKS_SMTP_HOST": ("smtp_host", str),
    "ISPEKS_SMTP_PORT": ("smtp_port", _count),
    "ISPEKS_SMTP_FROM": ("smtp_from", str),
    "ISPEKS_SMTP_FROM_NAME": ("smtp_from_name", str),
    "ISPEKS_SMTP_STARTTLS": ("smtp_starttls", _bool),
    "ISPEKS_SMTP_USER": ("smtp_user", str),
    "ISPEKS_SMTP_PASSWORD": ("smtp_password", str),
    "ISPEKS_RATELIMIT_STORAGE_URI": ("ratelimit_storage_uri", _storage_uri),
    "ISPEKS_SINGLE_INSTANCE": ("single_instance", _bool),
    "ISPEKS_TRUSTED_PROXY_HOPS": ("trusted_proxy_hops", _count),
    "ISPEKS_AUDIT_LOG": ("audit_log_path", Path),
    "ISPEKS_REPORT_MAX_AGE_SECONDS": ("report_max_age_seconds", _count),
    "ISPEKS_REALM_TEMPLATES_DIR": ("realm_templates_dir", Path),
    "ISPEKS_THEMES_DIR": ("themes_dir", Path),
    "ISPEKS_CACHE_DIR": ("cache_dir", Path),
    "ISPEKS_JAVA_HOME": ("java_home", str),
    "ISPEKS_DEMO_PORTAL": ("demo_portal", _bool),
    "PROMETHEUS_MULTIPROC_DIR": ("metrics_multiproc_dir", Path),
}


# Variables of earlier versions whose silent disappearance would mislead.
_REMOVED = {
    "ISPEKS_CLIENT_SECRET_SEED": "each state's client secrets are random files in "
                                 "ISPEKS_CREDENTIALS_DIR, written by `ispeks-idp realms "
                                 "apply`; remove the variable",
}

# Variables that hold secrets: each may also come from the file named by ``<NAME>_FILE``
# or from a systemd credential called ``<NAME>`` (``$CREDENTIALS_DIRECTORY/<NAME>``,
# ``LoadCredential=``), so that no secret need sit in an environment file.
SECRET_VARIABLES = ("ISPEKS_SECRET_KEY", "ISPEKS_ADMIN_CLIENT_SECRET", "ISPEKS_SMTP_PASSWORD")
# A secret must be at least this long (UTF-8 bytes) where ``Settings.strict``.
MIN_SECRET_BYTES = 32
# Words of placeholders and examples: a value containing one was copied, not generated.
PLACEHOLDER_WORDS = ("change-me", "changeme", "change_me", "dev-only", "example",
                     "placeholder", "replace-me", "your-secret")
MAKE_A_SECRET = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


def is_loopback_url(url: str) -> bool:
    """True if ``url``'s host is this machine (localhost, 127.0.0.0/8, ::1)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secret_problem(value: str) -> str | None:
    """Why ``value`` is not a usable secret (empty, a placeholder, short), or None."""
    if not value:
        return "is not set"
    lowered = value.lower()
    for word in PLACEHOLDER_WORDS:
        if word in lowered:
            return f"is a placeholder (contains {word!r})"
    size = len(value.encode())
    if size < MIN_SECRET_BYTES:
        return f"is too short ({size} bytes, {MIN_SECRET_BYTES} or more needed)"
    return None


def require_strong_secret(name: str, value: str, fix: str = "") -> None:
    """Raise ``SettingsError`` naming ``name`` and how to make a good value, if weak."""
    problem = secret_problem(value)
    if problem:
        how = fix or f"set a random value, e.g. the output of: {MAKE_A_SECRET}"
        raise SettingsError(f"{name} {problem}: {how}")


def require_strong_settings(settings: Settings, *fields: str) -> None:
    """Refuse weak values of the named ``Settings`` fields where ``settings.strict``."""
    if not settings.strict:
        return
    names = {attr: name for name, (attr, _) in _ENV_FIELDS.items()}
    for attr in fields:
        name = names[attr]
        require_strong_secret(
            name, getattr(settings, attr),
            f"set {name} (or {name}_FILE) to a random value, e.g. the output of: {MAKE_A_SECRET}")


def _secret_from_files(env: Mapping[str, str], name: str) -> str | None:
    """The value of secret variable ``name`` from ``name`` itself, its _FILE or a credential."""
    sources = []
    if env.get(name):
        sources.append((name, None))
    if env.get(f"{name}_FILE"):
        sources.append((f"{name}_FILE", Path(env[f"{name}_FILE"])))
    credentials = env.get("CREDENTIALS_DIRECTORY")
    if credentials and (Path(credentials) / name).is_file():
        sources.append((f"the systemd credential {name}", Path(credentials) / name))
    if len(sources) > 1:
        raise SettingsError(f"{' and '.join(s for s, _ in sources)} are both set: "
                            f"give the secret one way only")
    if not sources:
        return None
    source, path = sources[0]
    if path is None:
        return env[name]
    try:
        value = path.read_text(encoding="utf-8").strip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{source}: cannot read {path} ({exc.__class__.__name__})") from None
    if not value:
        raise SettingsError(f"{source}: {path} is empty")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    for gone in _REMOVED:
        if env.get(gone) or env.get(f"{gone}_FILE"):
            raise SettingsError(f"{gone} is no longer used: {_REMOVED[gone]}")
    values: dict[str, object] = {"cache_dir": _default_cache_dir(env)}
    for name, (attr, convert) in _ENV_FIELDS.items():
        raw = _secret_from_files(env, name) if name in SECRET_VARIABLES else env.get(name)
        if raw:
            try:
                values[attr] = convert(raw)
            except ValueError as exc:
                raise SettingsError(f"{name}={raw!r}: {exc}") from None
    if env.get("ISPEKS_EXTRA_REDIRECT_URIS"):
        values["extra_redirect_uris"] = tuple(
            uri.strip() for uri in env["ISPEKS_EXTRA_REDIRECT_URIS"].split(",") if uri.strip()
        )
    return Settings(**values)
