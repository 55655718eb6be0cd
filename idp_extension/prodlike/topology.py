"""The production topology on one machine, on loopback, from the files in ``deploy/``.

PostgreSQL, two clustered Keycloak nodes, Redis, two sidecars under gunicorn and nginx
with TLS in front, started in that order (``Topology.up``) and stopped in reverse
(``Topology.down``). The sidecars and the CLI get their configuration as ``ISPEKS_*``
variables built from one ``Settings`` value (``Topology.settings``), as a real host's
environment files would give it.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from idp_extension.keycloak_server import KeycloakDistribution, find_java_home, free_port
from idp_extension.prodlike.services import (
    SIDECAR_PREFIX,
    KeycloakNode,
    NginxProxy,
    PostgresCluster,
    ProductionBuild,
    RedisServer,
    ServiceError,
    SidecarInstance,
    free_cluster_port,
    make_self_signed_certificate,
    wait_until,
)
from idp_extension.realms.apply import apply_states
from idp_extension.settings import Settings
from idp_extension.tenants import list_states

DB_NAME = "keycloak"
DB_USER = "keycloak"


@dataclass
class Topology:
    """Everything production runs, on loopback; ``up()`` then ``down()``."""

    base: Settings
    state_dir: Path
    smtp_port: int
    public_port: int = field(default_factory=free_port)
    internal_port: int = field(default_factory=free_port)
    # Per client address: password posts a minute and the burst allowed above it.
    password_posts_per_minute: int = 600
    password_posts_burst: int = 30
    extra_redirect_uris: tuple[str, ...] = ()
    demo_portal: bool = False
    say: Callable[[str], None] = print

    def __post_init__(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.db_password = secrets.token_urlsafe(24)
        self.admin_client_id = "ispeks-bootstrap"
        self.admin_client_secret = secrets.token_urlsafe(32)
        self.postgres = PostgresCluster(port=free_port())
        self.nodes: list[KeycloakNode] = []
        self.redis = RedisServer(port=free_port(), data_dir=self.state_dir / "redis")
        self.sidecars: list[SidecarInstance] = []
        self.proxy: NginxProxy | None = None
        self.settings = self.base.with_overrides(
            keycloak_url=self.public_url,
            keycloak_admin_url=self.internal_url,
            admin_client_id=self.admin_client_id,
            admin_client_secret=self.admin_client_secret,
            # realms apply writes each state's random client secrets here (mode 0600).
            credentials_dir=self.state_dir / "credentials",
            secret_key=secrets.token_urlsafe(32),
            sidecar_public_url=f"{self.public_url}{SIDECAR_PREFIX}",
            smtp_host="127.0.0.1",
            smtp_port=self.smtp_port,
            ratelimit_storage_uri=self.redis.url,
            trusted_proxy_hops=1,
            audit_log_path=self.state_dir / "audit.jsonl",
            # The demo portal (a Portal iSPEKS stand-in) signs in through the proxy too:
            # with demo_portal on, render gives its client the exact callback.
            extra_redirect_uris=self.extra_redirect_uris,
            demo_portal=self.demo_portal,
        )
        self._started: list = []

    # -- addresses ------------------------------------------------------------------

    @property
    def public_url(self) -> str:
        return f"https://127.0.0.1:{self.public_port}"

    @property
    def internal_url(self) -> str:
        return f"http://127.0.0.1:{self.internal_port}"

    @property
    def certificate(self) -> Path:
        return self.state_dir / "tls" / "tls.crt"

    @property
    def access_log(self) -> Path:
        return self.state_dir / "nginx" / "access.log"

    @property
    def db_url(self) -> str:
        return f"jdbc:postgresql://127.0.0.1:{self.postgres.port}/{DB_NAME}"

    def sidecar_environment(self) -> dict[str, str]:
        """The sidecars' ``ISPEKS_*`` variables, plus the CA that signed the proxy's cert."""
        return {**self.settings.as_environment(), "REQUESTS_CA_BUNDLE": str(self.certificate)}

    # -- start and stop -------------------------------------------------------------

    def up(self) -> "Topology":
        try:
            self._up()
        except BaseException:
            self.down()
            raise
        self._write_state()
        return self

    def _up(self) -> None:
        self.say("PostgreSQL: initdb, start, deploy/postgres/create-database.sh ...")
        self.postgres.start()
        self._started.append(self.postgres)
        self.postgres.create_database(DB_NAME, DB_USER, self.db_password)

        self.say("Keycloak: a production build (deploy/keycloak/keycloak.conf) ...")
        java_home = find_java_home(self.base.java_home)
        shared = KeycloakDistribution(self.base.cache_dir).ensure(java_home)
        home = ProductionBuild(self.base.cache_dir, shared).ensure(java_home)
        for number in (1, 2):
            node = self.new_node(home, number)
            self.say(f"Keycloak node {number}: starting on {node.address} ...")
            node.start()
            self.nodes.append(node)
            self._started.append(node)
        wait_until(lambda: all(node.cluster_size() == 2 for node in self.nodes), 120,
                   "a Keycloak cluster of 2")

        make_self_signed_certificate(self.certificate.parent)
        sidecar_ports = [free_port(), free_port()]
        self.proxy = NginxProxy(self.state_dir / "nginx", self.proxy_values(sidecar_ports),
                                self.public_port)
        self.say(f"nginx: {self.public_url} (internal {self.internal_url}) ...")
        self.proxy.start()
        self._started.append(self.proxy)

        self.say("Realms: apply every state through the internal listener ...")
        apply_states(self.settings, list_states(self.settings.realm_templates_dir))

        self.say("Redis and two sidecars under gunicorn ...")
        self.redis.start()
        self._started.append(self.redis)
        for number, port in enumerate(sidecar_ports, start=1):
            sidecar = SidecarInstance(f"sidecar-{number}", port, self.sidecar_environment(),
                                      self.state_dir / f"sidecar-{number}.log")
            sidecar.start()
            self.sidecars.append(sidecar)
            self._started.append(sidecar)

    def new_node(self, home: Path, number: int, db_url: str | None = None) -> KeycloakNode:
        return KeycloakNode(
            name=f"keycloak-{number}", home=home, http_port=free_port(),
            management_port=free_port(), cluster_port=free_cluster_port(),
            hostname=self.public_url, db_url=db_url or self.db_url, db_user=DB_USER,
            db_password=self.db_password, admin_client_id=self.admin_client_id,
            admin_client_secret=self.admin_client_secret,
            themes_dir=self.base.themes_dir, java_home=self.base.java_home,
            log_path=self.state_dir / f"keycloak-{number}.log",
        )

    def proxy_values(self, sidecar_ports: list[int]) -> dict[str, str]:
        folder = self.state_dir / "nginx"
        return {
            "PUBLIC_LISTEN": f"127.0.0.1:{self.public_port}",
            "INTERNAL_LISTEN": f"127.0.0.1:{self.internal_port}",
            "SERVER_NAME": "127.0.0.1 localhost",
            "TLS_CERTIFICATE": str(self.certificate),
            "TLS_CERTIFICATE_KEY": str(self.certificate.with_name("tls.key")),
            "ACCESS_LOG": str(folder / "access.log"),
            "ERROR_LOG": str(folder / "error.log"),
            "KEYCLOAK_NODE_1": self.nodes[0].address,
            "KEYCLOAK_NODE_2": self.nodes[1].address,
            "SIDECAR_1": f"127.0.0.1:{sidecar_ports[0]}",
            "SIDECAR_2": f"127.0.0.1:{sidecar_ports[1]}",
            "PASSWORD_POSTS_PER_MINUTE": str(self.password_posts_per_minute),
            "PASSWORD_POSTS_BURST": str(self.password_posts_burst),
        }

    def down(self) -> None:
        for part in reversed(self._started):
            try:
                part.stop()
            except (OSError, ServiceError):
                pass
        self._started.clear()
        self.postgres.remove()
        (self.state_dir / "topology.json").unlink(missing_ok=True)
        (self.state_dir / "cli.env").unlink(missing_ok=True)

    def _write_state(self) -> None:
        """Process ids and addresses, for ``prod-like down`` from another shell."""
        state = {
            "pid": os.getpid(),
            "public_url": self.public_url,
            "internal_url": self.internal_url,
            "groups": [p.process.pid for p in self._started if getattr(p, "process", None)],
        }
        path = self.state_dir / "topology.json"
        path.write_text(json.dumps(state, indent=2))
        path.chmod(0o600)
