"""Reminders without Keycloak or SMTP: the real flows on the in-memory directory."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timezone

import pytest

from idp_extension.audit import MemoryAuditLog
from idp_extension.demo_users import synthetic_people
from idp_extension.flows.activation import ActivationContext
from idp_extension.flows.first_login import FirstLoginContext
from idp_extension.flows.ports import InlineWork, ManualClock, MemoryClaims
from tests.support.memory_users import InMemoryUserDirectory
from idp_extension.gateway.users import ACTIVATION_STATE, ACTIVE, PENDING, REMINDED_AT
from idp_extension.mail.errors import MailUnavailable
from idp_extension.mail.sender import MemoryMailSender
from idp_extension.realms.profile import attribute_names
from idp_extension.reporting.campaign import Campaign
from idp_extension.reporting.remind import (
    Pacer, ReminderContext, activation_link_sender, remind, temporary_password_sender,
)
from idp_extension.settings import load_settings
from idp_extension.tenants import load_tenant
from idp_extension.flows.ports import public_pages

SECRET = "k" * 40
WHO = {"actor": "Pegawai Ujian", "client": "ispeks-state-it"}
# 2026-11-10 10:00 in Malaysia.
START = datetime(2026, 11, 10, 2, 0, tzinfo=timezone.utc)


class World:
    def __init__(self, realm: str, people: int = 4, per_minute: int = 30) -> None:
        self.tenant = load_tenant(load_settings().realm_templates_dir, realm)
        self.campaign = Campaign(realm=realm, go_live=date(2026, 11, 2),
                                 deadline=date(2027, 1, 29), reminders_per_minute=per_minute)
        self.clock = ManualClock(START)
        self.directory = InMemoryUserDirectory(realm, declared_attributes=attribute_names())
        self.mail = MemoryMailSender()
        self.audit = MemoryAuditLog()
        self.claims = MemoryClaims(self.clock.monotonic)
        self.people = synthetic_people(self.tenant, people, seed="remind-unit")
        for i, person in enumerate(self.people):
            department = "Jabatan Ujian" if i % 2 == 0 else "Jabatan Lain"
            self.directory.register_pending(replace(person, department=department))

    def ctx(self) -> ReminderContext:
        flow_claims = MemoryClaims(self.clock.monotonic)
        if self.tenant.onboarding.value == "activation-link":
            send = activation_link_sender(lambda log: ActivationContext(
                tenant=self.tenant, secret_key=SECRET,
                urls=public_pages("https://idp.example", self.tenant.realm),
                directory=self.directory, mailer=self.mail, audit=log, claims=flow_claims,
                clock=self.clock, min_request_seconds=0.0, work=InlineWork()),
                self.audit, WHO)
        else:
            send = temporary_password_sender(lambda log: FirstLoginContext(
                tenant=self.tenant, directory=self.directory, mailer=self.mail, audit=log,
                claims=flow_claims, continue_url="https://idp.example/continue",
                clock=self.clock, min_request_seconds=0.0, work=InlineWork()),
                self.audit, WHO)
        return ReminderContext(
            campaign=self.campaign,
            pending=lambda: self.directory.search(ACTIVATION_STATE, PENDING),
            send=send, update_attributes=self.directory.update_attributes,
            audit=self.audit, claims=self.claims, clock=self.clock, who=WHO)

    def events(self, name: str) -> list[dict]:
        return [e for e in self.audit.entries if e["event"] == name]


@pytest.mark.parametrize("realm, marker", [("pahang", "/pahang/activation/link/"),
                                           ("selangor", "https://idp.example/continue")])
def test_every_pending_user_gets_the_states_own_email_once(realm, marker):
    world = World(realm)
    active = world.directory.find(world.people[3].user_id)
    world.directory.update_attributes(active.id, {ACTIVATION_STATE: [ACTIVE]})

    result = remind(world.ctx())

    assert (result.considered, result.sent, result.not_sent) == (3, 3, {})
    assert sorted(m.to for m in world.mail.sent) == sorted(p.email for p in world.people[:3])
    assert all(marker in m.text for m in world.mail.sent)
    assert world.directory.get(active.id).first(REMINDED_AT) is None
    stamped = world.directory.find(world.people[0].user_id).first(REMINDED_AT)
    assert stamped == START.isoformat(timespec="seconds")
    sent = world.events("report:reminder:sent")
    assert {e["subject"] for e in sent} == {p.user_id for p in world.people[:3]}
    assert all(e["details"]["actor"] == "Pegawai Ujian" for e in sent)
    [run] = world.events("report:reminders:run")
    assert (run["details"]["sent"], run["details"]["actor"]) == (3, "Pegawai Ujian")
    # The flows' own events name the officer too, and no secret reaches the audit log.
    assert all(e["details"].get("actor") == "Pegawai Ujian" for e in world.audit.entries)
    dumped = json.dumps(world.audit.entries)
    assert all(m.text.split()[-1] not in dumped for m in world.mail.sent)


def test_the_run_records_through_an_audit_log_bound_to_the_campaigns_realm():
    world = World("pahang", people=2)
    ctx = world.ctx()
    assert ctx.audit.realm == "pahang" and ctx.audit.log is world.audit

    remind(ctx)

    assert world.events("report:reminders:run") and world.events("report:reminder:sent")
    assert {e["realm"] for e in world.audit.entries} == {"pahang"}


def test_a_second_run_the_same_day_sends_nothing_and_the_next_day_sends_again():
    world = World("pahang")
    assert remind(world.ctx()).sent == 4
    # 23:00 the same Malaysian day.
    world.clock.advance(hours=13)
    again = remind(world.ctx())
    assert (again.sent, again.already_today) == (0, 4)
    assert len(world.mail.sent) == 4
    # 00:30 the next Malaysian day.
    world.clock.advance(minutes=90)
    assert remind(world.ctx()).sent == 4
    assert len(world.mail.sent) == 8


def test_dry_run_counts_and_changes_nothing():
    world = World("selangor")
    result = remind(world.ctx(), dry_run=True)
    assert (result.would_send, result.sent) == (4, 0)
    assert world.mail.sent == []
    assert all(world.directory.find(p.user_id).first(REMINDED_AT) is None for p in world.people)
    assert "4 peringatan akan dihantar" in result.line() and "4 reminder(s) would be sent" \
        in result.line()
    # A dry run does not use up the day: the real run still sends.
    assert remind(world.ctx()).sent == 4


def test_only_the_department_asked_for():
    world = World("pahang")
    result = remind(world.ctx(), "Jabatan Ujian")
    assert (result.considered, result.sent) == (2, 2)
    assert sorted(m.to for m in world.mail.sent) == sorted(
        p.email for p in world.people[0::2])


def test_sends_are_paced_at_the_states_rate():
    world = World("pahang", people=5, per_minute=12)
    remind(world.ctx())
    # 12 a minute: one every 5 seconds, none before the first (the flows' own floor is 0).
    assert [s for s in world.clock.slept if s] == [5.0, 5.0, 5.0, 5.0]


def test_pacer_does_not_sleep_when_sends_are_slow_already():
    clock = ManualClock(START)
    pacer = Pacer(60, clock)
    pacer.wait()
    clock.advance(seconds=3)
    pacer.wait()
    assert clock.slept == []


def test_a_failed_send_is_audited_not_marked_and_may_be_retried_the_same_day():
    world = World("pahang", people=2)
    world.mail.fail_with = MailUnavailable("relay down")
    result = remind(world.ctx())
    assert (result.sent, result.not_sent) == (0, {"mail_unavailable": 2})
    assert all(world.directory.find(p.user_id).first(REMINDED_AT) is None for p in world.people)
    assert len(world.events("report:reminder:not_sent")) == 2

    world.mail.fail_with = None
    assert remind(world.ctx()).sent == 2


def test_two_runs_at_once_remind_each_user_once():
    world = World("pahang", people=2)
    # Another officer's run has claimed the first user for today.
    user = world.directory.find(world.people[0].user_id)
    world.claims.claim(f"remind:pahang:{user.id}:2026-11-10", 3600)
    result = remind(world.ctx())
    assert (result.sent, result.already_today) == (1, 1)
