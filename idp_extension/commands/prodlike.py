"""``ispeks-idp prod-like up|down``: the production topology on this machine, on loopback.

``up`` starts PostgreSQL, two clustered Keycloak nodes, Redis, two sidecars under
gunicorn and nginx with a self-signed certificate, all from the files in ``deploy/``,
prints the URLs and runs until Ctrl-C (or ``prod-like down`` from another shell).
Every start is fresh: a new database, new secrets; ``down`` removes the database.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import click

from idp_extension.commands._running import run_until_stopped
from idp_extension.keycloak_server import free_port
from idp_extension.mail.inbox import MailInbox
from idp_extension.prodlike.topology import Topology
from idp_extension.settings import Settings


def _state_dir(settings: Settings, given: Path | None) -> Path:
    return given or settings.cache_dir / "prod-like" / "run"


@click.group("prod-like")
def prod_like() -> None:
    """Run the production topology (deploy/) on loopback."""


@prod_like.command()
@click.option("--state-dir", type=click.Path(path_type=Path), default=None,
              help="Logs, certificate and process ids (default: <cache>/prod-like/run).")
@click.option("--exit-when-ready", is_flag=True, help="Start, print the URLs, stop.")
@click.pass_obj
def up(settings: Settings, state_dir: Path | None, exit_when_ready: bool) -> None:
    """Start everything, print the URLs, run until Ctrl-C or `prod-like down`."""
    state_dir = _state_dir(settings, state_dir)
    inbox = MailInbox(port=free_port()).start()
    topology = Topology(settings, state_dir, smtp_port=inbox.port, say=click.echo)
    try:
        topology.up()
        click.echo("")
        click.echo(f"Public (TLS, self-signed: {topology.certificate})")
        click.echo(f"  Keycloak login:  {topology.public_url}/realms/<state>/account/")
        click.echo(f"  Sidecar:         {topology.public_url}/idp/<state>/")
        click.echo(f"Internal (admin API, CLI):  ISPEKS_KEYCLOAK_ADMIN_URL={topology.internal_url}")
        for node in topology.nodes:
            click.echo(f"  {node.name}: http://{node.address} health {node.health_url} "
                       f"metrics {node.metrics_url}")
        for sidecar in topology.sidecars:
            click.echo(f"  {sidecar.name}: http://{sidecar.address}/idp/healthz")
        click.echo(f"Redis: {topology.redis.url}   PostgreSQL: 127.0.0.1:{topology.postgres.port}")
        click.echo(f"SMTP (development inbox): 127.0.0.1:{inbox.port}")
        click.echo(f"Access log: {topology.access_log}   Logs: {state_dir}")
        cli_env = _write_cli_env(topology, state_dir)
        click.echo(f"State IT's CLI against it: set -a; . {cli_env}; set +a; "
                   "ispeks-idp users list --state pahang --pending")
        if exit_when_ready:
            return
        run_until_stopped("\nRunning. Ctrl-C or `ispeks-idp prod-like down` stops it.")
    finally:
        click.echo("Stopping...")
        topology.down()
        inbox.stop()
        click.echo("Stopped.")


def _write_cli_env(topology: Topology, state_dir: Path) -> Path:
    """The variables ispeks-idp needs to manage this topology (secrets: mode 0600)."""
    names = ("ISPEKS_KEYCLOAK_URL", "ISPEKS_KEYCLOAK_ADMIN_URL", "ISPEKS_ADMIN_CLIENT_ID",
             "ISPEKS_ADMIN_CLIENT_SECRET", "ISPEKS_CREDENTIALS_DIR", "ISPEKS_SIDECAR_PUBLIC_URL",
             "ISPEKS_SMTP_HOST", "ISPEKS_SMTP_PORT", "ISPEKS_AUDIT_LOG")
    env = topology.settings.as_environment()
    path = state_dir / "cli.env"
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text("".join(f"{name}={env[name]}\n" for name in names if name in env))
    return path


@prod_like.command()
@click.option("--state-dir", type=click.Path(path_type=Path), default=None)
@click.pass_obj
def down(settings: Settings, state_dir: Path | None) -> None:
    """Stop a topology started by `prod-like up` (it stops its own processes)."""
    path = _state_dir(settings, state_dir) / "topology.json"
    if not path.exists():
        raise click.ClickException(f"no running topology ({path} is missing)")
    pid = json.loads(path.read_text())["pid"]
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        path.unlink(missing_ok=True)
        raise click.ClickException(f"process {pid} is gone; removed {path}") from None
    deadline = time.monotonic() + 120
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    click.echo("Stopped." if not path.exists() else f"process {pid} is still stopping")
