"""The ``ispeks-idp`` console script: one group, each subcommand in ``commands/``."""

from __future__ import annotations

import click

from idp_extension.commands.audit import audit
from idp_extension.commands.dev import dev
from idp_extension.commands.prodlike import prod_like
from idp_extension.commands.realms import realms
from idp_extension.commands.tasks import register as register_task_commands
from idp_extension.commands.report import report
from idp_extension.commands.users import users
from idp_extension.settings import SettingsError, load_settings


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """iSPEKS Identity: provision state realms, run the stack, manage users."""
    # Tests pass their own settings as ``obj``; the console script reads the environment.
    if ctx.obj is None:
        try:
            ctx.obj = load_settings()
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None


main.add_command(dev)
main.add_command(realms)
register_task_commands(users)  # users tasks / assign / revoke
main.add_command(users)
main.add_command(audit)
main.add_command(prod_like)
main.add_command(report)


if __name__ == "__main__":
    main()
