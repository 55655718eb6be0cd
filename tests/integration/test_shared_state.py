"""Counters and claims shared through a real Redis; memory:// refused where it cannot be.

Two sidecar apps stand for two instances (or workers): they share nothing but the Redis
server (``tests/support/redis_server.py``) and, as in production, one user directory.
Keycloak is not needed here, so the directory and the mailbox are the in-memory ones.
"""

from __future__ import annotations

import os
import random
import secrets
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from idp_extension.audit import MemoryAuditLog
from idp_extension.demo_users import synthetic_mykad, synthetic_people
from idp_extension.flows.ports import ManualClock, RedisClaims
from tests.support.memory_users import InMemoryUserDirectory
from idp_extension.keycloak_server import free_port
from idp_extension.mail.sender import MemoryMailSender
from idp_extension.realms.profile import attribute_names
from idp_extension.settings import load_settings
from idp_extension.tenants import load_tenants
from idp_extension.web import Services, create_app
from idp_extension.web import activation as activation_pages
from idp_extension.web.services import EXTENSION_KEY

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).resolve().parents[2]
GUNICORN_CONF = PROJECT / "deploy" / "gunicorn.conf.py"
BASE = load_settings({})
TENANTS = load_tenants(BASE.realm_templates_dir)
PER_NETWORK = int(activation_pages.REQUESTS_PER_ID.per_network.split()[0])


class Instances:
    """Two sidecar apps on one Redis and one directory, as two production instances."""

    def __init__(self, redis_uri: str, realm: str) -> None:
        self.settings = BASE.with_overrides(
            ratelimit_storage_uri=redis_uri, secret_key=secrets.token_urlsafe(32),
            sidecar_public_url="http://sidecar.test")
        self.directory = InMemoryUserDirectory(realm, declared_attributes=attribute_names())
        self.mail = MemoryMailSender()
        self.apps = []
        for _ in range(2):
            app = create_app(self.settings, tenants=TENANTS, services=Services(
                audit=MemoryAuditLog(), mail=self.mail, directories=lambda _: self.directory,
                clock=ManualClock()))  # claims: from the settings, i.e. in Redis
            app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
            self.apps.append(app)
        self.clients = [app.test_client() for app in self.apps]
        self.people = synthetic_people(TENANTS[realm], 2, seed=f"redis-{uuid.uuid4()}")

    def pending(self, index: int = 0):
        return self.directory.register_pending(self.people[index])[0]


def test_two_instances_share_the_counters_per_address_and_per_id(redis_server):
    sites = Instances(redis_server.uri, "pahang")
    user = sites.pending()
    address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.7"

    def ask(n: int, user_id: str, remote: str) -> int:
        return sites.clients[n % 2].post("/pahang/activation", data={"user_id": user_id},
                                         environ_base={"REMOTE_ADDR": remote}).status_code

    # The stranger's allowance for this ID is one, whichever instance answers.
    stranger = [ask(n, user.user_id, address) for n in range(PER_NETWORK + 1)]
    assert stranger == [200] * PER_NETWORK + [429]
    assert ask(0, user.user_id, "2001:db8:4:4::1") == 200  # the owner, elsewhere
    # Per address (10 a minute), across instances too.
    other_ids = [synthetic_mykad(random.Random(n), "06") for n in range(20)]
    used = PER_NETWORK + 1
    answers = [ask(n, other_ids[n], address) for n in range(10 - used + 1)]
    assert answers == [200] * (10 - used) + [429]
    keys = redis_server.client().keys("*")
    assert any(b"per-id" in key for key in keys), keys
    assert not any(user.user_id.encode() in key for key in keys), "no ID numbers in Redis"


def test_one_claim_wins_across_instances(redis_server):
    sites = Instances(redis_server.uri, "melaka")
    claims = [app.extensions[EXTENSION_KEY].services.claims for app in sites.apps]
    assert all(isinstance(c, RedisClaims) for c in claims)
    key = f"test:{uuid.uuid4()}"
    barrier = threading.Barrier(16)
    wins: list[bool] = []

    def race(n: int) -> None:
        barrier.wait()
        wins.append(claims[n % 2].claim(key, 60))

    threads = [threading.Thread(target=race, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert wins.count(True) == 1 and len(wins) == 16
    assert 0 < redis_server.client().ttl(f"ispeks:claim:{key}") <= 60

    # Through the pages: a second "Hantar" on the other instance within the double-click
    # window is taken for a repeat, and sends no second temporary password.
    user = sites.pending()
    form = {"user_id": user.user_id, "email": user.email}
    first = sites.clients[0].post("/melaka/first-login", data=form)
    again = sites.clients[1].post("/melaka/first-login", data=form)
    assert (first.status_code, again.status_code) == (303, 303)
    assert len(sites.mail.sent) == 1


def test_a_claim_seen_by_one_instance_is_seen_and_released_by_the_other(redis_server):
    first, second = (RedisClaims.from_uri(redis_server.uri) for _ in range(2))
    key = f"test:{uuid.uuid4()}"
    assert second.is_claimed(key) is False
    assert first.claim(key, 60) is True
    assert second.is_claimed(key) is True  # e.g. a sign-in recorded by the other sidecar
    second.release(key)  # logout on the other sidecar revokes it for both
    assert first.is_claimed(key) is False


# -- gunicorn: memory:// refused, Redis accepted ---------------------------------------


def _environment(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISPEKS_")}
    env.update({"ISPEKS_SECRET_KEY": secrets.token_urlsafe(32),
                "ISPEKS_KEYCLOAK_URL": f"http://127.0.0.1:{free_port()}",
                "ISPEKS_SMTP_PORT": str(free_port())})
    env.update(variables)
    return env


def _gunicorn(*options: str) -> list[str]:
    return [sys.executable, "-m", "gunicorn", *options, "--bind", f"127.0.0.1:{free_port()}",
            "--graceful-timeout", "5", "idp_extension.web.wsgi:app"]


def _refusal(tmp_path, options: list[str], **env: str) -> str:
    """Start gunicorn expecting it to stop at once; the one line that says why (no
    traceback)."""
    done = subprocess.run(_gunicorn(*options), env=_environment(**env), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    [line] = [l for l in done.stderr.splitlines() if "ISPEKS_RATELIMIT_STORAGE_URI" in l]
    return line


def test_gunicorn_with_several_workers_refuses_memory_storage_in_one_line(tmp_path):
    line = _refusal(tmp_path, ["-c", str(GUNICORN_CONF), "--workers", "3"],
                    ISPEKS_RATELIMIT_STORAGE_URI="memory://")
    assert "3 gunicorn workers" in line and "redis://" in line


def test_gunicorn_refuses_memory_storage_for_a_production_looking_setup(tmp_path):
    # One worker, no config file: the app itself refuses (the worker cannot know whether
    # other instances run), and gunicorn stops with "App failed to load".
    line = _refusal(tmp_path, ["--workers", "1"],
                    ISPEKS_KEYCLOAK_URL="https://sso.ispeks.example.gov.my")
    assert "ISPEKS_SINGLE_INSTANCE=true" in line and "redis://" in line


def test_gunicorn_workers_share_counters_in_redis(redis_server, tmp_path):
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "--workers", "2",
         "--threads", "4", "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5",
         "idp_extension.web.wsgi:app"],
        env=_environment(ISPEKS_RATELIMIT_STORAGE_URI=redis_server.fresh_database_uri()),
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "gunicorn not serving"
            time.sleep(0.2)
        # 30 link opens a minute per address: counted once for both workers, new
        # connections each time so that either worker may answer.
        limit = int(activation_pages.LINKS_PER_ADDRESS.split()[0])
        statuses = [requests.get(f"{base}/pahang/activation/link/not-a-token",
                                 headers={"Connection": "close"}, timeout=10).status_code
                    for _ in range(limit + 1)]
        assert 429 not in statuses[:limit] and statuses[limit] == 429, statuses
    finally:
        os.killpg(process.pid, 15)
        process.wait(20)
        log.close()
