"""``ispeks-idp realms``: list, render and apply the state realms."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import click

from idp_extension.credentials import CLIENTS, CredentialError, CredentialStore, new_secret
from idp_extension.gateway.errors import GatewayError
from idp_extension.realms.apply import ApplyResult, apply_desired
from idp_extension.realms.render import mask_secrets, render_realm
from idp_extension.settings import (
    Settings, SettingsError, load_settings, require_strong_settings,
)
from idp_extension.tenants import ValuesError, list_states, load_tenant

templates_option = click.option(
    "--templates-dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None, help="Realm templates folder (default: ISPEKS_REALM_TEMPLATES_DIR).")


def _settings(ctx: click.Context) -> Settings:
    settings = ctx.find_object(Settings)
    return settings if settings is not None else load_settings()


def _clear_errors(command):
    """Turn our expected failures into a one-line message and exit status 1."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (ValuesError, GatewayError, SettingsError, CredentialError) as exc:
            # KeycloakUnavailable is a GatewayError.
            raise click.ClickException(str(exc)) from None
    return wrapper


@click.group()
def realms() -> None:
    """Render and apply the state realms."""


@realms.command("list")
@templates_option
@click.pass_context
@_clear_errors
def list_command(ctx: click.Context, templates_dir: Path | None) -> None:
    """List the states that have a values file."""
    templates_dir = templates_dir or _settings(ctx).realm_templates_dir
    for state in list_states(templates_dir):
        tenant = load_tenant(templates_dir, state)
        click.echo(f"{state}\t{tenant.display_name}\t{tenant.version_label}\t"
                   f"{tenant.onboarding.value}")


@realms.command()
@click.argument("state")
@templates_option
@click.pass_context
@_clear_errors
def render(ctx: click.Context, state: str, templates_dir: Path | None) -> None:
    """Print STATE's rendered realm JSON, secrets masked."""
    realm = render_realm(_settings(ctx), state, templates_dir)
    click.echo(json.dumps(mask_secrets(realm), indent=2, ensure_ascii=False))


def _report(result: ApplyResult) -> None:
    suffix = " (dry run: nothing written)" if result.dry_run and result.changed else ""
    click.echo(f"{result.realm}: {result.summary()}{suffix}")
    for line in result.lines():
        if line != "realm: create":  # already said by the summary
            click.echo(f"  {line}")


@realms.command()
@click.option("--state", "states", multiple=True,
              help="State to apply (repeatable; default: every values file).")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@templates_option
@click.pass_context
@_clear_errors
def apply(ctx: click.Context, states: tuple[str, ...], dry_run: bool,
          templates_dir: Path | None) -> None:
    """Create or update the state realms from the templates, idempotently."""
    settings = _settings(ctx)
    require_strong_settings(settings, "admin_client_secret")
    templates_dir = templates_dir or settings.realm_templates_dir
    # Render every state first: a broken values file stops the run before any write.
    rendered = [render_realm(settings, s, templates_dir)
                for s in (states or list_states(templates_dir))]
    for desired in rendered:
        _report(apply_desired(settings, desired, dry_run=dry_run))


@realms.command("rotate-secret")
@click.option("--state", required=True, help="The state whose client secret to replace.")
@click.option("--client", "client", type=click.Choice(sorted(CLIENTS)), default="sidecar",
              show_default=True, help="The sidecar's client, or state IT's.")
@click.option("--step", type=click.Choice(["all", "prepare", "finish"]), default="all",
              show_default=True,
              help="prepare: new secret into the file only (the old one still works); "
                   "finish: Keycloak switches to it. With several sidecar hosts, copy the "
                   "file to each between the two.")
@click.pass_context
@_clear_errors
def rotate_secret(ctx: click.Context, state: str, client: str, step: str) -> None:
    """Replace a state's client secret with a new random one, without downtime.

    \b
    The credentials file first lists the new secret and the old one (the sidecar and the
    CLI try both, and re-read the file when it changes); then Keycloak accepts only the
    new one and the file keeps only it. Other states are not touched.
    """
    # Imported here: only provisioning commands need the master realm's admin client.
    from idp_extension.gateway.realm_admin import RealmAdmin

    settings = _settings(ctx)
    require_strong_settings(settings, "admin_client_secret")
    if state not in list_states(settings.realm_templates_dir):
        raise click.BadParameter(f"unknown state {state!r}", param_hint="--state")
    client_id = CLIENTS[client]
    store = CredentialStore.from_settings(settings)
    admin = RealmAdmin(settings)
    if step in ("all", "prepare"):
        old = admin.client_secret(state, client_id)
        listed = store.read(state, client_id)
        if listed and old not in listed:
            raise click.ClickException(
                f"{store.path(state, client_id)} does not hold the secret Keycloak expects "
                f"for {client_id} of {state}: run `ispeks-idp realms apply --state {state}` first")
        path = store.write(state, client_id, [new_secret()] + ([old] if old else []))
        click.echo(f"{state}: new secret for {client_id} written to {path}; the old one "
                   f"still works.")
    if step in ("all", "finish"):
        listed = store.require(state, client_id, strict=False)
        admin.set_client_secret(state, client_id, listed[0])
        store.write(state, client_id, listed[:1])
        click.echo(f"{state}: Keycloak now accepts only the new secret of {client_id}.")
