"""``ispeks-idp users``: state IT's user commands (import, list, unlock, disable, ...)."""

from __future__ import annotations

import getpass
from datetime import datetime, timezone
import hashlib
from pathlib import Path
from typing import Any, Callable

import click

from idp_extension.audit import (
    AuditEvent, AuditLog, Outcome, RealmAudit, audit_log_from_settings, for_realm,
)
from idp_extension.credentials import STATE_IT_CLIENT_ID, CredentialError
from idp_extension.flows.ports import public_pages
from idp_extension.gateway.bulk_users import BulkUsers
from idp_extension.gateway.connection import state_it_admin
from idp_extension.gateway.errors import GatewayError
from idp_extension.gateway.users import (
    ACTIVATION_STATE, ACTIVE, PENDING, DirectoryUser, UserDirectory, locked_users,
)
from idp_extension.importing.payroll_csv import PayrollFileError, read_payroll_file
from idp_extension.importing.progress import TerminalProgress
from idp_extension.importing.run import import_payroll
from idp_extension.payroll import InvalidUserId, normalise_mykad
from idp_extension.settings import Settings, SettingsError, require_strong_settings
from idp_extension.tenants import Onboarding, Tenant, list_states, load_tenant

# Exit status of an import that skipped or could not write some rows (the rest is in).
EXIT_ROWS_SKIPPED = 3


def _check_state(settings: Settings, state: str) -> None:
    if state not in list_states(settings.realm_templates_dir):
        raise click.BadParameter(f"unknown state {state!r}", param_hint="--state")


def _tenant(settings: Settings, state: str) -> Tenant:
    _check_state(settings, state)
    return load_tenant(settings.realm_templates_dir, state)


def _state_it(settings: Settings, state: str):
    """The state's own IT credential (its realm's users, nothing else)."""
    _check_state(settings, state)
    try:
        return state_it_admin(settings, state)
    except CredentialError as exc:
        raise click.ClickException(str(exc)) from None


def _directory(settings: Settings, state: str) -> UserDirectory:
    return UserDirectory(_state_it(settings, state), state)


def _who(actor: str | None) -> dict[str, str]:
    """Audit details naming the officer and the credential that acted."""
    try:
        officer = actor or getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        officer = "unknown"
    return {"actor": officer.strip() or "unknown", "client": STATE_IT_CLIENT_ID}


def actor_option(command):
    """``--actor NAME``: who acts, for the audit log (default: the login name)."""
    return click.option(
        "--actor", default=None, metavar="NAME",
        help="Who is acting, recorded in the audit log (default: your login name).",
    )(command)


def state_option(example: str, help_text: str | None = None):
    """``--state S`` (required): the realm the command acts in."""
    return click.option("--state", required=True,
                        help=help_text or f"The state's realm, e.g. {example}.")


def _stacked(*decorators):
    """One decorator for ``decorators`` written one a line, top to bottom."""
    def apply(command):
        for decorator in reversed(decorators):
            command = decorator(command)
        return command
    return apply


def user_options(example: str, *options, arguments=(), state_help: str | None = None):
    """What a command on one user takes: --state, ``options``, USER_ID, ``arguments``,
    --actor; the command gets the settings first."""
    return _stacked(state_option(example, state_help), *options, click.argument("user_id"),
                    *arguments, actor_option, click.pass_obj)


def csv_import_options(example: str):
    """What a CSV import takes: --state, --dry-run, FILE.csv, --actor; the command gets
    the click context first."""
    return _stacked(
        state_option(example),
        click.option("--dry-run", is_flag=True, help="Show what would change; write nothing."),
        click.argument("csv_file", metavar="FILE.csv",
                       type=click.Path(exists=True, dir_okay=False, path_type=Path)),
        actor_option, click.pass_context)


def _user_id(raw: str) -> str:
    """Return a MyKad number as its 12 digits; any other ID (a company's) as typed."""
    try:
        return normalise_mykad(raw)
    except InvalidUserId:
        return raw.strip()


def _find(directory: UserDirectory, user_id: str, state: str) -> DirectoryUser:
    user = directory.find(user_id)
    if user is None:
        raise click.ClickException(f"no user {user_id} in {state}")
    return user


def _state_audit(settings: Settings, state: str, actor: str | None) -> RealmAudit:
    """The audit log of ``state``, every event naming the officer and the credential."""
    return for_realm(_CliAudit(audit_log_from_settings(settings), _who(actor)), state)


class _CliAudit:
    """Record events with the officer and the credential that acted."""

    def __init__(self, log: AuditLog, who: dict[str, str]) -> None:
        self._log = log
        self._who = who

    def record(self, event, *, realm: str, subject: str | None = None,
               outcome=Outcome.SUCCESS, **details: Any) -> None:
        self._log.record(event, realm=realm, subject=subject, outcome=outcome,
                         **{**self._who, **details})


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def run_csv_import(ctx: click.Context, run: Callable[[], Any], *, dry_run: bool, csv_file: Path,
                   audit: RealmAudit, event: AuditEvent, written: str,
                   counted: Callable[[Any], int], unit: str) -> None:
    """Run an import of ``csv_file``, list its problems, say how fast it went, audit
    ``event`` unless ``dry_run``, and exit with EXIT_ROWS_SKIPPED if rows were left out.

    ``written`` names what stays after a failure half-way ("Rows written"); the speed is
    ``counted(summary)`` per second, in ``unit``.
    """
    try:
        summary = run()
    except GatewayError as exc:
        raise click.ClickException(
            f"{exc}\n{written} so far stay; running the same file again continues."
        ) from None
    for problem in summary.problems():
        click.echo(problem, err=True)
    per_second = counted(summary) / summary.seconds if summary.seconds else 0.0
    click.echo(f"{summary.line()} in {summary.seconds:.1f} s ({per_second:.0f} {unit})")
    if not dry_run:
        audit.record(event, file=csv_file.name, file_sha256=_sha256(csv_file),
                     **summary.audit_details())
    if not summary.complete:
        ctx.exit(EXIT_ROWS_SKIPPED)


@click.group()
def users() -> None:
    """Manage the users of one state's realm."""


@users.command("unlock")
@user_options("melaka")
def unlock(settings: Settings, state: str, user_id: str, actor: str | None) -> None:
    """Lift a lockout: three wrong passwords, or three wrong security answers in
    password recovery (Pentadbir Sistem's act)."""
    directory = _directory(settings, state)
    user_id = _user_id(user_id)
    try:
        user = _find(directory, user_id, state)
        directory.unlock(user.id)
    except GatewayError as exc:
        raise click.ClickException(str(exc)) from None
    _state_audit(settings, state, actor).record(AuditEvent.ACCOUNT_UNLOCKED, subject=user_id)
    click.echo(f"{user_id} unlocked in {state}.")


@users.command("list")
@state_option("pahang")
@click.option("--pending", "which", flag_value="pending", help="Not yet activated.")
@click.option("--active", "which", flag_value="active", help="Activated.")
@click.option("--locked", "which", flag_value="locked",
              help="Locked after 3 wrong passwords or 3 wrong security answers.")
@click.pass_obj
def list_users(settings: Settings, state: str, which: str | None) -> None:
    """List users by state: --pending, --active or --locked."""
    if which is None:
        raise click.UsageError("choose one of --pending, --active, --locked")
    directory = _directory(settings, state)
    try:
        if which == "locked":
            found = locked_users(directory.search)
        else:
            found = directory.search(ACTIVATION_STATE, PENDING if which == "pending" else ACTIVE)
    except GatewayError as exc:
        raise click.ClickException(str(exc)) from None
    for user in sorted(found, key=lambda u: u.user_id):
        click.echo(f"{user.user_id}\t{user.name}\t{user.email}")
    click.echo(f"{len(found)} {which} user(s) in {state}.", err=True)


@users.command("import")
@csv_import_options("kelantan")
def import_users(ctx: click.Context, state: str, dry_run: bool, csv_file: Path,
                 actor: str | None) -> None:
    """Create and update users from a payroll export (CSV, UTF-8).

    \b
    Header columns: id (MyKad, with or without dashes), name, email, department,
    registration_date (2026-01-31, 2026-01-31T09:00:00 or 31/01/2026 09:00:00 AM).

    New IDs become pre-registered users (pending activation, no usable password).
    Changed names, emails, departments and registration dates are updated. Nobody is
    deleted, and no password, lock, activation state or security setting is touched.
    Bad rows (malformed ID, missing value, email outside the state's domains, ...) are
    reported with their line numbers and skipped; an ID on more than one line is
    skipped on every such line. The same file run again changes nothing.

    \b
    Exit status:
      0  every row of the file is in Keycloak
      3  some rows were rejected or not written (the others were imported);
         fix them and run the file again
      1  nothing could be done (unreadable file, Keycloak unreachable, ...)
    """
    settings: Settings = ctx.obj
    tenant = _tenant(settings, state)
    try:
        parsed = read_payroll_file(csv_file, tenant)
    except PayrollFileError as exc:
        raise click.ClickException(str(exc)) from None
    # partialImport needs manage-realm, which state IT does not hold: one POST per user.
    store = BulkUsers(_state_it(settings, state), state, partial_import=False)
    run_csv_import(
        ctx, lambda: import_payroll(parsed, store, dry_run=dry_run, progress=TerminalProgress()),
        dry_run=dry_run, csv_file=csv_file, audit=_state_audit(settings, state, actor),
        event=AuditEvent.USERS_IMPORTED, written="Rows written",
        counted=lambda summary: summary.rows, unit="rows/s")


def _locale_option(help_text: str):
    return click.option("--locale", type=click.Choice(["ms", "en"]), default="ms",
                        show_default=True, help=help_text)


@users.command("resend-activation")
@user_options("pahang", _locale_option("Language of the email."),
              state_help="An activation-link state, e.g. pahang.")
def resend_activation(settings: Settings, state: str, locale: str, user_id: str,
                      actor: str | None) -> None:
    """Email a new activation link to a pre-registered user.

    The new link replaces any earlier one and is valid for the state's activation
    period (30 minutes by default).
    """
    # Imported here: the activation flow (and its hashing) is not needed by other commands.
    from idp_extension.flows.activation import ActivationContext, resend_link
    from idp_extension.flows.ports import MemoryClaims
    from idp_extension.mail.errors import MailUnavailable
    from idp_extension.mail.sender import mail_sender_from_settings

    tenant = _tenant(settings, state)
    if tenant.onboarding is not Onboarding.ACTIVATION_LINK:
        raise click.ClickException(
            f"{state} sends temporary passwords, not activation links: the user asks for "
            f"one on the first-login page"
        )
    try:
        user_id = normalise_mykad(user_id)
    except InvalidUserId as exc:
        raise click.BadParameter(str(exc), param_hint="USER_ID") from None
    try:
        # The link is signed with the sidecar's key: it must be the sidecar's, and strong.
        require_strong_settings(settings, "secret_key")
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    directory = _directory(settings, state)
    audit = _state_audit(settings, state, actor)
    try:
        user = _find(directory, user_id, state)
        # The web flow answers alike for every ID; state IT is told exactly why not.
        # A lockout by strangers' guesses does not stop activation (the link lifts it).
        if not user.enabled and not user.permanently_locked:
            raise click.ClickException(f"{user_id} is disabled in {state}: no link sent")
        if user.activation_state != PENDING:
            raise click.ClickException(f"{user_id} is already activated in {state}")
        if "@" not in (user.email or ""):
            raise click.ClickException(f"{user_id} has no email address in {state}")
        context = ActivationContext.from_settings(
            settings, tenant, directory=directory, mailer=mail_sender_from_settings(settings),
            audit=audit, claims=MemoryClaims(), min_request_seconds=0.0,
        )
        outcome = resend_link(context, user_id, locale)
    except MailUnavailable:
        raise click.ClickException("the mail server is unavailable: no link sent") from None
    except GatewayError as exc:
        raise click.ClickException(str(exc)) from None
    if outcome.reason == "mail_unavailable":
        raise click.ClickException("the mail server is unavailable: no link sent")
    if not outcome.sent:
        raise click.ClickException(f"no link sent to {user_id}: {outcome.reason}")
    click.echo(f"Activation link sent to {user.email} for {user_id} in {state} "
               f"(valid {tenant.activation_link_minutes} minutes).")


@users.command("disable")
@user_options("melaka", click.option("--reason", default="", help="Why (kept in the audit log)."))
def disable(settings: Settings, state: str, reason: str, user_id: str,
            actor: str | None) -> None:
    """Disable an account and end its sessions; "users enable" undoes it."""
    directory = _directory(settings, state)
    user_id = _user_id(user_id)
    try:
        user = _find(directory, user_id, state)
        if not user.enabled:
            click.echo(f"{user_id} is already disabled in {state}.")
            return
        directory.set_enabled(user.id, False)
        directory.end_sessions(user.id)
    except GatewayError as exc:
        raise click.ClickException(str(exc)) from None
    _state_audit(settings, state, actor).record(
        AuditEvent.ACCOUNT_DISABLED, subject=user_id, reason=reason or None)
    click.echo(f"{user_id} disabled in {state}; their sessions are ended.")


@users.command("enable")
@user_options("melaka")
def enable(settings: Settings, state: str, user_id: str, actor: str | None) -> None:
    """Enable an account disabled with "users disable" (lockouts: "users unlock")."""
    directory = _directory(settings, state)
    user_id = _user_id(user_id)
    try:
        user = _find(directory, user_id, state)
        if user.enabled:
            click.echo(f"{user_id} is already enabled in {state}.")
            return
        if user.permanently_locked or user.locked_by_recovery:
            raise click.ClickException(f"{user_id} is locked out: use \"users unlock\"")
        directory.set_enabled(user.id, True)
    except GatewayError as exc:
        raise click.ClickException(str(exc)) from None
    _state_audit(settings, state, actor).record(AuditEvent.ACCOUNT_ENABLED, subject=user_id)
    click.echo(f"{user_id} enabled in {state}.")


@users.command("reset-otp")
@user_options("melaka", _locale_option("Language of the email to the user."))
def reset_otp(settings: Settings, state: str, locale: str, user_id: str,
              actor: str | None) -> None:
    """Remove a user's TOTP authenticator apps (a lost or changed phone).

    Keycloak's OTP credentials of the user are deleted and the next login asks them to
    set up a new app (required for privileged tasks, and for anyone who had TOTP on).
    The password is not touched. The user is emailed; the act is audited.
    """
    from idp_extension.flows.notifications import notify
    from idp_extension.mail.guard import for_tenant
    from idp_extension.mail.sender import mail_sender_from_settings

    tenant = _tenant(settings, state)
    directory = _directory(settings, state)
    user_id = _user_id(user_id)
    audit = audit_log_from_settings(settings)
    try:
        user = _find(directory, user_id, state)
        removed = directory.delete_otp_credentials(user.id, enrol_again=True)
    except GatewayError as exc:
        raise click.ClickException(str(exc)) from None
    mailer = for_tenant(mail_sender_from_settings(settings), tenant, audit)
    recovery_url = public_pages(settings.sidecar_public_url, state).url(
        "tenant.recovery.request_form")
    notified = notify(mailer, tenant, user, "totp_reset", locale,
                      datetime.now(timezone.utc), recovery_url=recovery_url)
    _state_audit(settings, state, actor).record(
        AuditEvent.TOTP_RESET, subject=user.user_id, removed=removed, notified=notified)
    click.echo(f"{removed} authenticator app(s) removed for {user.user_id} in {state}; the "
               f"next login sets up a new one. "
               + ("User emailed." if notified else "No email could be sent to the user."))
