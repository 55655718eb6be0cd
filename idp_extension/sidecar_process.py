"""Run the sidecar under real gunicorn as a child process (dev stack, tests, benchmarks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from idp_extension.settings import Settings


def environment_without_settings(*also: str) -> dict[str, str]:
    """This process's environment without our settings (``ISPEKS_*``) and ``also``: what a
    child process starts from, so that it gets only the settings it is given."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ISPEKS_") and k not in also}


@dataclass
class SidecarProcess:
    settings: Settings
    port: int
    workers: int | None = None
    # Requests mostly wait (Keycloak, SMTP) and an activation request holds its thread
    # for at least its padding (0.35 s, so that decoys take as long as real sends): one
    # worker with T threads answers at most T / 0.35 such requests a second. 64 threads
    # take a burst of 50 at once without queueing (bench/activation_requests.py).
    threads: int = 64
    log_path: Path | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "SidecarProcess":
        """Start gunicorn with the settings passed as ISPEKS_* variables; wait for /healthz."""
        # Only these settings: none of ours (or systemd's credentials) from the parent.
        env = environment_without_settings("CREDENTIALS_DIRECTORY")
        env.update(self.settings.as_environment())
        # In-memory rate-limit and one-time-claim counters are per process: use one
        # worker unless a shared store (Redis) is configured.
        workers = self.workers or (1 if self.settings.ratelimit_storage_uri.startswith("memory") else 2)
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(workers), "--threads", str(self.threads),
             "--access-logfile", "-",
             # Emailed links carry their token in the path: mask it in the access log.
             "--logger-class", "idp_extension.web.access_log.RedactingLogger",
             "idp_extension.web.wsgi:app"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"sidecar not healthy after {timeout:.0f}s")

    def stop(self) -> None:
        """Stop gunicorn by its own pid (its workers follow the master)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
