"""What the Keycloak benchmarks share: a throw-away Keycloak, fast synthetic people, CPU.

``bench_keycloak()`` starts one Keycloak (dev-file H2) in a temporary folder with a
bootstrap client of its own, applies the states' realms, yields the settings that point
at it, and stops it. ``fast_people()`` makes N distinct payroll records without random
draws (100,000 in a second). ``ServerCpu`` reads the Keycloak JVM's CPU time from /proc
and ``Measured`` times one step with it: on a shared machine wall-clock rates move with
the load, CPU per operation much less.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Iterator

from bench.prodlike import load_note
from idp_extension.demo_users import DEPARTMENTS, FATHER_NAMES, GIVEN_NAMES, PLACE_CODES
from idp_extension.keycloak_server import (
    KEYCLOAK_VERSION, KeycloakDistribution, KeycloakServer, find_java_home, free_port,
)
from idp_extension.payroll import PayrollRecord, normalise_mykad
from idp_extension.realms.apply import apply_realm
from idp_extension.settings import Settings, load_settings
from idp_extension.tenants import Tenant

ADMIN_CLIENT = "bench-bootstrap"
BIRTH_SPAN_DAYS = 365 * 40  # born 1960-1999
FEMALE = {"AMINAH", "HARLINA", "JAMILAH", "LATIFAH", "NURUL AIN", "SALMAH", "WARDAH"}


@dataclass(frozen=True)
class BenchKeycloak:
    server: KeycloakServer
    settings: Settings  # the base settings pointed at this server and its admin client
    folder: Path  # the throw-away folder (Keycloak's data is in keycloak/)
    java_home: Path

    def cpu(self) -> "ServerCpu":
        return ServerCpu(self.server)

    def describe(self, state: str) -> str:
        """One line naming what runs: versions, the machine's load, the realm."""
        return (f"Keycloak {KEYCLOAK_VERSION} (dev-file H2, -Xmx1g) on JDK "
                f"{self.java_home.name}; {load_note()}; realm {state}")


@contextlib.contextmanager
def bench_keycloak(*states: str, base: Settings | None = None, timeout: float = 270.0,
                   **overrides) -> Iterator[BenchKeycloak]:
    """Start Keycloak in a temporary folder, apply ``states``' realms, stop it at the end.

    ``overrides`` are more settings (an SMTP port, a secret key, ...)."""
    base = base or load_settings()
    secret = secrets.token_urlsafe(24)
    java_home = find_java_home(base.java_home)
    with tempfile.TemporaryDirectory(prefix="ispeks-bench-") as tmp:
        folder = Path(tmp)
        server = KeycloakServer(
            distribution=KeycloakDistribution(base.cache_dir), data_dir=folder / "keycloak",
            admin_client_id=ADMIN_CLIENT, admin_client_secret=secret,
            http_port=free_port(), management_port=free_port(),
            themes_dir=base.themes_dir, java_home=str(java_home),
        ).start(timeout=timeout)
        try:
            settings = base.with_overrides(keycloak_url=server.url, admin_client_id=ADMIN_CLIENT,
                                           admin_client_secret=secret,
                                           credentials_dir=folder / "credentials", **overrides)
            for state in states:
                apply_realm(settings, state)
            yield BenchKeycloak(server, settings, folder, Path(java_home))
        finally:
            server.stop()


def fast_people(tenant: Tenant, count: int, offset: int = 0) -> list[PayrollRecord]:
    """Return ``count`` distinct made-up people, fast (no random draws, no validation).

    Person ``i`` is born on day ``i mod span`` and gets serial ``i div span``, so IDs
    never repeat below 146 million people.
    """
    place = PLACE_CODES.get(tenant.realm, "14")
    domain = tenant.email_domains[0]
    mail_domain = domain if domain.count(".") >= 2 else f"{tenant.realm}.{domain}"
    start = date(1960, 1, 1)
    people = []
    for i in range(offset, offset + count):
        born = start + timedelta(days=i % BIRTH_SPAN_DAYS)
        given = GIVEN_NAMES[i % len(GIVEN_NAMES)]
        father = FATHER_NAMES[(i // len(GIVEN_NAMES)) % len(FATHER_NAMES)]
        people.append(PayrollRecord(
            user_id=f"{born:%y%m%d}{place}{i // BIRTH_SPAN_DAYS:04d}",
            name=f"{given} {'BINTI' if given in FEMALE else 'BIN'} {father}",
            email=f"{given.split()[0].lower()}.{i}@{mail_domain}",
            department=DEPARTMENTS[i % len(DEPARTMENTS)],
            registration_date=datetime(2026, 1, 1, 9, 0) + timedelta(minutes=i),
        ))
    return people


def check_ids(people: list[PayrollRecord]) -> None:
    """Fail early if the fast generator made an ID the importer would reject."""
    step = max(1, len(people) // 1000)
    for person in people[::step] + people[-1:]:
        normalise_mykad(person.user_id)
    assert len({p.user_id for p in people}) == len(people)


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


class ServerCpu:
    """CPU seconds used so far by the Keycloak JVM (a child of kc.sh), from /proc."""

    def __init__(self, server: KeycloakServer) -> None:
        self._tick = os.sysconf("SC_CLK_TCK")
        self._pids = [server.process.pid] + self._children(server.process.pid)

    @staticmethod
    def _children(pid: int) -> list[int]:
        try:
            found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return []
        return [int(child) for child in found]

    def seconds(self) -> float:
        total = 0
        for pid in self._pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime + stime
        return total / self._tick


class Measured:
    """Wall time and server CPU of one step (``cpu``: a ServerCpu or prodlike.ProcessCpu)."""

    def __init__(self, cpu) -> None:
        self._cpu = cpu

    def __enter__(self) -> "Measured":
        self._wall, self._server = time.perf_counter(), self._cpu.seconds()
        self._client = time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._wall
        self.server_seconds = self._cpu.seconds() - self._server
        self.client_seconds = time.process_time() - self._client

    def busy_cores(self) -> float:
        """CPU cores kept busy by Keycloak and this process together, on average."""
        return (self.server_seconds + self.client_seconds) / self.seconds

    def per_user_ms(self, count: int) -> float:
        return 1000 * self.server_seconds / count
