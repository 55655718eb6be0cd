"""``ispeks-idp users``: state IT's user commands (list, unlock)."""

from __future__ import annotations

import click

from idp_extension.audit import AuditEvent, audit_log_from_settings
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.errors import GatewayError
from idp_extension.gateway.users import (
    ACTIVATION_STATE, ACTIVE, DISABLED_REASON, PENDING, PERMANENT_LOCKOUT, UserDirectory,
)
from idp_extension.settings import Settings
from idp_extension.tenants import list_states


def _directory(settings: Settings, state: str) -> UserDirectory:
    if state not in list_states(settings.realm_templates_dir):
        raise click.BadParameter(f"unknown state {state!r}", param_hint="--state")
    return UserDirectory(bootstrap_admin(settings), state)


@click.group()
def users() -> None:
    """Manage the users of one state's realm."""


@users.command("unlock")
@click.option("--state", required=True, help="The state's realm, e.g. melaka.")
@click.argument("user_id")
@click.pass_obj
def unlock(settings: Settings, state: str, user_id: str) -> None:
    """Lift a lockout after three wrong passwords (Pentadbir Sistem's act)."""
    directory = _directory(settings, state)
    try:
        user = directory.find(user_id)
        if user is None:
            raise click.ClickException(f"no user {user_id} in {state}")
        directory.unlock(user.id)
    except GatewayError as exc:
        raise click.ClickException(str(exc)) from None
    audit_log_from_settings(settings).record(
        AuditEvent.ACCOUNT_UNLOCKED, realm=state, subject=user_id, actor="cli"
    )
    click.echo(f"{user_id} unlocked in {state}.")


@users.command("list")
@click.option("--state", required=True, help="The state's realm, e.g. pahang.")
@click.option("--pending", "which", flag_value="pending", help="Not yet activated.")
@click.option("--active", "which", flag_value="active", help="Activated.")
@click.option("--locked", "which", flag_value="locked", help="Locked after 3 wrong passwords.")
@click.pass_obj
def list_users(settings: Settings, state: str, which: str | None) -> None:
    """List users by state: --pending, --active or --locked."""
    if which is None:
        raise click.UsageError("choose one of --pending, --active, --locked")
    directory = _directory(settings, state)
    try:
        if which == "locked":
            found = directory.search(DISABLED_REASON, PERMANENT_LOCKOUT)
        else:
            found = directory.search(ACTIVATION_STATE, PENDING if which == "pending" else ACTIVE)
    except GatewayError as exc:
        raise click.ClickException(str(exc)) from None
    for user in sorted(found, key=lambda u: u.user_id):
        click.echo(f"{user.user_id}\t{user.name}\t{user.email}")
    click.echo(f"{len(found)} {which} user(s) in {state}.", err=True)
