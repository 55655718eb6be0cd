"""Apply a rendered realm against Keycloak, idempotently: a thin orchestrator.

``realms/plan.py`` decides (pure: diff lines and the writes they need),
``gateway/realm_admin.py`` reads Keycloak's snapshot and performs the writes, and the
credential store keeps the client secrets. Users are never touched and partial import
is never used (see ``realms/plan.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from idp_extension.credentials import CredentialStore
from idp_extension.gateway.realm_admin import RealmAdmin
from idp_extension.realms.plan import (  # noqa: F401  (Current, plan_create: the CLI's and tests' names)
    Change, ClientSecrets, Current, Plan, plan_create, plan_update,
)
from idp_extension.realms.render import render_realm
from idp_extension.settings import Settings
from idp_extension.tenants import list_states


@dataclass(frozen=True)
class ApplyResult:
    """The outcome of applying one state's template."""

    realm: str
    created: bool
    changes: tuple[Change, ...]
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def summary(self) -> str:
        would = "would be " if self.dry_run else ""
        if self.created:
            return f"{would}created"
        if not self.changes:
            return "no changes"
        count = len(self.changes)
        return f"{would}updated: {count} change{'' if count == 1 else 's'}"

    def lines(self) -> list[str]:
        return [c.line() for c in self.changes]


def apply_realm(settings: Settings, state: str, dry_run: bool = False,
                templates_dir: Path | None = None) -> ApplyResult:
    """Render one state's realm and make Keycloak match it (or only say what would change)."""
    return apply_desired(settings, render_realm(settings, state, templates_dir), dry_run)


def apply_desired(settings: Settings, desired: Mapping, dry_run: bool = False) -> ApplyResult:
    """Apply an already rendered realm (see ``apply_realm``)."""
    admin = RealmAdmin(settings)
    store = CredentialStore.from_settings(settings)
    realm = desired["realm"]
    secrets = ClientSecrets.load(store, desired)
    if not admin.realm_exists(realm):
        plan = plan_create(secrets.into(desired))
        if dry_run:
            return ApplyResult(realm, True, tuple(plan.changes), dry_run=True)
        # The files first: a secret Keycloak holds is never one nobody kept.
        secrets.save(store)
        admin.run(plan)
        # Whatever the import did not honour is fixed at once, and shown.
        current = admin.snapshot(desired)
        follow_up = plan_update(secrets.into(desired, current), current)
        admin.run(follow_up)
        return ApplyResult(realm, True, tuple(plan.changes + follow_up.changes))
    current = admin.snapshot(desired)
    plan = plan_update(secrets.into(desired, current), current)
    changes = secrets.changes() + plan.changes
    if not dry_run:
        secrets.save(store)
        admin.run(plan)
    return ApplyResult(realm, False, tuple(changes), dry_run=dry_run)


def apply_states(settings: Settings, states: Iterable[str] | None = None,
                 dry_run: bool = False, templates_dir: Path | None = None) -> list[ApplyResult]:
    """Apply several states (default: every values file); render all before any write."""
    templates_dir = Path(templates_dir or settings.realm_templates_dir)
    states = list(states) if states is not None else list_states(templates_dir)
    rendered = [render_realm(settings, state, templates_dir) for state in states]
    return [apply_desired(settings, desired, dry_run) for desired in rendered]
