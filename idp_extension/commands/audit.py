"""``ispeks-idp audit``: read the JSON-lines audit log (settings.audit_log_path)."""

from __future__ import annotations

import json
import time
from collections import deque
from pathlib import Path
from typing import IO, Any, Callable, Iterator

import click

from idp_extension.settings import Settings
from idp_extension.tenants import list_states

POLL_SECONDS = 0.5


def format_entry(entry: dict[str, Any]) -> str:
    """Return one event as one line: time, event, outcome, subject, details."""
    ts = str(entry.get("ts", "")).replace("T", " ")
    if "." in ts:
        ts = ts.split(".")[0] + ("Z" if ts.endswith("Z") else "")
    details = entry.get("details") or {}
    shown = " ".join(
        f"{key}={value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}"
        for key, value in details.items() if value not in (None, {}, [])
    )
    parts = [ts, str(entry.get("event", "?")), str(entry.get("outcome", "?")),
             str(entry.get("subject") or "-")]
    return "  ".join(parts + ([shown] if shown else []))


def _entry(line: bytes, realm: str) -> dict[str, Any] | None:
    """Return the event on ``line`` if it is one of ``realm``'s (bad lines are skipped)."""
    try:
        entry = json.loads(line.decode("utf-8", "replace"))
    except ValueError:
        return None  # a line cut by a crash or a rotation: not an event
    return entry if isinstance(entry, dict) and entry.get("realm") == realm else None


def _complete_lines(handle: IO[bytes]) -> Iterator[tuple[bytes, int]]:
    """Yield each complete line and the byte offset after it; stop before a partial line."""
    offset = handle.tell()
    for line in handle:
        if not line.endswith(b"\n"):
            return  # still being written: read again on the next poll
        offset += len(line)
        yield line, offset


def last_entries(path: Path, realm: str, count: int) -> tuple[list[dict[str, Any]], int]:
    """Return the newest ``count`` events of ``realm`` and the offset read up to."""
    if not path.exists():
        return [], 0
    newest: deque[dict[str, Any]] = deque(maxlen=max(count, 0))
    offset = 0
    with path.open("rb") as handle:
        for line, offset in _complete_lines(handle):
            entry = _entry(line, realm)
            if entry is not None and count:
                newest.append(entry)
    return list(newest), offset


def follow_entries(path: Path, realm: str, offset: int, *, poll: float = POLL_SECONDS,
                   stop: Callable[[], bool] = lambda: False) -> Iterator[dict[str, Any]]:
    """Yield ``realm``'s events appended after ``offset``, until ``stop()`` is true.

    A file that shrinks or is replaced (log rotation) is read again from its start.
    """
    identity = None
    while not stop():
        try:
            stat = path.stat()
        except FileNotFoundError:
            time.sleep(poll)
            continue
        replaced = identity is not None and (stat.st_ino, stat.st_dev) != identity
        if replaced or stat.st_size < offset:
            offset = 0
        identity = (stat.st_ino, stat.st_dev)
        if stat.st_size > offset:
            with path.open("rb") as handle:
                handle.seek(offset)
                for line, offset in _complete_lines(handle):
                    entry = _entry(line, realm)
                    if entry is not None:
                        yield entry
        time.sleep(poll)


@click.group()
def audit() -> None:
    """Read the audit log."""


@audit.command("tail")
@click.option("--state", required=True, help="The state's realm, e.g. pahang.")
@click.option("-n", "--lines", "count", default=20, show_default=True,
              type=click.IntRange(min=0), help="How many of the newest events to show.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events (Ctrl-C ends).")
@click.pass_obj
def tail(settings: Settings, state: str, count: int, follow: bool) -> None:
    """Print one state's newest audit events, one per line (time in UTC)."""
    if state not in list_states(settings.realm_templates_dir):
        raise click.BadParameter(f"unknown state {state!r}", param_hint="--state")
    if settings.audit_log_path is None:
        raise click.ClickException("no audit log file: events go to stderr "
                                   "(set ISPEKS_AUDIT_LOG to a file)")
    path = Path(settings.audit_log_path)
    entries, offset = last_entries(path, state, count)
    for entry in entries:
        click.echo(format_entry(entry))
    if not follow:
        if not entries:
            click.echo(f"no audit events for {state} in {path}", err=True)
        return
    try:
        for entry in follow_entries(path, state, offset):
            click.echo(format_entry(entry))
    except KeyboardInterrupt:
        pass

