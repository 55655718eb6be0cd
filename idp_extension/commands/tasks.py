"""``ispeks-idp users tasks|assign|revoke``: Pengurusan Tugas for state IT.

::

    ispeks-idp users tasks  --state S ID                      show a user's tasks
    ispeks-idp users assign --state S ID MODULE LEVEL         e.g. ac pelulus
    ispeks-idp users assign --state S ID pentadbir-sistem     the two system tasks: no LEVEL
    ispeks-idp users revoke --state S ID MODULE [LEVEL]
    ispeks-idp users tasks import --state S tasks.csv [--dry-run]

Every change is audited with the officer (``--actor``) and the credential. An assignment
that would give one person Penyedia and Pelulus of the same module is refused (Malay,
then English), audited as refused, and changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import click

from idp_extension.audit import AuditEvent, Outcome
from idp_extension.commands.users import (
    _find, _state_audit, _state_it, _tenant, _user_id, csv_import_options, run_csv_import,
    state_option, user_options,
)
from idp_extension.gateway.errors import GatewayError
from idp_extension.gateway.tasks import TaskRoles
from idp_extension.gateway.users import UserDirectory
from idp_extension.importing.progress import TerminalProgress
from idp_extension.importing.tasks_csv import TaskFileError, import_tasks, read_task_file
from idp_extension.settings import Settings
from idp_extension.tasks import (
    SYSTEM_TASKS, TOTP_MARKER, Catalogue, Task, UnknownTask, catalogue_for, conflicts,
    parse_role,
)


class _TasksGroup(click.Group):
    """``users tasks --state S ID`` shows; ``users tasks import ...`` imports."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["show", *args]
        return super().parse_args(ctx, args)


def _catalogue(settings: Settings, state: str) -> Catalogue:
    _tenant(settings, state)  # an unknown state is a usage error
    return catalogue_for(str(settings.realm_templates_dir), state)


def _task(catalogue: Catalogue, module: str, level: str | None, *, held: set[str] | None = None
          ) -> Task:
    try:
        return catalogue.task(module, level)
    except UnknownTask as exc:
        # A module taken out of the values keeps its roles: its holders can still lose them.
        role = module.strip().lower() + (f":{level.strip().lower()}" if level else "")
        task = parse_role(role)
        if held is not None and task is not None and role in held:
            return task
        raise click.BadParameter(str(exc), param_hint="MODULE LEVEL") from None


def _setup(settings: Settings, state: str, user_id: str):
    admin = _state_it(settings, state)
    directory = UserDirectory(admin, state)
    user = _find(directory, user_id, state)
    return TaskRoles(admin, state), user


@click.group("tasks", cls=_TasksGroup)
def tasks() -> None:
    """Show a user's tasks (users tasks --state S ID), or import tasks from a CSV."""


@tasks.command("show")
@state_option("pahang")
@click.argument("user_id")
@click.pass_obj
def show(settings: Settings, state: str, user_id: str) -> None:
    """Show the tasks a user holds, and whether they must use TOTP."""
    catalogue = _catalogue(settings, state)
    user_id = _user_id(user_id)
    try:
        roles, user = _setup(settings, state, user_id)
        direct = roles.direct(user.id)
        totp = roles.totp_required(direct)
    except GatewayError as exc:
        raise click.ClickException(str(exc)) from None
    held = sorted(r for r in direct if r != TOTP_MARKER)
    for role in held:
        click.echo(f"{role}\t{catalogue.describe(role, 'ms')}\t{catalogue.describe(role, 'en')}")
    totp = "ya / yes" if totp else "tidak / no"
    click.echo(f"{user_id} ({user.name}) in {state}: {len(held)} tugas / task(s); "
               f"TOTP wajib / TOTP required: {totp}", err=True)


@tasks.command("import")
@csv_import_options("selangor")
def import_file(ctx: click.Context, state: str, dry_run: bool, csv_file: Path,
                actor: str | None) -> None:
    """Grant tasks from a CSV file (UTF-8; header id,module,level).

    \b
    module: a module code of the state (ac, proc, py, sl, aim, ...) with level
    penyedia, penyemak or pelulus; or pentadbir-sistem / meja-bantuan, level empty.

    Only grants: a task missing from the file is not taken away (users revoke does
    that); the same file again changes nothing. Rejected rows (unknown user, module or
    level; Penyedia and Pelulus of one module for one person) are listed with their
    line numbers and nothing of them is written.

    \b
    Exit status: 0 every row is in; 3 some rows were rejected or not written;
    1 nothing could be done.
    """
    settings: Settings = ctx.obj
    catalogue = _catalogue(settings, state)
    try:
        parsed = read_task_file(csv_file, catalogue)
    except TaskFileError as exc:
        raise click.ClickException(str(exc)) from None
    audit = _state_audit(settings, state, actor)

    def granted(user_id: str, roles: tuple[str, ...]) -> None:
        audit.record(AuditEvent.TASK_ASSIGNED, subject=user_id, tasks=list(roles),
                     source=csv_file.name)

    store = TaskRoles(_state_it(settings, state), state)
    run_csv_import(
        ctx, lambda: import_tasks(parsed, store, catalogue, dry_run=dry_run,
                                  progress=TerminalProgress(), granted=granted),
        dry_run=dry_run, csv_file=csv_file, audit=audit, event=AuditEvent.TASKS_IMPORTED,
        written="Tasks granted", counted=lambda summary: summary.granted, unit="assignments/s")


# --state USER_ID MODULE [LEVEL] and --actor, the arguments of assign and revoke.
_grant_arguments = user_options(
    "pahang", arguments=(click.argument("module"), click.argument("level", required=False)))


@click.command("assign")
@_grant_arguments
def assign(settings: Settings, state: str, user_id: str, module: str, level: str | None,
           actor: str | None) -> None:
    """Grant a task: MODULE LEVEL (ac pelulus), or pentadbir-sistem / meja-bantuan.

    Refused, and nothing changes, if the person would hold Penyedia and Pelulus of the
    same module (segregation of duties).
    """
    catalogue = _catalogue(settings, state)
    task = _task(catalogue, module, level)
    user_id = _user_id(user_id)
    audit = _state_audit(settings, state, actor)
    try:
        roles, user = _setup(settings, state, user_id)
        held = roles.direct(user.id)
        if task.role in held:
            click.echo(f"{user_id} already holds {task.role} in {state}: nothing to do.")
            return
        found = conflicts(held | {task.role}, catalogue)
        if not found:
            roles.grant(user.id, [task.role])
            # Another officer may have granted the other level meanwhile: look again,
            # and undo our grant if the two together break the rule.
            found = conflicts(roles.direct(user.id), catalogue)
            if found:
                roles.revoke(user.id, [task.role])
    except GatewayError as exc:
        raise click.ClickException(str(exc)) from None
    if found:
        audit.record(AuditEvent.TASK_REFUSED, subject=user_id, outcome=Outcome.DENIED,
                     task=task.role, reason="segregation_of_duties",
                     conflict_module=found[0].module)
        raise click.ClickException(found[0].message(user_id))
    audit.record(AuditEvent.TASK_ASSIGNED, subject=user_id, tasks=[task.role])
    click.echo(f"Diberi / Granted: {task.role} - {catalogue.describe(task.role, 'ms')} / "
               f"{catalogue.describe(task.role, 'en')} -> {user_id} in {state}.")
    if task.requires_totp:
        click.echo("Tugas ini memerlukan TOTP pada log masuk seterusnya. / "
                   "This task requires TOTP from the next login.")


@click.command("revoke")
@_grant_arguments
def revoke(settings: Settings, state: str, user_id: str, module: str, level: str | None,
           actor: str | None) -> None:
    """Take a task away: MODULE LEVEL, or pentadbir-sistem / meja-bantuan."""
    catalogue = _catalogue(settings, state)
    user_id = _user_id(user_id)
    try:
        roles, user = _setup(settings, state, user_id)
        held = roles.direct(user.id)
        task = _task(catalogue, module, level, held=held)
        if task.role not in held:
            click.echo(f"{user_id} does not hold {task.role} in {state}: nothing to do.")
            return
        roles.revoke(user.id, [task.role])
    except GatewayError as exc:
        raise click.ClickException(str(exc)) from None
    _state_audit(settings, state, actor).record(
        AuditEvent.TASK_REVOKED, subject=user_id, tasks=[task.role])
    click.echo(f"Ditarik balik / Revoked: {task.role} from {user_id} in {state}.")


def register(users: click.Group) -> None:
    """Add the task commands to ``ispeks-idp users``."""
    users.add_command(tasks)
    users.add_command(assign)
    users.add_command(revoke)


__all__ = ["register", "SYSTEM_TASKS"]
