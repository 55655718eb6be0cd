"""The README's run command: ``ispeks-idp dev`` brings the whole stack up, twice; next to
the running stack, state IT's commands work as the README writes them; Ctrl-C (SIGINT to
its process group, as a terminal sends it, even where a shell started it with SIGINT
ignored) and SIGTERM, even while Keycloak is starting, stop every process it started."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from idp_extension.keycloak_server import free_port

START_TIMEOUT = 600
# Keycloak stops in about 2 s and gunicorn in about 1 s; dev stops them at once and
# kills what is still there after 10 s. Processes never signalled would stay for ever.
STOPPED_WITHIN = 40


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("ISPEKS_")}


def _dev_args(data_dir, ports) -> list[str]:
    return [sys.executable, "-m", "idp_extension.cli", "dev",
            "--data-dir", str(data_dir), "--pending-users", "2",
            "--keycloak-port", str(ports[0]), "--keycloak-management-port", str(ports[1]),
            "--sidecar-port", str(ports[2]), "--smtp-port", str(ports[3]),
            "--inbox-port", str(ports[4])]


class Dev:
    """``dev`` in a process group of its own (as a terminal runs it), read line by line."""

    def __init__(self, data_dir, ports, *extra: str, sigint_ignored: bool = False) -> None:
        args = _dev_args(data_dir, ports) + list(extra)
        if sigint_ignored:
            # As a shell without job control (a script's `scripts/dev &`) starts it.
            args = ["sh", "-c", "trap '' INT; exec \"$0\" \"$@\"", *args]
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True,
            env={**_env(), "PYTHONUNBUFFERED": "1"})
        self.lines: queue.Queue[str] = queue.Queue()
        # A thread reads the pipe: select() on a buffered text stream misses buffered lines.
        self.reader = threading.Thread(
            target=lambda: [self.lines.put(line) for line in self.process.stdout], daemon=True)
        self.reader.start()
        self.output = ""

    def read_until(self, text: str) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while text not in self.output:
            if self.process.poll() is not None and self.lines.empty():
                self.reader.join(timeout=30)
                if self.lines.empty():
                    raise AssertionError(f"dev exited before {text!r}:\n{self.output}")
            try:
                self.output += self.lines.get(timeout=max(deadline - time.monotonic(), 0.1))
            except queue.Empty:
                raise AssertionError(f"no {text!r} within {START_TIMEOUT}s:\n{self.output}") from None
        return self.output

    def finish(self) -> str:
        """Wait for dev to exit (killing its group if it hangs); return all it printed."""
        try:
            self.process.wait(timeout=STOPPED_WITHIN + 60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.reader.join(timeout=30)  # the pipe is closed: the reader ends
        while not self.lines.empty():
            self.output += self.lines.get()
        return self.output


def _processes() -> dict[int, tuple[int, str]]:
    """Every live process: pid -> (parent pid, start time), zombies left out."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        if fields[0] != "Z":
            found[int(entry.name)] = (int(fields[1]), fields[19])
    return found


def _descendants(pid: int) -> set[tuple[int, str]]:
    """``pid`` and every process below it, each as (pid, start time): a reused pid is not
    the same process."""
    live = _processes()
    tree, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        if parent in live:
            tree.add((parent, live[parent][1]))
            todo += [child for child, (ppid, _) in live.items() if ppid == parent]
    return tree


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _still_running(started: set[tuple[int, str]]) -> set[tuple[int, str]]:
    live = _processes()
    return {(pid, start) for pid, start in started if live.get(pid, (0, ""))[1] == start}


def _assert_all_gone(started: set[tuple[int, str]]) -> float:
    """Poll until none of ``started`` runs any more; return how long that took."""
    began = time.monotonic()
    while _still_running(started):
        assert time.monotonic() - began < STOPPED_WITHIN, (
            f"still running {STOPPED_WITHIN}s after the signal: "
            f"{[_command(pid)[:120] for pid, _ in _still_running(started)]}")
        time.sleep(0.2)
    return time.monotonic() - began


def _servers(started: set[tuple[int, str]]) -> list[str]:
    """Which servers are among ``started``: Keycloak's JVM, gunicorn (master, workers)."""
    names = set()
    for pid, _ in started:
        argv = _command(pid).split(" ")
        if argv[0].endswith("/java") or argv[0] == "java":
            names.add("java")
        if "gunicorn" in argv:
            names.add("gunicorn")
    return sorted(names)


@pytest.mark.timeout(2 * START_TIMEOUT)  # two whole stacks, one after the other
def test_dev_starts_everything_prints_urls_stops_on_ctrl_c_and_reuses_its_data(tmp_path):
    ports = [free_port() for _ in range(5)]

    # Started with SIGINT ignored, as a script's background job is: dev still takes
    # Ctrl-C (in a terminal it is not ignored in the first place).
    dev = Dev(tmp_path, ports, sigint_ignored=True)
    try:
        first = dev.read_until("Running. Press Ctrl-C")
        started = _descendants(dev.process.pid)
        servers = _servers(started)
        # State IT's command, next to the running stack, with only what dev printed.
        exports = dict(re.findall(r"^\s+export (ISPEKS_\w+)=(\S+)$", first, re.MULTILINE))
        listed = subprocess.run(
            [sys.executable, "-m", "idp_extension.cli", "users", "list", "--state", "pahang",
             "--pending"], capture_output=True, text=True, env={**_env(), **exports},
            timeout=120)
        # Ctrl-C in the terminal: SIGINT to the whole foreground process group.
        os.killpg(dev.process.pid, signal.SIGINT)
        stopped_in = _assert_all_gone(started)
    finally:
        first = dev.finish()
    print(f"Ctrl-C: every process of dev gone in {stopped_in:.1f}s")

    # What was started: dev itself, Keycloak's JVM, gunicorn (master and worker).
    assert servers == ["gunicorn", "java"], first
    assert dev.process.returncode == 0, first
    assert "Stopped." in first
    for state in ("pahang", "kelantan", "selangor", "melaka"):
        assert f"http://127.0.0.1:{ports[0]}/realms/{state}/" in first
        assert f"http://127.0.0.1:{ports[2]}/{state}/" in first
        # One random secret per state and client, where the CLI looks.
        for client in ("ispeks-sidecar", "ispeks-state-it"):
            path = tmp_path / "credentials" / state / f"{client}.secret"
            assert path.stat().st_mode & 0o777 == 0o600
    assert f"http://127.0.0.1:{ports[4]}/" in first
    # One active demo user per state, whose password the command prints.
    passwords = re.findall(r"active\s+(\d{12}).*password: (\S+)", first)
    assert len(passwords) == 4
    # The printed lines are all the CLI needs (non-default ports and folder here).
    assert exports == {"ISPEKS_KEYCLOAK_URL": f"http://127.0.0.1:{ports[0]}",
                       "ISPEKS_CREDENTIALS_DIR": str(tmp_path / "credentials")}
    assert listed.returncode == 0, listed.stdout + listed.stderr
    pending = re.findall(r"pending\s+(\d{12})", first)
    pahang_pending = [line.split("\t")[0] for line in listed.stdout.splitlines()]
    assert len(pahang_pending) == 2 and set(pahang_pending) <= set(pending)
    assert "2 pending user(s) in pahang." in listed.stderr

    # The second start reuses the data: same users, same passwords, no re-creation; with
    # --exit-when-ready it stops everything by itself once all is up.
    dev = Dev(tmp_path, ports, "--exit-when-ready")
    try:
        dev.read_until("State IT's commands")
        started = _descendants(dev.process.pid)
        servers = _servers(started)
    finally:
        second = dev.finish()
    _assert_all_gone(started)
    assert servers == ["gunicorn", "java"], second
    assert dev.process.returncode == 0, second
    assert "Stopped." in second
    assert re.findall(r"active\s+(\d{12}).*password: (\S+)", second) == passwords
    assert second.count("Realm ") == 4 and "no changes" in second


@pytest.mark.timeout(START_TIMEOUT)
def test_sigterm_while_keycloak_starts_stops_keycloak_too(tmp_path):
    dev = Dev(tmp_path, [free_port() for _ in range(5)])
    try:
        dev.read_until("Starting Keycloak")
        # Keycloak's JVM is up, not yet ready (a first start takes a minute or more).
        deadline = time.monotonic() + START_TIMEOUT
        while "java" not in _servers(started := _descendants(dev.process.pid)):
            assert "Keycloak:" not in dev.output and time.monotonic() < deadline, dev.output
            assert dev.process.poll() is None, dev.output
            time.sleep(0.2)
        dev.process.send_signal(signal.SIGTERM)  # to dev alone, as a service manager does
        _assert_all_gone(started)
    finally:
        output = dev.finish()
    assert "Stopped." in output
    assert "Keycloak:" not in output  # it was stopped while starting
