"""A real Redis for the tests: Debian's ``redis-server`` on a free loopback port.

Started once per session, only if a test asks for it, with a data folder of its own and
no persistence; stopped by its own PID (never by name: other people's Redis servers
may run on the same machine). ``scripts/bootstrap`` installs ``redis-server``.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from idp_extension.keycloak_server import free_port
from tests.support.processes import stop_process

START_TIMEOUT = 20.0


@dataclass
class RedisServer:
    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = field(default=None, repr=False)
    _databases_given: int = field(default=0, repr=False)

    @property
    def uri(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def fresh_database_uri(self) -> str:
        """The URI of a database (1-15) no other test got: its counters stay its own.

        Tests that run a whole sidecar count real requests from 127.0.0.1; in one shared
        database one test's spent allowance would refuse the next test's requests.
        """
        if self._databases_given >= 15:
            raise RuntimeError("Redis has 16 databases: no fresh one left for this session")
        self._databases_given += 1
        return f"redis://127.0.0.1:{self.port}/{self._databases_given}"

    def start(self) -> "RedisServer":
        executable = shutil.which("redis-server") or "/usr/bin/redis-server"
        log = (self.data_dir / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [executable, "--bind", "127.0.0.1", "--port", str(self.port),
             "--dir", str(self.data_dir), "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}: "
                                   f"{(self.data_dir / 'redis.log').read_text()[-500:]}")
            try:
                if client.ping():
                    return self
            except redis.RedisError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server not answering after {START_TIMEOUT:.0f}s")

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.uri)

    def stop(self) -> None:
        """Stop this server by its own PID."""
        if self.process is None or self.process.poll() is not None:
            return
        stop_process(self.process, 10)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> RedisServer:
    """A real Redis on a free loopback port for the whole session."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()
