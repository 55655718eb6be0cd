"""The domain guard: a state's mail goes only to one address inside its email domains."""

from __future__ import annotations

import dataclasses
import json

import pytest

from idp_extension.audit import MemoryAuditLog
from idp_extension.flows import activation, recovery, settings as settings_flow
from idp_extension.mail.errors import MailOutsideDomain, MailRejected
from idp_extension.mail.guard import TenantMailer, for_tenant
from idp_extension.mail.render import compose_email
from idp_extension.mail.sender import MemoryMailSender
from idp_extension.settings import Settings
from idp_extension.tenants import load_tenant
from tests.unit import test_flow_activation as activation_tests
from tests.unit import test_flow_recovery as recovery_tests
from tests.unit import test_flow_settings as settings_tests

REFUSED = "mail:refused:outside_domain"
OUTSIDE = "pengguna.lain@example.com"


@pytest.fixture(scope="module")
def melaka():
    return load_tenant(Settings().realm_templates_dir, "melaka")


def message(to: str, about: str = "850101045551"):
    return compose_email("security_change", "ms", to=to, about=about,
                         recipient_name="Ali", user_id=about, state_name="Melaka",
                         change="password", changed_at="1 Mac 2026", recovery_url="https://x",
                         helpdesk=())


def no_address_in(entry: dict) -> bool:
    return "@" not in json.dumps(entry)


def test_an_address_inside_the_domains_is_sent(melaka):
    inner, audit = MemoryMailSender(), MemoryAuditLog()
    TenantMailer(inner, melaka, audit).send(message("ali@jkr.melaka.gov.my"))
    assert [m.to for m in inner.sent] == ["ali@jkr.melaka.gov.my"]
    assert audit.entries == []


@pytest.mark.parametrize("to, reason", [
    (OUTSIDE, "outside_domain"),
    ("ali@pahang.gov.my", "outside_domain"),               # another state's domain
    ("evil@example.com,ali@melaka.gov.my", "not_one_address"),
    ("Ali <ali@melaka.gov.my>", "not_one_address"),
])
def test_anything_else_is_refused_audited_and_not_sent(melaka, to, reason):
    inner, audit = MemoryMailSender(), MemoryAuditLog()
    with pytest.raises(MailOutsideDomain) as caught:
        TenantMailer(inner, melaka, audit).send(message(to))

    assert isinstance(caught.value, MailRejected) and caught.value.reason == "outside_domain"
    assert inner.sent == []
    [entry] = audit.entries
    assert entry["event"] == REFUSED and entry["realm"] == "melaka"
    assert entry["subject"] == "850101045551" and entry["outcome"] == "denied"
    assert entry["details"] == {"template": "security_change", "reason": reason}
    assert no_address_in(entry)


def test_for_tenant_wraps_once_per_realm_and_audit(melaka):
    inner, audit = MemoryMailSender(), MemoryAuditLog()
    guarded = for_tenant(inner, melaka, audit)
    assert for_tenant(guarded, melaka, audit) is guarded
    pahang = load_tenant(Settings().realm_templates_dir, "pahang")
    other = for_tenant(guarded, pahang, audit)
    assert other.tenant is pahang and other.inner is inner


def test_every_flow_context_guards_its_mailer():
    world = recovery_tests.World()
    assert isinstance(world.ctx().mailer, TenantMailer)
    assert isinstance(activation_tests.World().ctx().mailer, TenantMailer)
    assert isinstance(settings_tests.World().ctx().mailer, TenantMailer)


def _outside(world, index: int = 0) -> None:
    world.people[index] = dataclasses.replace(world.people[index], email=OUTSIDE)


def test_recovery_to_an_address_outside_the_domains_answers_as_if_sent():
    world = recovery_tests.World()
    _outside(world, 0)
    outsider = world.active(0)
    insider = world.active(1)

    refused = recovery.request_link(world.ctx(), outsider.user_id, "ms")
    sent = recovery.request_link(world.ctx(), insider.user_id, "ms")

    assert [m.to for m in world.mail.sent] == [insider.email]
    assert type(refused) is type(sent)
    assert refused == sent == recovery.LinkRequested()
    [entry] = world.events(REFUSED)
    assert entry["subject"] == outsider.user_id and no_address_in(entry)
    assert entry["details"]["template"] == "recovery"
    requested = [e for e in world.events("account:recovery:requested")
                 if e["subject"] == outsider.user_id]
    assert [e["details"]["reason"] for e in requested] == ["outside_domain"]
    assert world.attribute(outsider.id, recovery.NONCE_ATTRIBUTE) is None


def test_activation_to_an_address_outside_the_domains_answers_as_if_sent():
    world = activation_tests.World()
    _outside(world, 0)
    outsider = world.pending(0)

    answer = activation.request_link(world.ctx(), outsider.user_id, "ms")

    assert world.mail.sent == []
    assert answer == activation.LinkRequested()
    [entry] = world.events(REFUSED)
    assert entry["subject"] == outsider.user_id and entry["details"]["template"] == "activation"


def test_a_security_notice_to_an_address_outside_the_domains_is_not_sent():
    world = settings_tests.World()
    _outside(world, 0)
    user = world.active(0)

    settings_flow.change_password(world.ctx(), world.sign_in(user), settings_tests.NEW_PASSWORD,
                                  settings_tests.NEW_PASSWORD, "ms")

    assert world.directory.password_matches(user.id, settings_tests.NEW_PASSWORD)
    assert world.mail.sent == []
    [changed] = world.events("account:password:changed")
    assert changed["details"]["notified"] is False
    [entry] = world.events(REFUSED)
    assert entry["details"] == {"template": "security_change", "reason": "outside_domain"}
