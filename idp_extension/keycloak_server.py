"""Obtain, build, start and stop the real Keycloak server.

One module for the dev command, the tests and the benchmarks. The pinned distribution
(``org.keycloak:keycloak-quarkus-dist``) is fetched from Maven Central with
``mvn dependency:copy`` into a cache outside git, unpacked, and built once
(``kc.sh build``) with health checks and the dev-file database. Each run then does
``kc.sh start --optimized`` on loopback with its own data folder, so the dev stack and
every test session have separate databases while sharing one build.

The first start of a data folder creates the master realm with a bootstrap admin
*service account* (client credentials), which the provisioning code uses.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

KEYCLOAK_VERSION = "26.7.3"
MAVEN_ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{KEYCLOAK_VERSION}:tar.gz"
# Build-time options; changing them invalidates the cached build.
BUILD_OPTIONS = ("--health-enabled=true", "--metrics-enabled=true", "--db=dev-file")
PREFERRED_JAVA = 21
MINIMUM_JAVA = 17


class KeycloakServerError(RuntimeError):
    """Keycloak could not be obtained, built or started."""


def free_port() -> int:
    """Return a TCP port on loopback that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _java_major(java: Path) -> int:
    try:
        out = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return 0
    match = re.search(r'version "(\d+)', out)
    return int(match.group(1)) if match else 0


def find_java_home(explicit: str = "") -> Path:
    """Pick a JDK: ``explicit`` if given, else the newest 21+ found, else 17+."""
    if explicit:
        return Path(explicit)
    candidates: list[Path] = []
    jvm_root = Path("/usr/lib/jvm")
    if jvm_root.is_dir():
        candidates += [p for p in sorted(jvm_root.iterdir()) if (p / "bin/java").exists()]
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path).resolve().parent.parent)
    ranked = sorted(
        ((_java_major(c / "bin/java"), c) for c in candidates), key=lambda item: -item[0]
    )
    for major, home in ranked:
        if major >= MINIMUM_JAVA:
            return home
    raise KeycloakServerError(f"no JDK {MINIMUM_JAVA}+ found (looked in {jvm_root} and PATH)")


@dataclass
class KeycloakDistribution:
    """The cached, built Keycloak distribution shared by every run on this machine."""

    cache_dir: Path
    version: str = KEYCLOAK_VERSION

    @property
    def home(self) -> Path:
        return self.cache_dir / "keycloak" / f"keycloak-{self.version}"

    @property
    def archive(self) -> Path:
        return self.cache_dir / "downloads" / f"keycloak-quarkus-dist-{self.version}.tar.gz"

    def _build_marker(self, java_home: Path) -> Path:
        return self.home / f".ispeks-built-{_java_major(java_home / 'bin/java')}"

    def ensure(self, java_home: Path) -> Path:
        """Download, unpack and build if not done yet; return KC_HOME."""
        if not self.archive.exists():
            self._download()
        if not (self.home / "bin/kc.sh").exists():
            self._unpack()
        marker = self._build_marker(java_home)
        if not marker.exists() or marker.read_text() != " ".join(BUILD_OPTIONS):
            self._build(java_home)
            marker.write_text(" ".join(BUILD_OPTIONS))
        return self.home

    def _download(self) -> None:
        self.archive.parent.mkdir(parents=True, exist_ok=True)
        mvn = shutil.which("mvn")
        if not mvn:
            raise KeycloakServerError("Maven (mvn) is needed to fetch Keycloak; install it")
        result = subprocess.run(
            [mvn, "-q", "-B", "dependency:copy", f"-Dartifact={MAVEN_ARTIFACT}",
             f"-DoutputDirectory={self.archive.parent}"],
            capture_output=True, text=True, cwd=self.archive.parent,
        )
        if result.returncode != 0 or not self.archive.exists():
            raise KeycloakServerError(
                f"mvn dependency:copy {MAVEN_ARTIFACT} failed:\n{result.stdout}{result.stderr}"
            )

    def _unpack(self) -> None:
        target = self.home.parent
        target.mkdir(parents=True, exist_ok=True)
        partial = target / f".unpacking-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        with tarfile.open(self.archive) as archive:
            archive.extractall(partial, filter="data")
        # Rename into place so that an interrupted unpack never looks complete.
        (partial / self.home.name).rename(self.home)
        shutil.rmtree(partial, ignore_errors=True)
        (self.home / "bin/kc.sh").chmod(0o755)

    def _build(self, java_home: Path) -> None:
        env = {**os.environ, "JAVA_HOME": str(java_home)}
        result = subprocess.run(
            [str(self.home / "bin/kc.sh"), "build", *BUILD_OPTIONS],
            capture_output=True, text=True, env=env,
        )
        if result.returncode != 0:
            raise KeycloakServerError(f"kc.sh build failed:\n{result.stdout}{result.stderr}")


@dataclass
class KeycloakServer:
    """One running Keycloak process on loopback, with its own data folder."""

    distribution: KeycloakDistribution
    data_dir: Path
    admin_client_id: str
    admin_client_secret: str
    http_port: int = 8080
    management_port: int = 9000
    themes_dir: Path | None = None
    java_home: str = ""
    # Development: re-read theme files on every request, so edits show without a rebuild.
    dev_themes: bool = False
    log_path: Path | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)
    started_in_seconds: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}/health/ready"

    def command(self, kc_home: Path) -> list[str]:
        db_file = self.data_dir / "h2" / "keycloakdb"
        args = [
            str(kc_home / "bin/kc.sh"), "start", "--optimized",
            "--http-enabled=true", "--http-host=127.0.0.1", f"--http-port={self.http_port}",
            f"--http-management-port={self.management_port}",
            "--hostname-strict=false",
            f"--db-url=jdbc:h2:file:{db_file};NON_KEYWORDS=VALUE",
        ]
        if self.themes_dir is not None:
            args.append(f"--spi-theme--folder--dir={self.themes_dir}")
        if self.dev_themes:
            args += ["--spi-theme--cache-themes=false", "--spi-theme--cache-templates=false",
                     "--spi-theme--static-max-age=-1"]
        return args

    def start(self, timeout: float = 180.0) -> "KeycloakServer":
        """Start the server and wait until it reports ready."""
        java_home = find_java_home(self.java_home)
        kc_home = self.distribution.ensure(java_home)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "JAVA_HOME": str(java_home),
            # Only honoured when the master realm is first created in this data folder.
            "KC_BOOTSTRAP_ADMIN_CLIENT_ID": self.admin_client_id,
            "KC_BOOTSTRAP_ADMIN_CLIENT_SECRET": self.admin_client_secret,
            # A 1 GiB heap fits dev, tests and the 100k-user benchmark; the caller's own
            # JAVA_OPTS_APPEND comes last, so its -Xmx wins (the JVM takes the last one).
            "JAVA_OPTS_APPEND": " ".join(
                ["-Xms256m", "-Xmx1g", os.environ.get("JAVA_OPTS_APPEND", "")]).strip(),
        }
        log = open(self.log_path or self.data_dir / "keycloak.log", "ab")
        began = time.monotonic()
        # A session of its own, so that stop() can signal kc.sh and the JVM together.
        self.process = subprocess.Popen(
            self.command(kc_home), stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )
        log.close()
        self._wait_ready(timeout)
        self.started_in_seconds = time.monotonic() - began
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise KeycloakServerError(
                    f"Keycloak exited with {self.process.returncode}; see {self.data_dir}/keycloak.log"
                )
            try:
                if requests.get(self.health_url, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()
        raise KeycloakServerError(f"Keycloak not ready after {timeout:.0f}s")

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server by its own process id (and its process group)."""
        if self.process is None or self.process.poll() is not None:
            return
        pgid = self.process.pid  # start_new_session made it the group leader
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.process.wait(10)

    def __enter__(self) -> "KeycloakServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
