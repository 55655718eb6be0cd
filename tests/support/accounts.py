"""Active accounts made straight in the session's real Keycloak, one per test.

A test that needs someone who has already activated (to log in, change settings, hold a
task) makes them here instead of walking the activation flow again: registered as payroll
would, given a password and marked active, with extra attributes if asked.
"""

from __future__ import annotations

from dataclasses import dataclass

from idp_extension.demo_users import synthetic_people
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.tasks import TaskRoles
from idp_extension.gateway.users import ACTIVATION_STATE, ACTIVE, DirectoryUser, UserDirectory
from idp_extension.passwords import random_password
from idp_extension.payroll import PayrollRecord
from idp_extension.tenants import load_tenants


@dataclass(frozen=True)
class ActiveAccount:
    directory: UserDirectory
    record: PayrollRecord
    user: DirectoryUser
    password: str


def active_account(settings, realm: str, seed: str, password: str | None = None,
                   attributes: dict[str, list[str]] | None = None,
                   tasks: tuple[str, ...] = ()) -> ActiveAccount:
    """A synthetic person of ``realm`` (``seed`` makes them unique), active, with a password,
    holding the ``tasks`` (roles of ``ispeks-tugas``) if any, as state IT grants them."""
    tenant = load_tenants(settings.realm_templates_dir)[realm]
    [record] = synthetic_people(tenant, 1, seed=seed)
    directory = UserDirectory(bootstrap_admin(settings), realm)
    user, _ = directory.register_pending(record)
    password = password or random_password()
    directory.set_password(user.id, password)
    directory.update_attributes(user.id, {ACTIVATION_STATE: [ACTIVE], **(attributes or {})})
    if tasks:
        TaskRoles(bootstrap_admin(settings), realm).grant(user.id, tasks)
    return ActiveAccount(directory, record, user, password)
