"""Tenants: one per state, read from ``realm-templates/`` values files.

A state's values are ``defaults.toml`` deep-merged with ``values/<state>.toml``. The
same merged values feed the realm template (provisioning) and the ``Tenant`` records the
sidecar serves, so a state is configured in exactly one place.
"""

from __future__ import annotations

import enum
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from idp_extension.addresses import address_domain
from idp_extension.i18n import Bilingual

DEFAULTS_FILE = "defaults.toml"
VALUES_DIR = "values"


# The client id of Portal iSPEKS in every realm (the demo portal plays it in development).
PORTAL_CLIENT_ID = "portal-ispeks"


class ValuesError(ValueError):
    """A values file is missing, unreadable or lacks a required key."""


class Onboarding(str, enum.Enum):
    ACTIVATION_LINK = "activation-link"
    TEMPORARY_PASSWORD = "temporary-password"


@dataclass(frozen=True)
class SecurityQuestion(Bilingual):
    id: str
    ms: str
    en: str


@dataclass(frozen=True)
class HelpdeskContact:
    name: str
    phone: str
    email: str


@dataclass(frozen=True)
class Tenant:
    """What the sidecar needs to know about one state's realm."""

    realm: str
    state_name: str
    display_name: str
    product: str
    version_label: str
    onboarding: Onboarding
    uses_secret_phrase: bool
    email_domains: tuple[str, ...]
    helpdesk: tuple[HelpdeskContact, ...]
    security_questions: tuple[SecurityQuestion, ...]
    activation_link_minutes: int
    temporary_password_minutes: int
    recovery_may_unlock: bool
    values_file: Path
    # Where "Log Masuk" leads once an account is active: the root_url of the state's
    # Portal iSPEKS client (``portal_clients`` in the values file), if it names one.
    portal_root: str | None = None

    def allows_email(self, address: str) -> bool:
        """True if ``address`` is one plain addr-spec in a state's domain (or a subdomain).

        "boss,x@pahang.gov.my" or "evil@example.com, x@pahang.gov.my" end in an allowed
        domain and are still refused: they are not one address (addresses.py).
        """
        domain = address_domain(address.strip())
        return bool(domain) and any(
            domain == allowed or domain.endswith("." + allowed) for allowed in self.email_domains
        )

    def question(self, question_id: str) -> SecurityQuestion | None:
        return next((q for q in self.security_questions if q.id == question_id), None)


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ValuesError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValuesError(f"{path}: {exc}") from None


def values_path(templates_dir: Path, state: str) -> Path:
    return Path(templates_dir) / VALUES_DIR / f"{state}.toml"


def list_states(templates_dir: Path) -> list[str]:
    """Every state that has a values file, sorted; ValuesError if there is none.

    No states means a misconfigured install (the templates are not where the settings
    say), never a valid setup: a sidecar serving nothing must not start quietly.
    """
    folder = Path(templates_dir) / VALUES_DIR
    states = sorted(p.stem for p in folder.glob("*.toml"))
    if not states:
        raise ValuesError(
            f"{folder}: no state values files (<state>.toml) found; set "
            "ISPEKS_REALM_TEMPLATES_DIR to the folder holding realm.json.j2, "
            "defaults.toml and values/"
        )
    return states


def load_values(templates_dir: Path, state: str) -> dict[str, Any]:
    """Return the merged values of one state (defaults, then the state's own file)."""
    path = values_path(templates_dir, state)
    defaults = _read_toml(Path(templates_dir) / DEFAULTS_FILE)
    values = _deep_merge(defaults, _read_toml(path))
    values["_values_file"] = str(path)
    if values.get("realm") != state:
        raise ValuesError(f"{path}: key 'realm' must be {state!r}, got {values.get('realm')!r}")
    return values


def _require(values: Mapping[str, Any], key: str) -> Any:
    if key not in values:
        raise ValuesError(f"{values['_values_file']}: missing required key {key!r}")
    return values[key]


def _records(values: Mapping[str, Any], key: str, kind: type) -> tuple:
    """Build one record per table of ``key``; a misspelt field names the file."""
    try:
        return tuple(kind(**item) for item in _require(values, key))
    except TypeError as exc:
        raise ValuesError(f"{values['_values_file']}: bad entry in {key!r}: {exc}") from None


def tenant_from_values(values: Mapping[str, Any]) -> Tenant:
    try:
        onboarding = Onboarding(_require(values, "onboarding"))
    except ValueError:
        raise ValuesError(
            f"{values['_values_file']}: key 'onboarding' must be one of "
            f"{[o.value for o in Onboarding]}, got {values['onboarding']!r}"
        ) from None
    return Tenant(
        realm=_require(values, "realm"),
        state_name=_require(values, "state_name"),
        display_name=_require(values, "display_name"),
        product=_require(values, "product"),
        version_label=_require(values, "version_label"),
        onboarding=onboarding,
        uses_secret_phrase=bool(_require(values, "secret_phrase_and_image")),
        email_domains=tuple(d.lower() for d in _require(values, "email_domains")),
        helpdesk=_records(values, "helpdesk", HelpdeskContact),
        security_questions=_records(values, "security_questions", SecurityQuestion),
        activation_link_minutes=int(_require(values, "activation_link_minutes")),
        temporary_password_minutes=int(_require(values, "temporary_password_minutes")),
        recovery_may_unlock=bool(_require(values, "recovery_may_unlock")),
        values_file=Path(values["_values_file"]),
        portal_root=_portal_root(values),
    )


def _portal_root(values: Mapping[str, Any]) -> str | None:
    """The root_url of the portal client ``portal-ispeks``, else of the first portal client."""
    clients = values.get("portal_clients") or []
    chosen = next((c for c in clients if c.get("client_id") == PORTAL_CLIENT_ID),
                  clients[0] if clients else None)
    return chosen.get("root_url") if chosen else None


def load_tenant(templates_dir: Path, state: str) -> Tenant:
    return tenant_from_values(load_values(templates_dir, state))


def load_tenants(templates_dir: Path) -> dict[str, Tenant]:
    """Every configured state's tenant, keyed by realm name."""
    return {state: load_tenant(templates_dir, state) for state in list_states(templates_dir)}
