"""Stop a server a test started, by its own PID (or its own process group), never by name."""

from __future__ import annotations

import os
import signal
import subprocess


def stop_process(process: subprocess.Popen, timeout: float = 15.0, *, group: bool = False) -> None:
    """SIGTERM, then SIGKILL if it has not ended within ``timeout`` seconds. ``group``: the
    signals go to the process group it leads (started with ``start_new_session=True``)."""
    def send(sig: int) -> None:
        if group:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)

    send(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        process.wait(5)
