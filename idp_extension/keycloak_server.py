"""Obtain, build, start and stop the real Keycloak server.

One module for the dev command, the tests and the benchmarks. The pinned distribution
(``org.keycloak:keycloak-quarkus-dist``) is fetched from Maven Central with
``mvn dependency:copy`` into a cache outside git; this project's providers
(``keycloak-providers/``, e.g. the ``ispeks-login`` authenticator) are built from source
with Maven; the distribution is unpacked with their jars in ``providers/`` and built
once (``kc.sh build``) with health checks and the dev-file database, into a home keyed
by the jars' checksums. Each run then does
``kc.sh start --optimized`` on loopback with its own data folder, so the dev stack and
every test session have separate databases while sharing one build.

The first start of a data folder creates the master realm with a bootstrap admin
*service account* (client credentials), which the provisioning code uses.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
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
# This project's Keycloak providers (Maven projects), built into every home.
PROVIDERS_DIR = Path(__file__).resolve().parent.parent / "keycloak-providers"
BUILD_RECORD = ".ispeks-build.json"


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
    """Pick a JDK: ``explicit`` if given, else the newest 17+ found with javac, else
    the newest 17+ runtime."""
    if explicit:
        return Path(explicit)
    candidates: list[Path] = []
    jvm_root = Path("/usr/lib/jvm")
    if jvm_root.is_dir():
        candidates += [p for p in sorted(jvm_root.iterdir()) if (p / "bin/java").exists()]
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path).resolve().parent.parent)
    # A JDK (javac builds the providers) before a JRE, then the newest.
    ranked = sorted(
        ((_java_major(c / "bin/java"), c) for c in candidates),
        key=lambda item: (not (item[1] / "bin/javac").exists(), -item[0]),
    )
    for major, home in ranked:
        if major >= MINIMUM_JAVA:
            return home
    raise KeycloakServerError(f"no JDK {MINIMUM_JAVA}+ found (looked in {jvm_root} and PATH)")


# Keycloak's readiness check, on its management interface.
HEALTH_READY = "/health/ready"


def management_url(port: int, path: str) -> str:
    """An endpoint (``HEALTH_READY``, ``/metrics``) of a Keycloak's management interface
    listening on loopback ``port``."""
    return f"http://127.0.0.1:{port}{path}"


def _sha256_file(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _rename_into_place(partial: Path, final: Path) -> None:
    """Move a finished ``partial`` to ``final``; if another process got there first, keep
    theirs (same inputs, same result) and drop ours."""
    try:
        partial.rename(final)
    except OSError:
        if not final.exists():
            raise
        if partial.is_dir():
            shutil.rmtree(partial, ignore_errors=True)
        else:
            partial.unlink(missing_ok=True)


@dataclass(frozen=True)
class ProviderSource:
    """A Keycloak provider of this project: a Maven project in ``keycloak-providers/``.

    ``ensure`` builds it with ``mvn -q -B package`` (Maven Central the first time, the
    local ``~/.m2`` after) in a scratch copy, so the source folder gets no ``target/``
    and concurrent builds do not meet, and caches the jar under ``cache_dir/providers``
    keyed by a digest of the sources and the JDK's major version.
    """

    source: Path

    @property
    def name(self) -> str:
        return self.source.name

    def digest(self) -> str:
        digest = hashlib.sha256()
        files = [self.source / "pom.xml", *sorted((self.source / "src").rglob("*"))]
        for path in files:
            if path.is_file():
                digest.update(path.relative_to(self.source).as_posix().encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
        return digest.hexdigest()

    def jar_path(self, cache_dir: Path, java_home: Path) -> Path:
        major = _java_major(java_home / "bin/java")
        return cache_dir / "providers" / f"{self.name}-{self.digest()[:16]}-java{major}.jar"

    def ensure(self, cache_dir: Path, java_home: Path) -> Path:
        """Return the built jar, building it first if this source was never built."""
        jar = self.jar_path(cache_dir, java_home)
        if jar.exists():
            return jar
        mvn = shutil.which("mvn")
        if not mvn:
            raise KeycloakServerError("Maven (mvn) is needed to build the Keycloak providers; "
                                      "run scripts/bootstrap")
        jar.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".build-{self.name}-", dir=jar.parent))
        try:
            shutil.copytree(self.source, scratch / self.name,
                            ignore=shutil.ignore_patterns("target"))
            result = subprocess.run(
                [mvn, "-q", "-B", "package"], cwd=scratch / self.name,
                capture_output=True, text=True,
                env={**os.environ, "JAVA_HOME": str(java_home)},
            )
            built = scratch / self.name / "target" / f"{self.name}.jar"
            if result.returncode != 0 or not built.exists():
                raise KeycloakServerError(
                    f"mvn package of {self.source} failed:\n{result.stdout}{result.stderr}")
            partial = jar.with_name(f".{jar.name}.{os.getpid()}")
            shutil.copyfile(built, partial)
            _rename_into_place(partial, jar)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return jar


def project_providers() -> tuple[ProviderSource, ...]:
    """Every provider folder of this repository (each holds a pom.xml)."""
    if not PROVIDERS_DIR.is_dir():
        return ()
    return tuple(ProviderSource(p) for p in sorted(PROVIDERS_DIR.iterdir())
                 if (p / "pom.xml").is_file())


@dataclass
class KeycloakDistribution:
    """The pinned Keycloak, built with this project's providers, cached per machine.

    The downloaded archive is shared. Each built home is keyed by what went into it (the
    providers' jar checksums, the build options and the JDK's major version):
    ``cache_dir/keycloak/keycloak-<version>-<key>``. It is unpacked, given the jars in
    ``providers/`` and built (``kc.sh build``) in a scratch folder, then renamed into
    place, so an interrupted build never looks complete and a home in use is never
    written to. A change to a provider's source makes a new home; old ones stay until
    deleted by hand.
    """

    cache_dir: Path
    version: str = KEYCLOAK_VERSION
    providers: tuple[ProviderSource, ...] = field(default_factory=project_providers)

    @property
    def archive(self) -> Path:
        return self.cache_dir / "downloads" / f"keycloak-quarkus-dist-{self.version}.tar.gz"

    def provider_jars(self, java_home: Path) -> list[Path]:
        """Build (if needed) and return this project's provider jars."""
        return [p.ensure(self.cache_dir, java_home) for p in self.providers]

    def build_key(self, java_home: Path, jars: list[Path]) -> dict:
        """What a built home depends on (written into it as .ispeks-build.json)."""
        return {
            "version": self.version,
            "java": _java_major(java_home / "bin/java"),
            "options": list(BUILD_OPTIONS),
            "providers": {jar.name: _sha256_file(jar) for jar in jars},
        }

    def home_for(self, key: dict) -> Path:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        return self.cache_dir / "keycloak" / f"keycloak-{self.version}-{digest}"

    def ensure(self, java_home: Path) -> Path:
        """Download, build the providers, unpack and build if not done yet; return KC_HOME."""
        jars = self.provider_jars(java_home)
        key = self.build_key(java_home, jars)
        home = self.home_for(key)
        if (home / BUILD_RECORD).exists():
            return home
        if not self.archive.exists():
            self._download()
        home.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".building-{home.name}-", dir=home.parent))
        try:
            with tarfile.open(self.archive) as archive:
                archive.extractall(scratch, filter="data")
            built = scratch / f"keycloak-{self.version}"
            (built / "bin/kc.sh").chmod(0o755)
            for jar in jars:
                shutil.copyfile(jar, built / "providers" / jar.name)
            self._build(built, java_home)
            # Written last: its presence is what "complete" means.
            (built / BUILD_RECORD).write_text(json.dumps(key, indent=2, sort_keys=True))
            _rename_into_place(built, home)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return home

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

    @staticmethod
    def _build(home: Path, java_home: Path) -> None:
        env = {**os.environ, "JAVA_HOME": str(java_home)}
        result = subprocess.run(
            [str(home / "bin/kc.sh"), "build", *BUILD_OPTIONS],
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
        return management_url(self.management_port, HEALTH_READY)

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

    def start(self, timeout: float = 270.0) -> "KeycloakServer":
        """Start the server and wait until it reports ready.

        The default wait fits a loaded machine yet stays under pytest's 300 s per-test
        timeout, so that a start too slow stops its own process rather than leave it.
        """
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


def main() -> None:
    """Fetch and build Keycloak with this project's providers (``scripts/bootstrap``)."""
    from idp_extension.settings import load_settings  # the only reader of the environment

    settings = load_settings()
    home = KeycloakDistribution(settings.cache_dir).ensure(find_java_home(settings.java_home))
    print(f"Keycloak {KEYCLOAK_VERSION} with the project's providers: {home}")


if __name__ == "__main__":
    main()
