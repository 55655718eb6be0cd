"""``ispeks-idp dev``: the whole stack on this machine, on embedded defaults.

Starts, in order: the development mail inbox (a real SMTP server on loopback and a web
page listing what it received), Keycloak on its dev-file database with theme caching
off, the four state realms, synthetic demo users, and the sidecar under gunicorn. Ctrl-C
(SIGINT) or SIGTERM, at any moment, even while starting, stops all of it, each by its own
process id, all at once: Keycloak and gunicorn run in sessions of their own (a
terminal's Ctrl-C does not reach them), so this command is what stops them. Data lives
in ``<cache>/dev`` and is reused by the next start.
"""

from __future__ import annotations

import secrets
import signal
import threading
from pathlib import Path

import click

from idp_extension.commands._running import run_until_stopped
from idp_extension.demo_seed import seed_realm
from idp_extension.gateway.tasks import TaskRoles
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.users import UserDirectory
from idp_extension.keycloak_server import KeycloakDistribution, KeycloakServer
from idp_extension.mail.inbox import InboxUnavailable, MailInbox
from idp_extension.mail.inbox_web import serve_inbox_web
from idp_extension.realms.apply import apply_realm
from idp_extension.settings import Settings
from idp_extension.sidecar_process import SidecarProcess
from idp_extension.tenants import load_tenants


def _dev_secret(path: Path) -> str:
    """A per-machine dev secret, made on first start and kept outside git."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


@click.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Where Keycloak's database and dev secrets live (default: <cache>/dev).")
@click.option("--keycloak-port", default=8080, show_default=True)
@click.option("--keycloak-management-port", default=9000, show_default=True,
              help="Keycloak's health endpoints.")
@click.option("--sidecar-port", default=5000, show_default=True)
@click.option("--smtp-port", default=2525, show_default=True)
@click.option("--inbox-port", default=8025, show_default=True)
@click.option("--pending-users", default=5, show_default=True,
              help="Not-yet-activated demo users per state.")
@click.option("--exit-when-ready", is_flag=True,
              help="Start everything, print the URLs, then stop (a smoke test).")
@click.pass_obj
def dev(settings: Settings, data_dir: Path | None, keycloak_port: int,
        keycloak_management_port: int, sidecar_port: int,
        smtp_port: int, inbox_port: int, pending_users: int, exit_when_ready: bool) -> None:
    """Run Keycloak, the realms, demo users, the sidecar and a mail inbox locally."""
    data_dir = data_dir or settings.cache_dir / "dev"
    sidecar_url = f"http://127.0.0.1:{sidecar_port}"
    settings = settings.with_overrides(
        keycloak_url=f"http://127.0.0.1:{keycloak_port}",
        admin_client_secret=settings.admin_client_secret or _dev_secret(data_dir / "bootstrap-secret"),
        # Each realm's client secrets: random, made by the realms' apply below. The CLI
        # finds them here with no variable set (Settings.credentials_path's default).
        credentials_dir=settings.credentials_dir or data_dir / "credentials",
        secret_key=_dev_secret(data_dir / "sidecar-secret-key"),
        smtp_host="127.0.0.1", smtp_port=smtp_port,
        sidecar_public_url=sidecar_url,
        # The demo portal's exact callback comes with it (realms.render); no wildcard.
        demo_portal=True,
        audit_log_path=settings.audit_log_path or data_dir / "audit.jsonl",
    )
    stack: list = []  # things to stop
    # Ctrl-C and SIGTERM end even a start half-way (run_until_stopped then takes SIGTERM
    # over). Python's default for SIGTERM would exit at once and leave Keycloak running;
    # and a shell without job control (a script's `scripts/dev &`) starts its background
    # commands with SIGINT *ignored*, where Ctrl-C to the group did nothing at all.
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    for signum in handlers:
        signal.signal(signum, _interrupt)
    try:
        try:
            inbox = MailInbox(port=smtp_port).start()
        except InboxUnavailable as exc:
            raise click.ClickException(str(exc)) from None
        stack.append(inbox)
        inbox_web = serve_inbox_web(inbox, "127.0.0.1", inbox_port)
        stack.append(_Stoppable(inbox_web.shutdown))
        click.echo(f"Mail inbox:   http://127.0.0.1:{inbox_port}/ (SMTP on 127.0.0.1:{smtp_port})")

        click.echo("Starting Keycloak (the first start downloads and builds it)...")
        keycloak = KeycloakServer(
            distribution=KeycloakDistribution(settings.cache_dir),
            data_dir=data_dir / "keycloak",
            admin_client_id=settings.admin_client_id,
            admin_client_secret=settings.admin_client_secret,
            http_port=keycloak_port, management_port=keycloak_management_port,
            themes_dir=settings.themes_dir, java_home=settings.java_home, dev_themes=True,
        )
        stack.append(keycloak)  # before it starts: a Ctrl-C while it starts stops it too
        keycloak.start()
        click.echo(f"Keycloak:     {keycloak.url}/admin/ (ready in {keycloak.started_in_seconds:.1f}s)")

        tenants = load_tenants(settings.realm_templates_dir)
        demo = []
        for state, tenant in tenants.items():
            result = apply_realm(settings, state)
            click.echo(f"Realm {state}: {result.summary()}")
            directory = UserDirectory(bootstrap_admin(settings), state)
            demo += seed_realm(directory, tenant, data_dir / "demo-passwords.json", pending_users,
                               tasks=TaskRoles(bootstrap_admin(settings), state))

        sidecar = SidecarProcess(settings, sidecar_port, log_path=data_dir / "sidecar.log")
        stack.append(sidecar)
        sidecar.start()
        click.echo(f"Sidecar:      {sidecar.url}/<realm>/ (log: {data_dir / 'sidecar.log'})")
        _print_accounts(keycloak.url, sidecar.url, tenants, demo)
        _print_cli_hint(settings, keycloak_port, data_dir)

        if exit_when_ready:
            return
        run_until_stopped("\nRunning. Press Ctrl-C to stop.")
    finally:
        _stop_all(stack)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def _interrupt(*_) -> None:
    # The first signal stops everything; a second one right after must not interrupt
    # the stopping (see _stop_all).
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    raise KeyboardInterrupt


def _stop_all(stack: list) -> None:
    """Stop every part at once (each by its own process group, SIGKILL after its own
    bounded wait). A second Ctrl-C or SIGTERM meanwhile is ignored, so that it cannot cut
    the stopping short and leave a server behind."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    click.echo("Stopping...")
    stoppers = [threading.Thread(target=part.stop) for part in stack]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join()
    click.echo("Stopped.")


class _Stoppable:
    """Give anything with a stop-like method the ``stop()`` the stack expects."""

    def __init__(self, stop):
        self.stop = stop


def _print_cli_hint(settings: Settings, keycloak_port: int, data_dir: Path) -> None:
    """Say how state IT's commands reach this stack: on the defaults, nothing to set."""
    click.echo(f"\nState credentials (random, one folder per state): {settings.credentials_path}/")
    lines = []
    if keycloak_port != 8080:
        lines.append(f"export ISPEKS_KEYCLOAK_URL={settings.keycloak_url}")
    if settings.credentials_path != Settings(cache_dir=settings.cache_dir).credentials_path:
        lines.append(f"export ISPEKS_CREDENTIALS_DIR={settings.credentials_path}")
    lines += ["ispeks-idp users list --state pahang --pending",
              f"ISPEKS_AUDIT_LOG={settings.audit_log_path} ispeks-idp audit tail --state pahang"]
    click.echo("State IT's commands, in another terminal:")
    for line in lines:
        click.echo(f"   {line}")


def _print_accounts(keycloak_url, sidecar_url, tenants, demo) -> None:
    for state, tenant in tenants.items():
        click.echo(f"\n== {tenant.display_name} ({tenant.version_label}, {tenant.onboarding.value})")
        click.echo(f"   Login:   {keycloak_url}/realms/{state}/account/")
        click.echo(f"   Sidecar: {sidecar_url}/{state}/")
        for account in (a for a in demo if a.realm == state):
            if account.password:
                click.echo(f"   active  {account.user_id}  {account.name}  password: {account.password}")
            else:
                click.echo(f"   pending {account.user_id}  {account.name}  <{account.email}>")
