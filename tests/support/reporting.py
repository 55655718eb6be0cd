"""Users seeded for the activation report's tests: one per (department, kind, day), in
departments named uniquely for the test, so other tests' users in the same realm never
change the numbers a test asserts."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime, time as day_time, timedelta, timezone

from idp_extension.demo_users import synthetic_people
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.users import ACTIVATED_AT, ACTIVATION_STATE, ACTIVE, UserDirectory
from idp_extension.reporting.campaign import MALAYSIA, load_campaign
from idp_extension.tenants import load_tenant
from tests.support.lockout import wait_until_locked
from tests.support.oidc_login import login


def department(label: str) -> str:
    return f"Jabatan {label} {secrets.token_hex(3).upper()}"


def _at(day, hour: int) -> str:
    """``hour`` o'clock Malaysian time on ``day``, as the flows write it (UTC)."""
    moment = datetime.combine(day, day_time(hour), MALAYSIA).astimezone(timezone.utc)
    return moment.isoformat(timespec="seconds")


def seed_departments(settings, state: str, seed: str, layout: list[tuple[str, str, str]]):
    """Register one user per (department, kind, day offset) and put them in that state.

    kind: pending, locked (pending, 3 wrong passwords), active, disabled (active).
    """
    tenant = load_tenant(settings.realm_templates_dir, state)
    campaign = load_campaign(settings.realm_templates_dir, state)
    directory = UserDirectory(bootstrap_admin(settings), state)
    people = synthetic_people(tenant, len(layout), seed=f"{seed}-{secrets.token_hex(4)}")
    users = []
    for person, (department, kind, offset) in zip(people, layout):
        user, created = directory.register_pending(replace(person, department=department))
        assert created
        if kind in ("active", "disabled"):
            day = campaign.go_live + timedelta(days=int(offset))
            directory.update_attributes(user.id, {ACTIVATION_STATE: [ACTIVE],
                                                  ACTIVATED_AT: [_at(day, 23)]})
        if kind == "locked":
            # Keycloak alone writes disabledReason: lock the way strangers would.
            for _ in range(3):
                login(settings.keycloak_url, state, user.user_id, "Salah-Kata-Laluan1")
            wait_until_locked(directory, user.id)
        if kind == "disabled":
            directory.set_enabled(user.id, False)
        users.append(directory.get(user.id))
    return directory, campaign, users
