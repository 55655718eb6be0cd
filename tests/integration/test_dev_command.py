"""The README's run command: ``ispeks-idp dev`` brings the whole stack up, twice; next to
the running stack, state IT's commands work as the README writes them."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from idp_extension.keycloak_server import free_port

START_TIMEOUT = 600


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("ISPEKS_")}


def _dev_args(data_dir, ports) -> list[str]:
    return [sys.executable, "-m", "idp_extension.cli", "dev",
            "--data-dir", str(data_dir), "--pending-users", "2",
            "--keycloak-port", str(ports[0]), "--keycloak-management-port", str(ports[1]),
            "--sidecar-port", str(ports[2]), "--smtp-port", str(ports[3]),
            "--inbox-port", str(ports[4])]


def _run_dev(data_dir, ports) -> str:
    result = subprocess.run(_dev_args(data_dir, ports) + ["--exit-when-ready"],
                            capture_output=True, text=True, env=_env(), timeout=START_TIMEOUT)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _start_dev(data_dir, ports) -> tuple[subprocess.Popen, str]:
    """Start ``dev`` and read its output until it says it is running."""
    process = subprocess.Popen(_dev_args(data_dir, ports), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               env={**_env(), "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue[str] = queue.Queue()
    # A thread reads the pipe: select() on a buffered text stream misses buffered lines.
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout],
                              daemon=True)
    reader.start()
    output, deadline = "", time.monotonic() + START_TIMEOUT
    while "Running. Press Ctrl-C" not in output:
        assert process.poll() is None or not lines.empty(), output
        try:
            output += lines.get(timeout=max(deadline - time.monotonic(), 0.1))
        except queue.Empty:
            raise AssertionError(f"dev not running within {START_TIMEOUT}s:\n{output}") from None
    process.lines, process.reader = lines, reader  # the rest, for _stop_dev
    return process, output


def _stop_dev(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)
    process.reader.join(timeout=30)  # the pipe is closed: the reader ends
    rest = ""
    while not process.lines.empty():
        rest += process.lines.get()
    return rest


@pytest.mark.timeout(2 * START_TIMEOUT)  # two whole stacks, one after the other
def test_dev_starts_everything_prints_urls_and_reuses_its_data(tmp_path):
    ports = [free_port() for _ in range(5)]

    first = _run_dev(tmp_path, ports)
    process, second = _start_dev(tmp_path, ports)
    try:
        # State IT's command, next to the running stack, with only what dev printed.
        exports = dict(re.findall(r"^\s+export (ISPEKS_\w+)=(\S+)$", second, re.MULTILINE))
        listed = subprocess.run(
            [sys.executable, "-m", "idp_extension.cli", "users", "list", "--state", "pahang",
             "--pending"], capture_output=True, text=True, env={**_env(), **exports},
            timeout=120)
    finally:
        second += _stop_dev(process)

    for state in ("pahang", "kelantan", "selangor", "melaka"):
        assert f"http://127.0.0.1:{ports[0]}/realms/{state}/" in first
        assert f"http://127.0.0.1:{ports[2]}/{state}/" in first
        # One random secret per state and client, where the CLI looks.
        for client in ("ispeks-sidecar", "ispeks-state-it"):
            path = tmp_path / "credentials" / state / f"{client}.secret"
            assert path.stat().st_mode & 0o777 == 0o600
    assert f"http://127.0.0.1:{ports[4]}/" in first
    assert "Stopped." in first and "Stopped." in second
    # One active demo user per state, whose password the command prints...
    passwords = re.findall(r"active\s+(\d{12}).*password: (\S+)", first)
    assert len(passwords) == 4
    # ...and the second start reuses the data: same users, same passwords, no re-creation.
    assert re.findall(r"active\s+(\d{12}).*password: (\S+)", second) == passwords
    assert second.count("Realm ") == 4 and "no changes" in second
    # The printed lines are all the CLI needs (non-default ports and folder here).
    assert exports == {"ISPEKS_KEYCLOAK_URL": f"http://127.0.0.1:{ports[0]}",
                       "ISPEKS_CREDENTIALS_DIR": str(tmp_path / "credentials")}
    assert listed.returncode == 0, listed.stdout + listed.stderr
    pending = re.findall(r"pending\s+(\d{12})", first)
    pahang_pending = [line.split("\t")[0] for line in listed.stdout.splitlines()]
    assert len(pahang_pending) == 2 and set(pahang_pending) <= set(pending)
    assert "2 pending user(s) in pahang." in listed.stderr
