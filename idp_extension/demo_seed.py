"""Put synthetic demo users into a realm: pending ones from "payroll" and one active."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from idp_extension.demo_users import demo_tasks, synthetic_people
from idp_extension.gateway.users import ACTIVATION_STATE, ACTIVE, UserDirectory
from idp_extension.passwords import random_password
from idp_extension.tenants import Tenant

if TYPE_CHECKING:
    from idp_extension.gateway.tasks import TaskRoles


@dataclass(frozen=True)
class DemoAccount:
    realm: str
    user_id: str
    name: str
    email: str
    password: str | None  # only for the active account


def seed_realm(
    directory: UserDirectory, tenant: Tenant, passwords_file: Path, pending: int = 5,
    tasks: "TaskRoles | None" = None,
) -> list[DemoAccount]:
    """Register ``pending`` not-yet-activated users and one active user; idempotent.

    The active user's password is made once and kept in ``passwords_file`` (a dev-only
    file outside git), so a second start prints the same password. With ``tasks`` each
    gets the tasks of ``demo_users.demo_tasks`` (only those not yet held are granted).
    """
    saved = json.loads(passwords_file.read_text()) if passwords_file.exists() else {}
    people = synthetic_people(tenant, pending + 1)
    accounts = []
    for record in people[:pending]:
        directory.register_pending(record)
        accounts.append(DemoAccount(tenant.realm, record.user_id, record.name, record.email, None))
    active = people[pending]
    user, _ = directory.register_pending(active)
    key = f"{tenant.realm}:{active.user_id}"
    if user.activation_state != ACTIVE or key not in saved:
        saved[key] = random_password()
        directory.set_password(user.id, saved[key])
        directory.update_attributes(user.id, {ACTIVATION_STATE: [ACTIVE]})
        passwords_file.parent.mkdir(parents=True, exist_ok=True)
        passwords_file.write_text(json.dumps(saved, indent=2))
        passwords_file.chmod(0o600)
    accounts.append(DemoAccount(tenant.realm, active.user_id, active.name, active.email, saved[key]))
    if tasks is not None:
        for record, wanted in zip(people, demo_tasks(tenant.realm, pending)):
            uuid = directory.find(record.user_id).id
            tasks.grant(uuid, sorted(set(wanted) - tasks.direct(uuid)))
    return accounts
