"""``ispeks-idp report``: the activation campaign report and reminders for state IT."""

from __future__ import annotations

import click

from idp_extension.audit import audit_log_from_settings
from idp_extension.commands.users import _state_it, _who, actor_option
from idp_extension.gateway.errors import GatewayError
from idp_extension.reporting.campaign import load_campaign
from idp_extension.reporting.remind import remind as run_reminders
from idp_extension.reporting.service import ReportView
from idp_extension.reporting.summary import department_label
from idp_extension.reporting.tables import (
    daily_rows, department_rows, format_age, pending_rows, to_csv,
)
from idp_extension.reporting.wiring import activation_report, reminder_context
from idp_extension.settings import Settings, SettingsError, require_strong_settings
from idp_extension.tenants import ValuesError, list_states

TABLES = ("departments", "daily", "pending")


def _check(settings: Settings, state: str) -> None:
    if state not in list_states(settings.realm_templates_dir):
        raise click.BadParameter(f"unknown state {state!r}", param_hint="--state")
    try:
        load_campaign(settings.realm_templates_dir, state)
    except ValuesError as exc:
        raise click.ClickException(str(exc)) from None


def _print_table(header, rows) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    for row in [header, *rows]:
        click.echo("  ".join(str(cell).ljust(width) if i == 0 else str(cell).rjust(width)
                             for i, (cell, width) in enumerate(zip(row, widths))).rstrip())


def _freshness(view: ReportView) -> str:
    ms, en = format_age(view.age)
    as_of = view.as_of.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"Angka pada / Numbers as of {as_of} ({ms} / {en})"


@click.group()
def report() -> None:
    """The activation campaign: report and reminders."""


@report.command("activation")
@click.option("--state", required=True, help="The state's realm, e.g. pahang.")
@click.option("--department", default=None, help="One department (exactly as in payroll).")
@click.option("--csv", "as_csv", is_flag=True, help="Print one table as CSV instead.")
@click.option("--table", type=click.Choice(TABLES), default=None,
              help="Which table --csv prints (default: pending with --department, "
                   "else departments).")
@click.option("--refresh", is_flag=True, help="Read Keycloak now, whatever the summary's age.")
@click.pass_obj
def activation(settings: Settings, state: str, department: str | None, as_csv: bool,
               table: str | None, refresh: bool) -> None:
    """Pending against active users, by department, and activations per day.

    The numbers come from a summary of the realm kept in the shared state
    (ISPEKS_RATELIMIT_STORAGE_URI), read again from Keycloak when older than
    ISPEKS_REPORT_MAX_AGE_SECONDS; the first line says how old they are.
    """
    _check(settings, state)
    service = activation_report(settings, lambda realm: _state_it(settings, realm))
    try:
        if refresh:
            service.refresh(state)
        view = service.report(state)
        pending = (service.pending_users(state, department.strip())
                   if department is not None else None)
    except GatewayError as exc:
        raise click.ClickException(str(exc)) from None
    summary = view.summary
    if department is not None and department.strip() not in summary.departments:
        raise click.ClickException(f"no department {department!r} in {state} "
                                   f"(as of {summary.as_of:%Y-%m-%d %H:%M} UTC)")
    table = table or ("pending" if department is not None else "departments")
    if as_csv:
        if table == "pending" and department is None:
            raise click.UsageError("--table pending needs --department")
        header, rows = (daily_rows(summary) if table == "daily"
                        else pending_rows(pending or [], department.strip())
                        if table == "pending" else department_rows(summary))
        if table == "departments" and department is not None:
            rows = [r for r in rows if r[0] == department_label(department.strip())]
        click.echo(to_csv(header, rows), nl=False)
        return

    click.echo(_freshness(view))
    campaign = load_campaign(settings.realm_templates_dir, state)
    left = campaign.days_left(campaign.day_of(view.as_of))
    click.echo(f"Kempen / Campaign {state}: mula / go-live {summary.go_live}, "
               f"tarikh akhir / deadline {summary.deadline} "
               f"({left} hari lagi / days left)")
    header, rows = department_rows(summary)
    if department is not None:
        wanted = department_label(department.strip())
        rows = [r for r in rows if r[0] == wanted]
        click.echo()
        _print_table(header, rows)
        click.echo()
        click.echo(f"Belum aktif / Pending: {len(pending or [])}")
        p_header, p_rows = pending_rows(pending or [], department.strip())
        if p_rows:
            _print_table(p_header[:3] + p_header[5:], [r[:3] + r[5:] for r in p_rows])
        return
    click.echo()
    _print_table(header, rows)
    click.echo()
    d_header, d_rows = daily_rows(summary)
    _print_table(d_header, d_rows)
    extras = []
    if summary.activated_before_go_live:
        extras.append(f"sebelum mula / before go-live: {summary.activated_before_go_live}")
    if summary.activated_undated:
        extras.append(f"tarikh tidak direkod / date not recorded: {summary.activated_undated}")
    if extras:
        click.echo("Pengaktifan lain / Other activations: " + "; ".join(extras))


@report.command("remind")
@click.option("--state", required=True, help="The state's realm, e.g. selangor.")
@click.option("--department", default=None,
              help="Only this department (exactly as in payroll); default: the whole state.")
@click.option("--dry-run", is_flag=True, help="Say how many would be sent; send nothing.")
@click.option("--locale", type=click.Choice(["ms", "en"]), default="ms", show_default=True,
              help="Language of the emails.")
@actor_option
@click.pass_obj
def remind(settings: Settings, state: str, department: str | None, dry_run: bool,
           locale: str, actor: str | None) -> None:
    """Email every pending user a new activation link or temporary password.

    By the state's onboarding style (the same email as the user's own request), at
    most once a day per user (Malaysian day; a second run the same day skips them),
    paced at the state's [campaign] reminders_per_minute. Every email is audited with
    the officer (--actor).
    """
    _check(settings, state)
    if not dry_run:
        try:
            # Links and the sidecar's pages are signed with the sidecar's key.
            require_strong_settings(settings, "secret_key")
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None
    from idp_extension.mail.sender import mail_sender_from_settings

    context = reminder_context(
        settings, state, _state_it(settings, state),
        mailer=mail_sender_from_settings(settings), audit=audit_log_from_settings(settings),
        who=_who(actor), locale=locale)
    try:
        result = run_reminders(context, department.strip() if department else None,
                               dry_run=dry_run)
    except GatewayError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(result.line())
