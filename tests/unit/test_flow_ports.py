"""Ports: clocks, one-time claims, and the in-memory user directory against the real one."""

from __future__ import annotations

import inspect
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from idp_extension.flows.ports import (
    ClaimsUnavailable, ManualClock, MemoryClaims, OneTimeClaims, RedisClaims, SystemClock,
    UserDirectoryPort, claims_from_uri,
)
from idp_extension.gateway.errors import GatewayError, KeycloakUnavailable
from tests.support.memory_users import InMemoryUserDirectory
from idp_extension.gateway.users import ACTIVATION_STATE, PasswordRejected, UserDirectory
from idp_extension.payroll import PayrollRecord

RECORD = PayrollRecord("850214065123", "SALMAH BINTI OSMAN", "salmah.osman@pahang.gov.my",
                       "Jabatan Pertanian", datetime(2026, 1, 5, 9, 30))


# -- clocks ----------------------------------------------------------------------------


def test_system_clock_is_utc_aware():
    now = SystemClock().now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)


def test_manual_clock_moves_only_when_told():
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    start, mono = clock.now(), clock.monotonic()

    clock.advance(minutes=30, seconds=1)
    clock.sleep(0.5)

    assert clock.now() - start == timedelta(minutes=30, seconds=1.5)
    assert clock.monotonic() - mono == pytest.approx(1801.5)
    assert clock.slept == [0.5]


def test_manual_clock_needs_a_timezone():
    with pytest.raises(ValueError):
        ManualClock(datetime(2026, 1, 1))


# -- claims ----------------------------------------------------------------------------


class FakeRedis:
    """The redis-py calls RedisClaims makes, with Redis's SET NX EX semantics."""

    def __init__(self, clock: ManualClock, down: bool = False) -> None:
        self.clock, self.down = clock, down
        self.keys: dict[str, tuple[bytes, float]] = {}

    def set(self, key, value, nx=False, ex=None):
        if self.down:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379")
        now = self.clock.monotonic()
        held = self.keys.get(key)
        if nx and held is not None and held[1] > now:
            return None
        self.keys[key] = (value, now + ex)
        return True

    def delete(self, key):
        if self.down:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379")
        self.keys.pop(key, None)

    def exists(self, key):
        if self.down:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379")
        held = self.keys.get(key)
        return int(held is not None and held[1] > self.clock.monotonic())


@pytest.fixture(params=["memory", "redis"])
def claims_and_clock(request):
    clock = ManualClock()
    if request.param == "memory":
        return MemoryClaims(clock.monotonic), clock
    return RedisClaims(FakeRedis(clock)), clock


def test_only_the_first_caller_wins_until_released(claims_and_clock):
    claims, _ = claims_and_clock
    assert isinstance(claims, OneTimeClaims)

    assert claims.claim("k", 60) is True
    assert claims.claim("k", 60) is False
    assert claims.claim("other", 60) is True
    claims.release("k")
    assert claims.claim("k", 60) is True


def test_is_claimed_reads_without_claiming(claims_and_clock):
    claims, _ = claims_and_clock

    assert claims.is_claimed("k") is False
    assert claims.is_claimed("k") is False  # asking claims nothing
    assert claims.claim("k", 60) is True
    assert claims.is_claimed("k") is True
    claims.release("k")
    assert claims.is_claimed("k") is False


def test_memory_claims_are_thread_safe():
    claims = MemoryClaims()
    barrier = threading.Barrier(32)
    wins: list[bool] = []

    def race() -> None:
        barrier.wait()
        wins.append(claims.claim("same", 60))

    threads = [threading.Thread(target=race) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert wins.count(True) == 1 and len(wins) == 32


def test_claims_expire_for_claim_and_is_claimed(claims_and_clock):
    claims, clock = claims_and_clock
    claims.claim("k", 10)
    clock.advance(9)
    assert claims.is_claimed("k") is True
    assert claims.claim("k", 10) is False
    clock.advance(1)
    assert claims.is_claimed("k") is False
    assert claims.claim("k", 10) is True


def test_redis_claims_use_a_prefixed_key_with_expiry():
    clock = ManualClock()
    redis = FakeRedis(clock)
    RedisClaims(redis).claim("k", 30)
    assert redis.keys["ispeks:claim:k"] == (b"1", clock.monotonic() + 30)


def test_redis_claims_refuse_with_503_when_redis_does_not_answer_and_release_quietly():
    claims = RedisClaims(FakeRedis(ManualClock(), down=True))
    with pytest.raises(ClaimsUnavailable) as raised:
        claims.claim("k", 30)
    assert raised.value.http_status == 503 and "6379" not in str(raised.value)
    claims.release("k")  # best effort: the claim expires on its own


def test_claims_from_uri():
    assert isinstance(claims_from_uri("memory://"), MemoryClaims)
    assert isinstance(claims_from_uri("memory:///"), MemoryClaims)
    redis_claims = claims_from_uri("redis://127.0.0.1:6399/2")  # connects lazily
    assert isinstance(redis_claims, RedisClaims)
    kwargs = redis_claims._client.connection_pool.connection_kwargs
    assert (kwargs["port"], kwargs["db"], kwargs["socket_timeout"]) == (6399, 2, 2.0)
    unix = claims_from_uri("redis+unix:///run/redis/redis.sock")
    assert unix._client.connection_pool.connection_kwargs["path"] == "/run/redis/redis.sock"
    with pytest.raises(ValueError, match="memory:// or a Redis URI"):
        claims_from_uri("memcached://127.0.0.1:11211")


# -- the in-memory directory -----------------------------------------------------------


def test_in_memory_directory_has_the_real_directorys_verbs_and_signatures():
    public = {name for name, _ in inspect.getmembers(UserDirectory, inspect.isfunction)
              if not name.startswith("_")}
    port = {name for name in dir(UserDirectoryPort) if not name.startswith("_")}
    assert public == port
    for name in public:
        real = inspect.signature(getattr(UserDirectory, name))
        assert inspect.signature(getattr(InMemoryUserDirectory, name)) == real, name
        assert inspect.signature(getattr(UserDirectoryPort, name)) == real, name
    assert isinstance(InMemoryUserDirectory(), UserDirectoryPort)


def test_register_pending_is_idempotent_and_enabled():
    directory = InMemoryUserDirectory()
    user, created = directory.register_pending(RECORD)
    again, created_again = directory.register_pending(RECORD)

    assert (created, created_again) == (True, False) and again == user
    assert user.enabled and user.activation_state == "pending"
    assert user.registration_date == "2026-01-05T09:30:00"
    assert directory.find(RECORD.user_id) == user
    assert directory.search(ACTIVATION_STATE, "pending") == [user]


def test_unknown_uuid_is_a_gateway_error_like_keycloaks_404():
    with pytest.raises(GatewayError) as caught:
        InMemoryUserDirectory().get("nope")
    assert not isinstance(caught.value, KeycloakUnavailable)


def test_policy_refuses_the_username_and_the_last_three_passwords():
    directory = InMemoryUserDirectory()
    user, _ = directory.register_pending(RECORD)
    with pytest.raises(PasswordRejected) as caught:
        directory.set_password(user.id, RECORD.user_id)
    assert "invalidPasswordNotUsernameMessage" in caught.value.policy_message

    for password in ("Satu#Kata-Laluan1", "Dua#Kata-Laluan22", "Tiga#Kata-Laluan3"):
        directory.set_password(user.id, password)
    for recent in ("Dua#Kata-Laluan22", "Tiga#Kata-Laluan3"):
        with pytest.raises(PasswordRejected) as caught:
            directory.set_password(user.id, recent)
        assert "invalidPasswordHistoryMessage" in caught.value.policy_message
    directory.set_password(user.id, "Empat#Kata-Laluan4")
    directory.set_password(user.id, "Satu#Kata-Laluan1")  # fourth back: allowed again
    assert directory.password_matches(user.id, "Satu#Kata-Laluan1")


def test_undeclared_attributes_are_dropped_silently():
    directory = InMemoryUserDirectory(declared_attributes={ACTIVATION_STATE, "registration_date"})
    user, _ = directory.register_pending(RECORD)
    updated = directory.update_attributes(user.id, {"typo_attribute": ["x"]})
    assert "typo_attribute" not in updated.attributes
    assert "department" not in updated.attributes


def test_outage_switch_and_planned_failures():
    directory = InMemoryUserDirectory()
    user, _ = directory.register_pending(RECORD)

    directory.unavailable = True
    with pytest.raises(KeycloakUnavailable):
        directory.find(RECORD.user_id)
    directory.unavailable = False

    directory.fail_next("update_attributes")
    with pytest.raises(KeycloakUnavailable):
        directory.update_attributes(user.id, {"department": ["X"]})
    assert directory.get(user.id).department == "Jabatan Pertanian"

    directory.fail_next("update_attributes", after_applying=True)
    with pytest.raises(KeycloakUnavailable):
        directory.update_attributes(user.id, {"department": ["X"]})
    assert directory.get(user.id).department == "X"

    directory.fail_next("get", GatewayError("boom"))
    with pytest.raises(GatewayError):
        directory.get(user.id)
    assert directory.get(user.id).id == user.id

    with pytest.raises(ValueError):
        directory.fail_next("no_such_verb")


def test_lockout_and_unlock():
    directory = InMemoryUserDirectory()
    user, _ = directory.register_pending(RECORD)
    directory.record_failed_logins(user.id, 3)
    assert directory.get(user.id).permanently_locked
    assert directory.failed_logins(user.id)["numFailures"] == 3

    unlocked = directory.unlock(user.id)

    assert unlocked.enabled and not unlocked.permanently_locked
    assert directory.failed_logins(user.id)["numFailures"] == 0


def test_threaded_work_returns_at_the_deadline_and_the_task_goes_on():
    from idp_extension.flows.ports import ThreadedWork

    work, release, done = ThreadedWork(threads=2), threading.Event(), threading.Event()

    def slow() -> None:
        release.wait(10)
        done.set()

    work.run(slow, within=0.05)
    assert not done.is_set()  # back while the task still waits
    release.set()
    assert done.wait(5)


def test_threaded_work_returns_as_soon_as_a_quick_task_is_done():
    from idp_extension.flows.ports import ThreadedWork

    ran = []
    started = time.monotonic()
    ThreadedWork().run(lambda: ran.append(1), within=5.0)
    assert ran == [1] and time.monotonic() - started < 2.0


@pytest.mark.parametrize("kind", ["threaded", "inline"])
def test_a_failing_task_is_logged_by_type_only_and_never_reaches_the_caller(kind, caplog):
    from idp_extension.flows.ports import InlineWork, ThreadedWork

    def failing() -> None:
        raise RuntimeError("https://sidecar/pahang/activation/link/SECRET-TOKEN")

    (ThreadedWork() if kind == "threaded" else InlineWork()).run(failing, within=5.0)
    assert "background task failed: RuntimeError" in caplog.text
    assert "SECRET-TOKEN" not in caplog.text
