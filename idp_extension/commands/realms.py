"""``ispeks-idp realms``: render and apply state realms (being written)."""

import click


@click.group()
def realms() -> None:
    """Render and apply the state realms."""
