"""The production services, each started on loopback from the files in ``deploy/``.

Used by ``ispeks-idp prod-like`` and ``tests/deploy``: PostgreSQL (a private cluster,
``deploy/postgres/create-database.sh``), Keycloak built and configured by
``deploy/keycloak/keycloak.conf``, Redis with ``deploy/redis/redis.conf``, the sidecar
under gunicorn with ``deploy/gunicorn.conf.py`` and nginx with
``deploy/nginx/ispeks.conf.template``. Every process runs in a session of its own and is
stopped (or killed, for failover drills) by its own process group, never by name.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import requests

from idp_extension.keycloak_server import (
    HEALTH_READY, KEYCLOAK_VERSION, find_java_home, management_url,
)
from idp_extension.settings import PROJECT_ROOT
from idp_extension.sidecar_process import environment_without_settings

DEPLOY_DIR = PROJECT_ROOT / "deploy"


class ServiceError(RuntimeError):
    """A service of the production topology could not be set up or started."""


def wait_until(check: Callable[[], bool], timeout: float, what: str,
               process: subprocess.Popen | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServiceError(f"{what}: exited with {process.returncode} (log: {log})")
        try:
            if check():
                return
        except (requests.RequestException, OSError):
            pass
        time.sleep(0.3)
    raise ServiceError(f"{what}: not ready after {timeout:.0f}s (log: {log})")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Process:
    """One child process in a session of its own (stop, kill -9, wait)."""

    name: str
    log_path: Path
    process: subprocess.Popen | None = field(default=None, repr=False)

    def spawn(self, args: list[str], env: Mapping[str, str], cwd: Path | None = None) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env=dict(env), cwd=cwd,
                start_new_session=True, stdin=subprocess.DEVNULL,
            )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """``kill -9`` the whole process group: a crash, not a shutdown."""
        if self.running:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 30.0) -> None:
        if not self.running:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


# -- PostgreSQL ----------------------------------------------------------------------------


def postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise ServiceError(f"PostgreSQL's {name} is missing: run scripts/bootstrap")
    return found[-1]


class _OneProcess:
    """Stopping and killing a service that runs as one ``Process`` (``self.process``)."""

    process: Process | None

    def stop(self) -> None:
        if self.process:
            self.process.stop()

    def kill(self) -> None:
        if self.process:
            self.process.kill()


@dataclass
class PostgresCluster:
    """A private PostgreSQL cluster on loopback (Debian's server binaries, own data dir).

    PostgreSQL refuses to run as root: as root, the cluster belongs to the ``postgres``
    system user and its folder lives under /tmp (root's home is closed to others).
    """

    port: int
    data_root: Path | None = None
    superuser_password: str = ""
    process: Process | None = None

    def __post_init__(self) -> None:
        if self.data_root is None:
            self.data_root = Path(tempfile.mkdtemp(prefix="ispeks-postgres-"))
        self.data_dir = self.data_root / "data"
        self.log_path = self.data_root / "postgres.log"
        self._as_root = os.geteuid() == 0
        if self._as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(self.data_root, pw.pw_uid, pw.pw_gid)
            self.data_root.chmod(0o700)

    def _run(self, args: list[str], env: Mapping[str, str] | None = None,
             input_text: str | None = None) -> subprocess.CompletedProcess:
        full = (["runuser", "-u", "postgres", "--"] if self._as_root else []) + args
        env = {**os.environ, **(env or {})}
        result = subprocess.run(full, capture_output=True, text=True, env=env,
                                input=input_text, cwd="/")
        if result.returncode != 0:
            raise ServiceError(f"{' '.join(args[:2])} failed:\n{result.stdout}{result.stderr}")
        return result

    @property
    def socket_dir(self) -> Path:
        return self.data_root

    def client_env(self) -> dict[str, str]:
        """psql and pg_dump as the superuser, through the cluster's Unix socket."""
        return {"PGHOST": str(self.socket_dir), "PGPORT": str(self.port), "PGUSER": "postgres"}

    def init(self) -> "PostgresCluster":
        if not (self.data_dir / "PG_VERSION").exists():
            self._run([postgres_bin("initdb"), "-D", str(self.data_dir), "-U", "postgres",
                       "--auth-local=peer", "--auth-host=scram-sha-256", "-E", "UTF8",
                       "--locale=C.UTF-8"])
        return self

    def start(self, timeout: float = 60.0) -> "PostgresCluster":
        """Run ``postgres`` in the foreground of its own session (a child we can kill)."""
        self.init()
        self.process = Process("postgres", self.log_path)
        args = [postgres_bin("postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                "-k", str(self.socket_dir), "-c", "listen_addresses=127.0.0.1",
                "-c", "max_connections=200", "-c", "shared_buffers=64MB", "-c", "fsync=on"]
        if self._as_root:
            args = ["runuser", "-u", "postgres", "--"] + args
        self.process.spawn(args, os.environ, cwd=Path("/"))
        wait_until(self.ready, timeout, "PostgreSQL", self.process.process, self.log_path)
        return self

    def ready(self) -> bool:
        result = subprocess.run([postgres_bin("pg_isready"), "-q", "-h", str(self.socket_dir),
                                 "-p", str(self.port)], capture_output=True)
        return result.returncode == 0

    def stop(self) -> None:
        if self.process is not None:
            # SIGINT is PostgreSQL's "fast" shutdown; runuser passes it on.
            if self.process.running:
                os.killpg(self.process.pid, signal.SIGINT)
                try:
                    self.process.process.wait(60)
                except subprocess.TimeoutExpired:
                    self.process.kill()

    def restart(self) -> None:
        self.stop()
        self.start()

    def create_database(self, name: str, user: str, password: str) -> None:
        """Run ``deploy/postgres/create-database.sh`` as the superuser, as state IT does."""
        script = (DEPLOY_DIR / "postgres" / "create-database.sh").read_text()
        self._run(["sh", "-s"], env={**self.client_env(), "KEYCLOAK_DB_NAME": name,
                                     "KEYCLOAK_DB_USER": user, "KEYCLOAK_DB_PASSWORD": password},
                  input_text=script)

    def psql(self, database: str, sql: str) -> str:
        result = self._run([postgres_bin("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            "-d", database, "-c", sql], env=self.client_env())
        return result.stdout.strip()

    def dump_to(self, database: str, target: Path) -> None:
        """``pg_dump -Fc`` of one database: the backup in deploy/README.md."""
        args = [postgres_bin("pg_dump"), "-Fc", "-d", database]
        full = (["runuser", "-u", "postgres", "--"] if self._as_root else []) + args
        with open(target, "wb") as out:
            result = subprocess.run(full, stdout=out, stderr=subprocess.PIPE,
                                    env={**os.environ, **self.client_env()}, cwd="/")
        if result.returncode != 0:
            raise ServiceError(f"pg_dump failed: {result.stderr.decode()}")

    def restore(self, dump: Path, database: str, owner: str) -> None:
        """``pg_restore`` a dump into ``database`` (made by create-database.sh first)."""
        args = [postgres_bin("pg_restore"), "--no-owner", f"--role={owner}", "-d", database]
        full = (["runuser", "-u", "postgres", "--"] if self._as_root else []) + args
        with open(dump, "rb") as source:
            result = subprocess.run(full, stdin=source, capture_output=True,
                                    env={**os.environ, **self.client_env()}, cwd="/")
        if result.returncode != 0:
            raise ServiceError(f"pg_restore failed: {result.stderr.decode()}")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.data_root, ignore_errors=True)


# -- Keycloak ------------------------------------------------------------------------------


def _build_lines(conf: Path) -> list[str]:
    text = conf.read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


@dataclass
class ProductionBuild:
    """A copy of the shared, cached Keycloak home, built with deploy/keycloak/keycloak.conf.

    The shared distribution (``KeycloakDistribution``) stays untouched: the copy lives in
    ``<cache>/prod-like/keycloak-<version>-<hash of the source and the configuration>``.
    """

    cache_dir: Path
    source_home: Path
    conf: Path = DEPLOY_DIR / "keycloak" / "keycloak.conf"
    quarkus_properties: Path = DEPLOY_DIR / "keycloak" / "quarkus.properties"

    @property
    def home(self) -> Path:
        # The source home's path is part of the key: a distribution built differently
        # (e.g. with a provider jar) lives elsewhere and gets a copy of its own.
        lines = [str(self.source_home), *_build_lines(self.conf),
                 *_build_lines(self.quarkus_properties)]
        digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:12]
        return self.cache_dir / "prod-like" / f"keycloak-{KEYCLOAK_VERSION}-{digest}"

    def ensure(self, java_home: Path) -> Path:
        home = self.home
        marker = home / ".ispeks-prod-built"
        if marker.exists():
            return home
        partial = home.parent / f".copying-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        home.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(self.source_home, partial, symlinks=True,
                        ignore=shutil.ignore_patterns(".ispeks-built-*", "data"))
        shutil.copy(self.quarkus_properties, partial / "conf" / "quarkus.properties")
        env = {**os.environ, "JAVA_HOME": str(java_home), "KC_CONFIG_FILE": str(self.conf)}
        result = subprocess.run([str(partial / "bin/kc.sh"), "build"], capture_output=True,
                                text=True, env=env)
        if result.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise ServiceError(f"kc.sh build failed:\n{result.stdout}{result.stderr}")
        (partial / ".ispeks-prod-built").write_text("\n".join(_build_lines(self.conf)))
        if home.exists():  # another process built it meanwhile
            shutil.rmtree(partial, ignore_errors=True)
        else:
            partial.rename(home)
        return home


@dataclass
class KeycloakNode(_OneProcess):
    """One clustered Keycloak node (``kc.sh start --optimized``) on loopback."""

    name: str
    home: Path
    http_port: int
    management_port: int
    cluster_port: int
    hostname: str
    db_url: str
    db_user: str
    db_password: str
    admin_client_id: str
    admin_client_secret: str
    themes_dir: Path
    log_path: Path
    java_home: str = ""
    conf: Path = DEPLOY_DIR / "keycloak" / "keycloak.conf"
    process: Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def health_url(self) -> str:
        return management_url(self.management_port, HEALTH_READY)

    @property
    def metrics_url(self) -> str:
        return management_url(self.management_port, "/metrics")

    def start(self, timeout: float = 300.0) -> "KeycloakNode":
        java_home = find_java_home(self.java_home)
        env = {
            **os.environ,
            "JAVA_HOME": str(java_home),
            "KC_CONFIG_FILE": str(self.conf),
            "KC_DB_URL": self.db_url,
            "KC_DB_USERNAME": self.db_user,
            "KC_DB_PASSWORD": self.db_password,
            "KC_HOSTNAME": self.hostname,
            "KC_HTTP_HOST": "127.0.0.1",
            "KC_HTTP_PORT": str(self.http_port),
            "KC_HTTP_MANAGEMENT_PORT": str(self.management_port),
            "KC_CACHE_EMBEDDED_NETWORK_BIND_ADDRESS": "127.0.0.1",
            "KC_CACHE_EMBEDDED_NETWORK_BIND_PORT": str(self.cluster_port),
            "KC_SPI_THEME__FOLDER__DIR": str(self.themes_dir),
            "KC_BOOTSTRAP_ADMIN_CLIENT_ID": self.admin_client_id,
            "KC_BOOTSTRAP_ADMIN_CLIENT_SECRET": self.admin_client_secret,
            "JAVA_OPTS_APPEND": "-Xms256m -Xmx768m",
        }
        self.process = Process(self.name, self.log_path)
        self.process.spawn([str(self.home / "bin/kc.sh"), "start", "--optimized"], env)
        wait_until(lambda: requests.get(self.health_url, timeout=2).status_code == 200,
                   timeout, f"Keycloak {self.name}", self.process.process, self.log_path)
        return self

    def cluster_size(self) -> int:
        """Members in the newest cluster view this node logged (0: none yet)."""
        views = re.findall(r"ISPN000094: Received new cluster view for channel \S+: \[[^\]]*\] \((\d+)\)",
                           self.log_path.read_text(errors="replace"))
        return int(views[-1]) if views else 0


def free_cluster_port() -> int:
    """A port for JGroups: it also opens port + 50000 (failure detection), so stay low."""
    for _ in range(200):
        candidate = 7801 + int.from_bytes(os.urandom(2), "big") % 7000
        if not port_open(candidate) and not port_open(candidate + 50000):
            return candidate
    raise ServiceError("no free port for the cluster transport")


# -- Redis ---------------------------------------------------------------------------------


@dataclass
class RedisServer(_OneProcess):
    port: int
    data_dir: Path
    conf: Path = DEPLOY_DIR / "redis" / "redis.conf"
    process: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30.0) -> "RedisServer":
        server = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = Process("redis", self.data_dir / "redis.log")
        # The deploy file as is; only where it listens and writes differs on loopback.
        self.process.spawn([server, str(self.conf), "--port", str(self.port),
                            "--dir", str(self.data_dir), "--daemonize", "no",
                            "--logfile", "", "--bind", "127.0.0.1"], os.environ)
        wait_until(lambda: port_open(self.port), timeout, "Redis", self.process.process,
                   self.process.log_path)
        return self

    def restart(self) -> None:
        self.stop()
        self.start()


# -- the sidecar ---------------------------------------------------------------------------

SIDECAR_PREFIX = "/idp"


@dataclass
class SidecarInstance(_OneProcess):
    """One sidecar under gunicorn with ``deploy/gunicorn.conf.py``, mounted at /idp."""

    name: str
    port: int
    environment: Mapping[str, str]
    log_path: Path
    conf: Path = DEPLOY_DIR / "gunicorn.conf.py"
    process: Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "SidecarInstance":
        env = environment_without_settings("SCRIPT_NAME")
        # The environment of deploy/systemd/sidecar.env.example, nothing more: the /idp
        # prefix comes from ISPEKS_SIDECAR_PUBLIC_URL (web/prefix.py). No SCRIPT_NAME for
        # gunicorn: it would refuse the probes on the sidecar's own address (/readyz).
        env.update(self.environment)
        self.process = Process(self.name, self.log_path)
        self.process.spawn([sys.executable, "-m", "gunicorn", "-c", str(self.conf),
                            "--bind", self.address, "idp_extension.web.wsgi:app"], env)
        wait_until(lambda: requests.get(f"http://{self.address}{SIDECAR_PREFIX}/healthz",
                                        timeout=2).status_code == 200,
                   timeout, f"sidecar {self.name}", self.process.process, self.log_path)
        return self


# -- nginx ---------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def render_template(template: str, values: Mapping[str, str]) -> str:
    """envsubst with an explicit list: only ``${UPPER_CASE}`` names, each one required."""
    missing = sorted({name for name in _PLACEHOLDER.findall(template) if name not in values})
    if missing:
        raise ServiceError(f"nginx template needs {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def make_self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "tls.crt", folder / "tls.key"
    if not cert.exists():
        result = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
             "-keyout", str(key), "-out", str(cert)], capture_output=True, text=True)
        if result.returncode != 0:
            raise ServiceError(f"openssl failed: {result.stderr}")
        key.chmod(0o600)
    return cert, key


@dataclass
class NginxProxy:
    folder: Path
    values: Mapping[str, str]
    public_port: int
    template: Path = DEPLOY_DIR / "nginx" / "ispeks.conf.template"
    process: Process | None = None

    @property
    def access_log(self) -> Path:
        return Path(self.values["ACCESS_LOG"])

    def write_config(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "ispeks.conf").write_text(render_template(self.template.read_text(), self.values))
        # Request bodies over 16 KiB (a realm's JSON) go to temp files written by the
        # workers: as root they run as Debian's www-data, so the folder is theirs, under
        # /tmp (a test's own folder is closed to other users).
        temp = self._temp_dir()
        # The harness's own main file: on a real host this is Debian's /etc/nginx/nginx.conf,
        # which includes conf.d/ispeks.conf the same way.
        user = "user www-data;\n" if os.geteuid() == 0 else ""
        main = f"""{user}worker_processes 1;
pid {self.folder}/nginx.pid;
error_log {self.values['ERROR_LOG']} error;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {self.folder}/ispeks.conf;
}}
"""
        (self.folder / "nginx.conf").write_text(main)
        return self.folder / "nginx.conf"

    def _temp_dir(self) -> Path:
        pointer = self.folder / "temp-dir"
        if pointer.exists() and Path(pointer.read_text()).is_dir():
            return Path(pointer.read_text())
        temp = Path(tempfile.mkdtemp(prefix="ispeks-nginx-"))
        if os.geteuid() == 0:
            worker = pwd.getpwnam("www-data")
            os.chown(temp, worker.pw_uid, worker.pw_gid)
        pointer.write_text(str(temp))
        return temp

    def remove_temp_dir(self) -> None:
        pointer = self.folder / "temp-dir"
        if pointer.exists():
            shutil.rmtree(pointer.read_text(), ignore_errors=True)

    def start(self, timeout: float = 30.0) -> "NginxProxy":
        conf = self.write_config()
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        test = subprocess.run([nginx, "-t", "-q", "-p", str(self.folder), "-e",
                               self.values["ERROR_LOG"], "-c", str(conf)],
                              capture_output=True, text=True)
        if test.returncode != 0:
            raise ServiceError(f"nginx -t refused the configuration:\n{test.stderr}")
        self.process = Process("nginx", self.folder / "nginx.out")
        self.process.spawn([nginx, "-p", str(self.folder), "-e", self.values["ERROR_LOG"],
                            "-c", str(conf), "-g", "daemon off;"], os.environ)
        wait_until(lambda: port_open(self.public_port), timeout, "nginx", self.process.process,
                   self.process.log_path)
        return self

    def stop(self) -> None:
        if self.process:
            self.process.stop()
        self.remove_temp_dir()
