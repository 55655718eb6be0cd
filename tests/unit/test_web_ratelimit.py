"""Rate-limit keys (IPv6 by /64), soft per-ID limits, and refusing unshared state."""

from __future__ import annotations

import os

import pytest
from flask import Blueprint, request

from idp_extension.audit import MemoryAuditLog
from idp_extension.mail.sender import MemoryMailSender
from idp_extension.settings import Settings, SettingsError, load_settings
from idp_extension.shared_state import production_hints, storage_scheme, unshared_state_refusal
from idp_extension.tenants import load_tenants
from idp_extension.web import Services, create_app
from idp_extension.web.ratelimit import (
    LIMITER_KEY, PerIdLimits, client_network, limit_per_id, rate_limit,
)

SETTINGS = load_settings({})
TENANTS = load_tenants(SETTINGS.realm_templates_dir)
LIMITS = PerIdLimits("test", per_network="2 per hour", overall="5 per hour")


# -- keys ------------------------------------------------------------------------------


@pytest.mark.parametrize("address, key", [
    ("203.0.113.7", "203.0.113.7"),
    ("10.0.0.1", "10.0.0.1"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
    ("2001:DB8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
    ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
    ("::1", "::/64"),
    ("fe80::1%eth0", "fe80::/64"),
    ("::ffff:203.0.113.7", "203.0.113.7"),  # IPv4-mapped: the IPv4 address
    ("::ffff:cb00:7107", "203.0.113.7"),
    (" 198.51.100.2 ", "198.51.100.2"),
    ("not-an-address", "not-an-address"),
    ("", "127.0.0.1"),
    (None, "127.0.0.1"),
])
def test_client_network_keys_ipv4_by_address_and_ipv6_by_its_64(address, key):
    assert client_network(address) == key


def limited_blueprint() -> Blueprint:
    bp = Blueprint("limited", __name__, url_prefix="/limited")

    @bp.post("/address")
    @rate_limit("2 per minute")
    def by_address():
        return "ok"

    @bp.post("/id")
    @limit_per_id(LIMITS, lambda: "id:" + request.form.get("id", ""))
    def by_id():
        return "ok"

    return bp


def _app(settings: Settings = SETTINGS):
    app = create_app(settings, tenants=TENANTS, realm_blueprints=[limited_blueprint()],
                     services=Services(audit=MemoryAuditLog(), mail=MemoryMailSender()))
    app.config["WTF_CSRF_ENABLED"] = False
    return app


def test_limits_per_address_count_an_ipv6_64_as_one_client():
    client = _app().test_client()

    def post(address: str) -> int:
        return client.post("/pahang/limited/address",
                           environ_base={"REMOTE_ADDR": address}).status_code

    assert [post("2001:db8:9:9::1"), post("2001:db8:9:9::2")] == [200, 200]
    assert post("2001:db8:9:9:abcd::3") == 429  # same /64, new interface id
    assert post("2001:db8:9:a::1") == 200  # the next /64
    assert [post("::ffff:192.0.2.1"), post("192.0.2.1"), post("192.0.2.1")] == [200, 200, 429]


def test_per_id_limits_are_per_network_first_then_overall():
    client = _app().test_client()

    def post(user_id: str, address: str) -> int:
        return client.post("/pahang/limited/id", data={"id": user_id},
                           environ_base={"REMOTE_ADDR": address}).status_code

    assert [post("a", "192.0.2.1") for _ in range(4)] == [200, 200, 429, 429]
    assert post("b", "192.0.2.1") == 200  # another ID from the same network
    # Refused requests did not count: three more networks fill the ceiling of 5.
    assert [post("a", f"198.51.100.{n}") for n in range(3)] == [200, 200, 200]
    assert post("a", "198.51.100.99") == 429
    assert post("b", "198.51.100.99") == 200


def test_a_switched_off_limiter_counts_no_id_either():
    app = _app()
    app.extensions[LIMITER_KEY].enabled = False
    client = app.test_client()

    statuses = [client.post("/pahang/limited/id", data={"id": "a"},
                            environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code
                for _ in range(4)]

    assert statuses == [200, 200, 200, 200]


def test_per_id_limits_are_not_checked_on_other_methods():
    calls = []
    bp = Blueprint("both", __name__)

    @bp.route("/both", methods=["GET", "POST"])
    @limit_per_id(PerIdLimits("t", "1 per hour", "1 per hour"), lambda: calls.append(1) or "k")
    def both():
        return "ok"

    app = create_app(SETTINGS, tenants=TENANTS, realm_blueprints=[bp],
                     services=Services(audit=MemoryAuditLog(), mail=MemoryMailSender()))
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    assert [client.get("/pahang/both").status_code for _ in range(3)] == [200, 200, 200]
    assert calls == []
    assert [client.post("/pahang/both").status_code for _ in range(2)] == [200, 429]


def test_per_id_limits_count_in_memory_while_the_storage_does_not_answer(monkeypatch):
    app = _app()

    class Dead:
        def test(self, *args, **kwargs):
            raise ConnectionError("Error 111 connecting to redis:6379")

    limiter = app.extensions[LIMITER_KEY]
    monkeypatch.setattr(type(limiter), "limiter", property(lambda self: Dead()))
    client = app.test_client()
    statuses = [client.post("/pahang/limited/id", data={"id": "a"},
                            environ_base={"REMOTE_ADDR": "192.0.2.5"}).status_code
                for _ in range(3)]

    assert statuses == [200, 200, 429]


# -- settings and refusing memory:// where it cannot be shared -------------------------


def test_storage_uri_must_be_memory_or_redis():
    for uri in ("memory://", "redis://10.0.0.5:6379/0", "rediss://r.example:6380/1",
                "redis+unix:///run/redis/redis.sock"):
        assert load_settings({"ISPEKS_RATELIMIT_STORAGE_URI": uri}).ratelimit_storage_uri == uri
    with pytest.raises(SettingsError, match="ISPEKS_RATELIMIT_STORAGE_URI='memcached://x'"):
        load_settings({"ISPEKS_RATELIMIT_STORAGE_URI": "memcached://x"})
    with pytest.raises(ValueError):
        storage_scheme("127.0.0.1:6379")


def test_single_instance_is_a_declared_boolean():
    assert load_settings({}).single_instance is False
    assert load_settings({"ISPEKS_SINGLE_INSTANCE": "true"}).single_instance is True
    settings = Settings(single_instance=True)
    assert load_settings(settings.as_environment()).single_instance is True


DEV = Settings()
PRODUCTION_LIKE = [
    Settings(keycloak_url="https://sso.ispeks.example.gov.my"),
    Settings(keycloak_url="http://10.0.0.5:8080"),
    Settings(sidecar_public_url="https://sso.ispeks.example.gov.my/idp"),
]


def test_the_dev_stack_on_loopback_with_one_worker_may_count_in_memory():
    assert production_hints(DEV) == []
    assert production_hints(Settings(keycloak_url="http://localhost:8080")) == []
    assert production_hints(Settings(keycloak_url="http://[::1]:8080")) == []
    assert unshared_state_refusal(DEV) is None
    assert unshared_state_refusal(DEV, workers=1) is None


def test_memory_is_refused_for_several_gunicorn_workers():
    message = unshared_state_refusal(DEV, workers=4)

    assert message and "\n" not in message
    assert message.startswith("ISPEKS_RATELIMIT_STORAGE_URI=memory://")
    assert "4 gunicorn workers" in message and "redis://" in message
    assert "--workers 1" in message


@pytest.mark.parametrize("settings", PRODUCTION_LIKE)
def test_memory_is_refused_for_production_looking_settings_unless_single_instance(settings):
    message = unshared_state_refusal(settings)

    assert message and "\n" not in message
    assert "ISPEKS_RATELIMIT_STORAGE_URI" in message and "redis://" in message
    assert "ISPEKS_SINGLE_INSTANCE=true" in message
    single = settings.with_overrides(single_instance=True)
    assert unshared_state_refusal(single) is None
    assert unshared_state_refusal(single, workers=2) is not None  # still two processes


@pytest.mark.parametrize("settings", [DEV, *PRODUCTION_LIKE])
def test_redis_is_never_refused(settings):
    shared = settings.with_overrides(ratelimit_storage_uri="redis://10.0.0.7:6379/0")
    assert unshared_state_refusal(shared, workers=8) is None


def test_redis_without_its_client_library_is_refused_in_one_line(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "redis" else real(name, *a))
    shared = DEV.with_overrides(ratelimit_storage_uri="redis://10.0.0.7:6379/0")

    message = unshared_state_refusal(shared, workers=2)
    assert message and "\n" not in message and "pip install '.[production]'" in message


# -- deploy/gunicorn.conf.py: the master refuses before any worker starts ---------------


def _gunicorn_conf() -> dict:
    import runpy
    from pathlib import Path

    return runpy.run_path(str(Path(__file__).resolve().parents[2] / "deploy" / "gunicorn.conf.py"))


class _Server:
    def __init__(self, workers: int) -> None:
        self.cfg = type("Cfg", (), {"workers": workers})()
        self.pidfile = None


def test_gunicorn_conf_runs_several_workers_and_refuses_them_memory_storage(monkeypatch):
    conf = _gunicorn_conf()
    for name in [n for n in os.environ if n.startswith("ISPEKS_")]:
        monkeypatch.delenv(name)
    assert conf["workers"] >= 2

    with pytest.raises(SystemExit) as exited:
        conf["on_starting"](_Server(conf["workers"]))
    message = str(exited.value.code)
    assert message.startswith("Error: ISPEKS_RATELIMIT_STORAGE_URI=memory://")
    assert "\n" not in message

    conf["on_starting"](_Server(1))  # the dev stack's single worker
    monkeypatch.setenv("ISPEKS_RATELIMIT_STORAGE_URI", "redis://10.0.0.7:6379/0")
    conf["on_starting"](_Server(8))


def test_gunicorn_conf_names_a_malformed_storage_uri(monkeypatch):
    monkeypatch.setenv("ISPEKS_RATELIMIT_STORAGE_URI", "10.0.0.7:6379")
    with pytest.raises(SystemExit) as exited:
        _gunicorn_conf()["on_starting"](_Server(1))
    assert "ISPEKS_RATELIMIT_STORAGE_URI='10.0.0.7:6379'" in str(exited.value.code)
