"""A progress bar per import step on a terminal, and silence when output is redirected."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import IO, Iterator

import click

from idp_extension.importing.run import Advance


class TerminalProgress:
    """Draw click progress bars on ``stream`` (stderr) only if it is a terminal."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(isatty and isatty())

    @contextmanager
    def phase(self, label: str, total: int) -> Iterator[Advance]:
        """Show one bar of ``total`` steps for the duration of the block."""
        if not self.enabled or total <= 0:
            yield lambda done: None
            return
        with click.progressbar(length=total, label=label, file=self.stream, show_pos=True,
                               show_eta=True, width=30) as bar:
            yield bar.update
