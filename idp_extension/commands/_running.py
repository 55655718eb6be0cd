"""Keeping a local stack in the foreground until Ctrl-C or SIGTERM (dev, prod-like up)."""

from __future__ import annotations

import signal
import threading

import click


def run_until_stopped(message: str) -> None:
    """Print ``message``, then block until Ctrl-C or SIGTERM."""
    click.echo(message)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
