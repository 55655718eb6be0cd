"""Turning TOTP on and off in the settings flow (issue 12), with in-memory Keycloak."""

from __future__ import annotations

import dataclasses

import pytest

from idp_extension.flows.settings import (
    FRESH_LOGIN_SECONDS, ReauthenticationRequired, TotpRequiredByTask, begin_totp_enrolment,
    disable_totp, totp_enrolled, totp_status,
)
from tests.unit.test_flow_settings import World


@pytest.fixture
def world() -> World:
    return World()


def approver(sign_in):
    """The same sign-in, its ID token naming ispeks-tugas/totp-wajib (a privileged task)."""
    return dataclasses.replace(sign_in, totp_required=True)


def test_status_reads_the_credential_and_the_task(world):
    user = world.active()
    before = totp_status(world.ctx(), world.sign_in(user))
    assert (before.configured, before.required) == (False, False)
    world.directory.set_otp(user.id, credentials=1)

    status = totp_status(world.ctx(), approver(world.sign_in(user)))

    assert status.configured and status.required and not status.may_turn_off


def test_turning_off_deletes_the_credential_mails_and_audits(world):
    user = world.active()
    world.directory.set_otp(user.id, credentials=1)

    removed = disable_totp(world.ctx(), world.sign_in(user), "en")

    assert removed == 1 and world.directory.otp_credential_count(user.id) == 0
    (event,) = world.events("account:totp:disabled")
    assert event["outcome"] == "success" and event["details"]["notified"] is True
    (mail,) = world.mail.sent
    assert mail.subject.startswith("iSPEKS Two-factor Verification Turned Off")


def test_turning_off_is_refused_when_a_task_requires_totp(world):
    user = world.active()
    world.directory.set_otp(user.id, credentials=1)

    with pytest.raises(TotpRequiredByTask) as refused:
        disable_totp(world.ctx(), approver(world.sign_in(user)), "ms")

    assert refused.value.code == "settings.totp_required_by_task"
    assert world.directory.otp_credential_count(user.id) == 1 and not world.mail.sent
    (event,) = world.events("account:totp:disabled")
    assert event["outcome"] == "denied" and event["details"]["reason"] == "task_requires_totp"


@pytest.mark.parametrize("verb", [begin_totp_enrolment, disable_totp])
def test_both_need_a_fresh_login(world, verb):
    user = world.active()
    world.directory.set_otp(user.id, credentials=1)
    stale = world.sign_in(user, seconds_ago=FRESH_LOGIN_SECONDS + 60)
    args = (world.ctx(), stale) + (("ms",) if verb is disable_totp else ())

    with pytest.raises(ReauthenticationRequired):
        verb(*args)

    assert world.directory.otp_credential_count(user.id) == 1


def test_enrolment_is_confirmed_against_keycloak_not_the_callback(world):
    user = world.active()
    sign_in = world.sign_in(user)
    begin_totp_enrolment(world.ctx(), sign_in)

    assert totp_enrolled(world.ctx(), sign_in, "ms") is False  # no credential: nothing said
    world.directory.set_otp(user.id, credentials=1)
    assert totp_enrolled(world.ctx(), sign_in, "ms") is True
    (event,) = world.events("account:totp:enabled")
    assert event["outcome"] == "success"
    (mail,) = world.mail.sent
    assert mail.subject.startswith("Pengesahan Dua Faktor iSPEKS Telah Diaktifkan")
