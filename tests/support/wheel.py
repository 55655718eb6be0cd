"""Build the project's wheel and install it into a fresh venv outside the checkout.

Dependencies come from a wheelhouse in the project's cache (``<cache>/wheelhouse``),
filled from the package index the first time something is missing and then reused,
so that later runs install offline in seconds. Nothing of the checkout is importable
from the venv: it runs the wheel's own copy of the package and its data.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from idp_extension.settings import PROJECT_ROOT

# What a build must not pick up from the checkout (a developer's venv, old builds).
_NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "test-artifacts", "__pycache__",
    ".pytest_cache", "_data", "*.pyc", ".ispeks",
)
BUILD_REQUIREMENT = "setuptools>=68"


@dataclass(frozen=True)
class InstalledWheel:
    venv: Path
    wheel: Path

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name


def clean_environment(**extra: str) -> dict[str, str]:
    """The process environment without anything that points at the checkout or its venv."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ISPEKS_", "PIP_", "PYTHON", "VIRTUAL_ENV", "PROMETHEUS_"))}
    env.update(extra)
    return env


@contextmanager
def _locked(wheelhouse: Path):
    wheelhouse.mkdir(parents=True, exist_ok=True)
    with open(wheelhouse / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _pip(python: Path | str, args: list[str], wheelhouse: Path, *, offline: bool,
         cwd: Path) -> subprocess.CompletedProcess:
    env = clean_environment(PIP_FIND_LINKS=str(wheelhouse), PIP_DISABLE_PIP_VERSION_CHECK="1")
    if offline:
        env["PIP_NO_INDEX"] = "1"
    return subprocess.run([str(python), "-m", "pip", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def _offline_then_fill(python: Path | str, args: list[str], fill: list[str], wheelhouse: Path,
                       cwd: Path) -> None:
    """Run pip offline from the wheelhouse; if something is missing, download it and retry."""
    if _pip(python, args, wheelhouse, offline=True, cwd=cwd).returncode == 0:
        return
    with _locked(wheelhouse):
        fetched = _pip(sys.executable, ["download", "-q", "-d", str(wheelhouse), *fill],
                       wheelhouse, offline=False, cwd=cwd)
        for own in wheelhouse.glob("ispeks_idp-*"):  # pip copies the local wheel in too
            own.unlink()
    if fetched.returncode != 0:
        raise RuntimeError(f"pip download {fill} failed:\n{fetched.stderr[-3000:]}")
    result = _pip(python, args, wheelhouse, offline=True, cwd=cwd)
    if result.returncode != 0:
        raise RuntimeError(f"pip {args[0]} failed:\n{result.stderr[-3000:]}")


def build_and_install(workdir: Path, wheelhouse: Path) -> InstalledWheel:
    """Build the wheel from a copy of the checkout, install it in ``workdir/venv``."""
    source = workdir / "src"
    shutil.copytree(PROJECT_ROOT, source, ignore=_NOT_SOURCES)
    dist = workdir / "dist"
    _offline_then_fill(sys.executable, ["wheel", "-q", "--no-deps", "-w", str(dist), str(source)],
                       [BUILD_REQUIREMENT], wheelhouse, workdir)
    [wheel] = dist.glob("ispeks_idp-*.whl")
    shutil.rmtree(source)  # from here on only the wheel exists
    venv = workdir / "venv"
    # No pip of its own (this pip installs into it with --python): much less to do.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   env=clean_environment(), timeout=120)
    # With the production extra (the Redis client), as deploy/README.md installs it.
    target = f"{wheel}[production]"
    _offline_then_fill(sys.executable, ["--python", str(venv / "bin" / "python"), "install",
                                        "-q", "--no-compile", target],
                       [target], wheelhouse, workdir)
    return InstalledWheel(venv, wheel)
