"""``ispeks-idp dev``: the whole stack locally (being written)."""

import click


@click.command()
def dev() -> None:
    """Run Keycloak, the realms, the sidecar and a mail inbox locally."""
