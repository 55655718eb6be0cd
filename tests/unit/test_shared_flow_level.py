"""The shared flow level: a tenant-bound audit log, dates, IDs, and state IT's resend verb."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from argon2 import PasswordHasher

from idp_extension.audit import MemoryAuditLog, RealmAudit, for_realm
from idp_extension.demo_users import synthetic_people
from idp_extension.flows import activation, common, identifiers, phrases
from idp_extension.flows.activation import ActivationContext, resend_link
from idp_extension.flows.emailed_link import SendOutcome
from idp_extension.flows.ports import ManualClock, MemoryClaims
from tests.support.memory_users import InMemoryUserDirectory
from idp_extension.i18n import (
    format_email_date, format_expiry, format_page_date, format_page_time, parse_date,
)
from idp_extension.mail.errors import MailUnavailable
from idp_extension.mail.sender import MemoryMailSender
from idp_extension.realms.profile import attribute_names
from idp_extension.settings import Settings
from idp_extension.tenants import load_tenant
from idp_extension.flows.ports import public_pages

SECRET = "unit-test-secret-key-0123456789abcdef"


def test_a_realm_audit_names_its_realm_on_every_event():
    log = MemoryAuditLog()
    bound = for_realm(log, "pahang")
    bound.record("account:unlocked", subject="900101061234", reason="x")
    assert log.entries[-1]["realm"] == "pahang"
    assert log.entries[-1]["subject"] == "900101061234"
    assert for_realm(bound, "pahang") is bound
    rebound = for_realm(bound, "melaka")
    assert isinstance(rebound, RealmAudit) and rebound.log is log and rebound.realm == "melaka"
    with pytest.raises(TypeError):
        bound.record("account:unlocked", realm="melaka")  # type: ignore[call-arg]


def test_a_flow_context_binds_its_audit_log_and_mailer_to_the_tenant():
    tenant = load_tenant(Settings().realm_templates_dir, "pahang")
    log = MemoryAuditLog()
    ctx = ActivationContext(tenant=tenant, secret_key=SECRET,
                            urls=public_pages("https://x.test", "pahang"),
                            directory=InMemoryUserDirectory("pahang"), mailer=MemoryMailSender(),
                            audit=log, claims=MemoryClaims())
    assert isinstance(ctx.audit, RealmAudit) and ctx.audit.log is log
    assert ctx.audit.realm == "pahang" and ctx.mailer.audit is ctx.audit


def test_dates_as_the_manuals_show_them():
    moment = datetime(2020, 9, 14, 11, 50, 4)
    assert format_email_date(moment, "ms") == "14 September 2020 11:50:04 AM"
    assert format_email_date(datetime(2020, 3, 1, 13, 0, 0), "ms") == "1 Mac 2020 01:00:00 PM"
    assert format_email_date(datetime(2020, 3, 1, 13, 0, 0), "en") == "1 March 2020 01:00:00 PM"
    assert format_email_date(None, "ms") is None
    assert format_page_date(moment) == "14/09/2020 11:50:04 AM" and format_page_date(None) == ""
    utc = datetime(2026, 3, 3, 1, 0, tzinfo=timezone.utc)
    assert format_page_time(utc) == "09:00 AM"
    assert format_expiry(utc, "en") == "3 March 2026 9:00:00 AM (Malaysia time)"
    assert parse_date("2020-09-14T11:50:04") == moment
    assert parse_date("not a date") is None and parse_date(None) is None


def test_id_rules_and_rate_limit_keys_of_the_shared_level():
    assert common.parse_mykad("900101-06-1234") == "900101061234"
    with pytest.raises(common.InvalidUserIdError):
        common.parse_mykad("12345")
    assert identifiers.parse_login_id("1234567-x") == "1234567-x"
    assert identifiers.parse_login_id("201901000005") == "201901000005"
    with pytest.raises(identifiers.InvalidLoginIdError):
        identifiers.parse_login_id("abc")
    link_key = common.id_rate_limit_key(SECRET, "pahang", "900101061234")
    login_key = identifiers.login_id_rate_limit_key(SECRET, "pahang", "900101061234")
    assert link_key.startswith("activation-id:pahang:")
    assert login_key.startswith("first_login-id:pahang:") and login_key[-32:] != link_key[-32:]
    assert "900101061234" not in link_key + login_key


def test_phrase_and_image_rules_are_one_set():
    assert phrases.image_problem("") == phrases.IMAGE_REQUIRED
    assert phrases.image_problem("no-such-image") == phrases.IMAGE_UNKNOWN
    assert phrases.phrase_problem(phrases.normalise_phrase("  kucing   oren  ")) is None
    assert phrases.phrase_problem("abc") == phrases.PHRASE_TOO_SHORT


class _World:
    def __init__(self) -> None:
        self.tenant = load_tenant(Settings().realm_templates_dir, "pahang")
        self.directory = InMemoryUserDirectory("pahang", declared_attributes=attribute_names())
        self.mail = MemoryMailSender()
        self.audit = MemoryAuditLog()
        self.people = synthetic_people(self.tenant, 3, seed="resend-tests")

    def ctx(self) -> ActivationContext:
        return ActivationContext(
            tenant=self.tenant, secret_key=SECRET,
            urls=public_pages("https://sidecar.example.test", self.tenant.realm),
            directory=self.directory, mailer=self.mail, audit=self.audit,
            claims=MemoryClaims(), clock=ManualClock(), min_request_seconds=0.0,
            answer_hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def test_resend_link_returns_its_outcome_and_audits_it():
    world = _World()
    user, _ = world.directory.register_pending(world.people[0])
    assert resend_link(world.ctx(), user.user_id) == SendOutcome(True)
    assert len(world.mail.sent) == 1 and world.mail.sent[0].to == user.email
    assert world.audit.entries[-1]["details"] == {"result": "sent"}
    assert world.directory.get(user.id).first(activation.NONCE_ATTRIBUTE)

    assert resend_link(world.ctx(), world.people[1].user_id) == SendOutcome(False, "unknown")
    assert world.audit.entries[-1]["details"] == {"result": "ignored", "reason": "unknown"}
    assert len(world.mail.sent) == 1


def test_resend_link_says_when_the_mail_server_is_down():
    world = _World()
    user, _ = world.directory.register_pending(world.people[0])

    class Down(MemoryMailSender):
        def send(self, message):
            raise MailUnavailable("relay down")

    world.mail = Down()
    assert resend_link(world.ctx(), user.user_id) == SendOutcome(False, "mail_unavailable")
    assert world.audit.last("account:activation:requested")["details"]["result"] == "not_sent"


def test_a_send_overtaken_by_a_newer_request_leaves_the_mail_to_that_one():
    """Two requests close together: the older send finds the newer link stored and stops
    (audited), instead of failing as if the attribute were undeclared."""
    world = _World()
    user, _ = world.directory.register_pending(world.people[0])
    directory = world.directory
    store = directory.update_attributes

    def overtaken(uuid, changes):
        store(uuid, changes)
        # The newer request's send stores its own digest just after this one's.
        return store(uuid, {activation.NONCE_ATTRIBUTE: ["digest-of-the-newer-link"]})

    directory.update_attributes = overtaken
    assert resend_link(world.ctx(), user.user_id) == SendOutcome(False, "superseded")
    assert world.mail.sent == []
    assert world.audit.entries[-1]["details"] == {"result": "superseded"}
    assert directory.get(user.id).first(activation.NONCE_ATTRIBUTE) == "digest-of-the-newer-link"
