"""The activation flow with in-memory Keycloak, mail, audit, clock and claims."""

from __future__ import annotations

import dataclasses
import json
import random
import re
import threading
from datetime import timedelta

import pytest

from idp_extension.demo_users import synthetic_mykad
from idp_extension.errors import InternalError
from idp_extension.flows import activation
from idp_extension.flows.emailed_link import DEFAULT_MIN_REQUEST_SECONDS
from idp_extension.flows.activation import (
    AccountDisabled, ActivationCompleted, ActivationContext, ActivationStep, InvalidUserIdError,
    LinkRequested, PasswordRejectedByPolicy, PasswordRulesFailed, QuestionsInvalid,
    QuestionsRequired, complete, open_link, request_link, set_security_questions,
)
from idp_extension.flows.answers import ANSWERS_ATTRIBUTE, verify_answer
from idp_extension.flows.tokens import (
    LinkExpired, LinkSigner, LinkTampered, LinkUsedOrSuperseded, LinkWrongRealm, nonce_digest,
)
from idp_extension.gateway.errors import KeycloakUnavailable
from idp_extension.gateway.users import ACTIVATED_AT, ACTIVATION_STATE, ACTIVE, PasswordRejected
from idp_extension.mail.errors import MailRejected, MailUnavailable
from idp_extension.settings import Settings
from tests.support import worlds
from tests.support.constants import ANSWERS, FAST_HASHER, NEW_PASSWORD, PUBLIC_URL, SECRET
from tests.support.memory_users import USERNAME_REJECTION, keycloak_like_policy
from tests.support.tokens import with_flipped_signature

LINK = worlds.link_pattern("activation")


class World(worlds.World):
    """One realm's in-memory services, and helpers to drive the flow through them."""

    seed = "flow-tests"

    def ctx(self, **changes) -> ActivationContext:
        return self.link_context(ActivationContext, **changes)

    def request(self, user_id: str, locale: str = "ms") -> str:
        """Request a link for ``user_id`` and return the token from the email."""
        return token_of(self.one_mail(lambda: request_link(self.ctx(), user_id, locale)))

    def at_password_step(self, index: int = 0):
        user = self.pending(index)
        token = self.request(user.user_id)
        set_security_questions(self.ctx(), token, ANSWERS)
        return user, token


def token_of(message) -> str:
    return worlds.link_token(message, "activation")


@pytest.fixture
def world() -> World:
    return World()


# -- step 1 and 2: request and confirmation -------------------------------------------


@pytest.mark.parametrize("raw", ["", "12345", "1234567890123", "abcdefghijkl",
                                 "901332061234",  # month 13
                                 "900101171234",  # no such place of birth
                                 "90010106123X"])
def test_malformed_id_is_a_field_error_and_nothing_else_happens(world, raw):
    with pytest.raises(InvalidUserIdError) as caught:
        request_link(world.ctx(), raw)

    assert caught.value.code == "activation.invalid_id"
    assert caught.value.http_status == 400
    assert caught.value.field_errors == {"user_id": "activation.invalid_id"}
    assert world.directory.calls == [] and world.mail.sent == [] and world.audit.entries == []


def test_pending_user_gets_one_email_with_a_link_and_a_confirmation_naming_no_address(world):
    user = world.pending()

    outcome = request_link(world.ctx(), user.user_id)

    assert outcome == LinkRequested() and dataclasses.fields(outcome) == ()
    [message] = world.mail.sent
    assert message.to == user.email
    assert message.subject == "Pengaktifan Akaun iSPEKS"
    for text in ("Notifikasi iSPEKS", "Pendaftaran Akaun iSPEKS", user.name,
                 "Pendaftaran akaun iSPEKS", "telah berjaya pada",
                 "Sila ambil maklum bahawa pautan ini sah dalam tempoh 30 minit sahaja.",
                 f"{PUBLIC_URL}/pahang/activation"):
        assert text in message.text
    for text in ("Sila klik pada butang di bawah untuk mengaktifkan akaun anda",
                 ">Pengaktifan Akaun</a>",
                 "Sekiranya butang di atas tidak berfungsi, sila klik pada pautan di bawah."):
        assert text in message.html
    found = LINK.search(message.text)
    assert found.group("realm") == "pahang" and "?" not in found.group(0)


def test_email_follows_the_locale_and_shows_the_registration_date(world):
    user = world.pending()

    request_link(world.ctx(), user.user_id, "en")

    message = world.mail.last()
    assert message.subject == "iSPEKS Account Activation"
    assert "Please note that this link is valid for 30 minutes only." in message.text
    record = world.people[0]
    date = activation.format_email_date(record.registration_date, "en")
    assert date in message.text and date in message.html
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]+ \d{4} \d\d:\d\d:\d\d [AP]M", date)


def test_malay_email_date_uses_malay_month_names():
    from datetime import datetime

    assert activation.format_email_date(datetime(2020, 8, 14, 11, 50, 4), "ms") == \
        "14 Ogos 2020 11:50:04 AM"
    assert activation.format_page_date(datetime(2020, 9, 14, 15, 5, 4)) == "14/09/2020 03:05:04 PM"


def test_id_written_with_dashes_is_the_same_id(world):
    user = world.pending()
    dashed = f"{user.user_id[:6]}-{user.user_id[6:8]}-{user.user_id[8:]}"

    request_link(world.ctx(), dashed)

    assert world.mail.last().to == user.email


def test_only_the_digest_of_the_nonce_is_stored(world):
    user = world.pending()

    token = world.request(user.user_id)

    payload = world.ctx().signer().read(token, "pahang")
    stored = world.attribute(user.id, activation.NONCE_ATTRIBUTE)
    assert stored == nonce_digest(payload.nonce) and payload.nonce not in stored
    assert re.fullmatch(r"[0-9a-f]{64}", stored)


def _ineligible_ids(world: World) -> dict[str, str]:
    active = world.pending(1)
    world.directory.update_attributes(active.id, {ACTIVATION_STATE: [ACTIVE]})
    disabled = world.pending(2)
    world.directory.set_enabled(disabled.id, False)
    no_email = world.directory.add_user(world.people[3].user_id, email="",
                                        attributes={ACTIVATION_STATE: ["pending"]})
    return {"unknown": synthetic_mykad(random.Random(7), "06"),
            "active": active.user_id, "disabled": disabled.user_id, "no_email": no_email.user_id}


@pytest.mark.parametrize("kind", ["unknown", "active", "disabled", "no_email"])
def test_ineligible_ids_get_the_same_confirmation_and_no_email(world, kind):
    user_id = _ineligible_ids(world)[kind]
    real_user = world.pending()

    decoy = request_link(world.ctx(), user_id)
    real = request_link(world.ctx(), real_user.user_id)

    assert decoy == real == LinkRequested()
    assert [m.to for m in world.mail.sent] == [real_user.email]
    # Asking again gives the same answer, as a real address would.
    assert request_link(world.ctx(), user_id) == decoy
    entry = world.audit.entries[0]
    reason = "not_pending" if kind == "active" else kind
    assert (entry["event"], entry["outcome"], entry["details"]) == (
        "account:activation:requested", "denied", {"result": "ignored", "reason": reason})


def test_decoy_and_real_requests_take_the_same_padded_time(world):
    user = world.pending()
    unknown = synthetic_mykad(random.Random(11), "06")

    request_link(world.ctx(), user.user_id)
    request_link(world.ctx(), unknown)

    # The manual clock does not move while working, so both sleep the full minimum.
    assert world.clock.slept == [DEFAULT_MIN_REQUEST_SECONDS] * 2


def test_padding_counts_the_time_already_spent(world):
    user = world.pending()

    find = world.directory.find

    def slow_find(user_id):
        world.clock.advance(0.1)
        return find(user_id)

    world.directory.find = slow_find
    request_link(world.ctx(), user.user_id)

    assert world.clock.slept == [pytest.approx(DEFAULT_MIN_REQUEST_SECONDS - 0.1)]


def test_a_slow_request_is_not_padded_further(world):
    user = world.pending()
    request_link(world.ctx(min_request_seconds=0.0), user.user_id)
    assert world.clock.slept == [0.0]


def test_keycloak_down_at_request_sends_nothing_and_is_503(world):
    user = world.pending()
    world.directory.unavailable = True

    with pytest.raises(KeycloakUnavailable):
        request_link(world.ctx(), user.user_id)

    assert world.mail.sent == []
    assert world.clock.slept == [DEFAULT_MIN_REQUEST_SECONDS]


def test_smtp_down_answers_the_same_changes_nothing_and_the_old_link_stays_valid(world):
    user = world.pending()
    old_token = world.request(user.user_id)
    digest_before = world.attribute(user.id, activation.NONCE_ATTRIBUTE)
    world.mail.fail_with = MailUnavailable("connection refused")

    assert request_link(world.ctx(), user.user_id) == LinkRequested()

    assert world.clock.slept[-1] == DEFAULT_MIN_REQUEST_SECONDS
    assert world.attribute(user.id, activation.NONCE_ATTRIBUTE) == digest_before
    assert open_link(world.ctx(), old_token).step is ActivationStep.QUESTIONS
    assert {"result": "not_sent", "reason": "mail_unavailable", "restored": True} in [
        e["details"] for e in world.events("account:activation:requested")]
    [failed] = world.events("mail:send:failed")
    assert (failed["subject"], failed["outcome"], failed["details"]) == (
        user.user_id, "failure", {"purpose": "activation", "reason": "mail_unavailable"})


def test_permanently_refused_address_answers_like_any_other_and_stores_nothing(world):
    user = world.pending()
    world.mail.fail_with = MailRejected("550 no such mailbox")

    outcome = request_link(world.ctx(), user.user_id)

    assert outcome == LinkRequested()
    assert world.attribute(user.id, activation.NONCE_ATTRIBUTE) is None
    assert world.audit.entries[-1]["outcome"] == "failure"
    assert world.events("mail:send:failed")[0]["details"]["reason"] == "mail_rejected"


def test_keycloak_failing_before_the_send_sends_nothing_and_leaves_the_previous_link(world):
    user = world.pending()
    old_token = world.request(user.user_id)
    sent = len(world.mail.sent)
    world.directory.fail_next("update_attributes")

    assert request_link(world.ctx(), user.user_id) == LinkRequested()

    assert len(world.mail.sent) == sent
    assert open_link(world.ctx(), old_token).user_uuid == user.id


def test_the_link_works_the_moment_the_email_is_sent(world):
    user = world.pending()
    opened = []

    class OpensAtOnce:
        """A person who clicks before the sidecar has finished: the nonce must be there."""

        def __init__(self, inner) -> None:
            self.inner = inner

        def send(self, message) -> None:
            self.inner.send(message)
            opened.append(open_link(world.ctx(), token_of(message)).user_uuid)

    request_link(dataclasses.replace(world.ctx(), mailer=OpensAtOnce(world.mail)), user.user_id)
    assert opened == [user.id]


def test_a_failed_send_puts_the_previous_link_back_and_the_new_one_never_opens(world):
    user = world.pending()
    old_token = world.request(user.user_id)
    world.mail.fail_with = MailUnavailable("down")
    request_link(world.ctx(), user.user_id)
    assert open_link(world.ctx(), old_token).user_uuid == user.id


def test_undeclared_nonce_attribute_fails_loudly_instead_of_sending_dead_links(world, caplog):
    world.directory.declared_attributes.discard(activation.NONCE_ATTRIBUTE)
    user = world.pending()

    request_link(world.ctx(), user.user_id)

    assert "background task failed: InternalError" in caplog.text
    assert "sent" not in [e["details"].get("result") for e in world.audit.entries]


# -- step 4 and 5: the link -----------------------------------------------------------


def test_link_opens_at_the_questions_with_the_users_details(world):
    user = world.pending()
    token = world.request(user.user_id)

    flow = open_link(world.ctx(), token)

    record = world.people[0]
    assert flow == activation.ActivationFlow(
        realm="pahang", user_uuid=user.id, user_id=record.user_id, name=record.name,
        email=record.email, registration_date=record.registration_date,
        step=ActivationStep.QUESTIONS,
        expires_at=world.clock.now().replace(microsecond=0) + timedelta(minutes=30),
    )
    opened = world.audit.entries[-1]
    assert opened["details"]["step"] == "link_opened" and opened["subject"] == user.user_id


def test_link_is_valid_for_exactly_thirty_minutes(world):
    user = world.pending()
    issued_at = world.clock.now()
    token = world.request(user.user_id)

    # The request itself took its padded 0.35 s of manual time: count from the issue.
    world.clock.advance((issued_at + timedelta(minutes=30) - world.clock.now()).total_seconds())
    assert open_link(world.ctx(), token).user_uuid == user.id

    world.clock.advance(seconds=1)
    with pytest.raises(LinkExpired) as caught:
        open_link(world.ctx(), token)
    assert (caught.value.code, caught.value.http_status) == ("activation.link_expired", 410)
    assert world.audit.entries[-1]["details"] == {"step": "link_opened", "reason": "link_expired"}


def test_expired_link_cannot_complete_either(world):
    user, token = world.at_password_step()
    world.clock.advance(minutes=30, seconds=1)

    with pytest.raises(LinkExpired):
        complete(world.ctx(), token, NEW_PASSWORD, NEW_PASSWORD)
    assert world.directory.password_count(user.id) == 1


def _tamper(token: str) -> list[str]:
    payload, _, signature = token.rpartition(".")
    return [with_flipped_signature(token), token[:-4], token + "x", "not-a-token", "",
            "x" * 5000, payload, "." + signature]


def test_tampered_links_are_refused(world):
    user = world.pending()
    token = world.request(user.user_id)

    for bad in _tamper(token):
        with pytest.raises(LinkTampered) as caught:
            open_link(world.ctx(), bad)
        assert (caught.value.code, caught.value.http_status) == ("activation.link_tampered", 400)


def test_links_signed_for_another_purpose_or_with_another_key_are_tampered(world):
    user = world.pending()
    world.request(user.user_id)
    recovery = LinkSigner(SECRET, "recovery", timedelta(minutes=30), world.clock).issue("pahang", user.id)
    foreign = LinkSigner("another-key", "activation", timedelta(minutes=30), world.clock).issue(
        "pahang", user.id)

    for token in (recovery.token, foreign.token):
        with pytest.raises(LinkTampered):
            open_link(world.ctx(), token)


def test_link_of_another_realm_is_refused(world):
    user = world.pending()
    token = world.request(user.user_id)
    kelantan = World("kelantan", clock=world.clock)

    with pytest.raises(LinkWrongRealm) as caught:
        open_link(kelantan.ctx(), token)

    assert (caught.value.code, caught.value.http_status) == ("activation.link_wrong_realm", 400)


def test_a_newer_link_supersedes_the_older_one(world):
    user = world.pending()
    first = world.request(user.user_id)
    second = world.request(user.user_id)

    with pytest.raises(LinkUsedOrSuperseded) as caught:
        open_link(world.ctx(), first)
    assert (caught.value.code, caught.value.http_status) == ("activation.link_used", 410)
    assert open_link(world.ctx(), second).user_uuid == user.id


def test_link_of_a_disabled_account_is_refused(world):
    user = world.pending()
    token = world.request(user.user_id)
    world.directory.set_enabled(user.id, False)

    with pytest.raises(AccountDisabled) as caught:
        open_link(world.ctx(), token)
    assert caught.value.http_status == 403


# -- a pending account locked by strangers (three wrong passwords) ---------------------


def test_pending_user_locked_by_strangers_still_gets_a_link(world):
    user = world.pending()
    world.directory.record_failed_logins(user.id, 3)
    assert world.directory.get(user.id).permanently_locked

    outcome = request_link(world.ctx(), user.user_id)

    assert outcome == LinkRequested()
    assert world.mail.last().to == user.email
    assert world.audit.entries[-1]["details"] == {"result": "sent"}


def test_locked_pending_user_activates_and_the_lockout_is_lifted(world):
    user = world.pending()
    world.directory.record_failed_logins(user.id, 3)
    token = world.request(user.user_id)

    assert open_link(world.ctx(), token).step is ActivationStep.QUESTIONS
    set_security_questions(world.ctx(), token, ANSWERS)
    assert world.directory.get(user.id).permanently_locked, "nothing is lifted before the end"
    complete(world.ctx(), token, NEW_PASSWORD, NEW_PASSWORD)

    after = world.directory.get(user.id)
    assert after.enabled and not after.permanently_locked
    assert world.directory.failed_logins(user.id)["numFailures"] == 0
    assert world.directory.password_matches(user.id, NEW_PASSWORD)
    assert after.activation_state == ACTIVE
    assert world.audit.events()[-2:] == ["account:unlocked", "account:activation:completed"]
    assert world.audit.entries[-2]["details"] == {"step": "activation", "reason": "activation_link"}


def test_a_refused_password_leaves_the_lockout_in_place(world):
    user = world.pending()
    world.directory.record_failed_logins(user.id, 3)
    token = world.request(user.user_id)
    set_security_questions(world.ctx(), token, ANSWERS)

    with pytest.raises(PasswordRulesFailed):
        complete(world.ctx(), token, "Malaysia@2024", "Malaysia@2024")

    assert world.directory.get(user.id).permanently_locked
    assert "unlock" not in world.directory.calls


def test_keycloak_down_while_unlocking_changes_nothing_visible_and_a_retry_works(world):
    user = world.pending()
    world.directory.record_failed_logins(user.id, 3)
    token = world.request(user.user_id)
    set_security_questions(world.ctx(), token, ANSWERS)
    world.directory.fail_next("unlock")

    with pytest.raises(KeycloakUnavailable):
        complete(world.ctx(), token, NEW_PASSWORD, NEW_PASSWORD)
    assert world.attribute(user.id, ACTIVATION_STATE) == "pending"
    assert world.directory.get(user.id).permanently_locked

    done = complete(world.ctx(), token, NEW_PASSWORD, NEW_PASSWORD)

    assert done.flow.step is ActivationStep.COMPLETED
    assert world.directory.get(user.id).enabled
    assert len(world.events("account:activation:completed")) == 1


def test_an_active_locked_user_gets_a_decoy_and_stays_locked(world):
    user, token = world.at_password_step()
    complete(world.ctx(), token, NEW_PASSWORD, NEW_PASSWORD)
    world.directory.record_failed_logins(user.id, 3)
    sent = len(world.mail.sent)

    outcome = request_link(world.ctx(), user.user_id)

    assert len(world.mail.sent) == sent and outcome == LinkRequested()
    assert world.directory.get(user.id).permanently_locked


def test_a_pending_user_disabled_by_state_it_gets_a_decoy_even_after_failed_logins(world):
    user = world.pending()
    world.directory.set_enabled(user.id, False)

    request_link(world.ctx(), user.user_id)

    assert world.mail.sent == []
    assert world.audit.entries[-1]["details"] == {"result": "ignored", "reason": "disabled"}


def test_current_flow_verifies_without_recording_an_opening(world):
    user, token = world.at_password_step()
    recorded = len(world.audit.entries)

    flow = activation.current_flow(world.ctx(), token)

    assert flow.step is ActivationStep.PASSWORD and flow.user_uuid == user.id
    assert len(world.audit.entries) == recorded
    world.clock.advance(minutes=31)
    with pytest.raises(LinkExpired):
        activation.current_flow(world.ctx(), token)
    assert world.audit.entries[-1]["details"] == {"step": "page", "reason": "link_expired"}


def test_link_of_a_deleted_user_is_used_up(world):
    user = world.pending()
    token = world.request(user.user_id)
    world.directory.remove_user(user.id)

    with pytest.raises(LinkUsedOrSuperseded):
        open_link(world.ctx(), token)


def test_keycloak_down_when_opening_is_503_not_a_bad_link(world):
    user = world.pending()
    token = world.request(user.user_id)
    world.directory.unavailable = True

    with pytest.raises(KeycloakUnavailable):
        open_link(world.ctx(), token)


# -- step 6: security questions -------------------------------------------------------


def test_questions_are_stored_only_as_argon2id_hashes(world):
    user = world.pending()
    token = world.request(user.user_id)

    flow = set_security_questions(world.ctx(), token, ANSWERS)

    assert flow.step is ActivationStep.PASSWORD
    stored = world.attribute(user.id, ANSWERS_ATTRIBUTE)
    entries = json.loads(stored)
    assert [e["q"] for e in entries] == [q for q, _ in ANSWERS]
    assert all(e["h"].startswith("$argon2id$") for e in entries)
    for _, answer in ANSWERS:
        assert answer not in stored and answer.lower() not in stored
    assert verify_answer(stored, "mother_name", "  SITI   aishah ", FAST_HASHER)
    assert not verify_answer(stored, "mother_name", "Siti Aisyah", FAST_HASHER)
    event = world.events("account:security_questions:changed")[-1]
    assert event["details"]["question_ids"] == [q for q, _ in ANSWERS]
    assert "Siti" not in json.dumps(world.audit.entries)


def test_user_who_stopped_after_the_questions_resumes_at_the_password(world):
    user, token = world.at_password_step()

    flow = open_link(world.ctx(), token)

    assert flow.step is ActivationStep.PASSWORD
    assert world.audit.entries[-1]["details"]["resume_at"] == "password"


def test_a_new_link_also_resumes_at_the_password(world):
    user, _ = world.at_password_step()
    token = world.request(user.user_id)
    assert open_link(world.ctx(), token).step is ActivationStep.PASSWORD


@pytest.mark.parametrize("choices, errors", [
    ([("mother_name", "Siti"), ("mother_name", "Aishah"), ("first_car", "Kancil")],
     {"question_2": "questions.duplicate"}),
    ([("mother_name", ""), ("first_car", "Kancil"), ("favourite_colour", "Hijau")],
     {"answer_1": "questions.answer_required"}),
    ([("mother_name", "Siti"), ("first_car", " \t\n "), ("favourite_colour", "H")],
     {"answer_2": "questions.answer_required", "answer_3": "questions.answer_too_short"}),
    ([("mother_name", "Siti"), ("first_car", "Kancil")], {"questions": "questions.count"}),
    ([("mother_name", "Siti"), ("first_car", "Kancil"), ("favourite_colour", "Hijau"),
      ("first_pet", "Comot")], {"questions": "questions.count"}),
    ([("mother_name", "Siti"), ("first_car", "Kancil"), ("shoe_size", "42")],
     {"question_3": "questions.unknown"}),
    ([("mother_name", "Siti"), ("first_car", "K" * 101), ("favourite_colour", "Hijau")],
     {"answer_2": "questions.answer_too_long"}),
])
def test_bad_questions_are_field_errors_and_store_nothing(world, choices, errors):
    user = world.pending()
    token = world.request(user.user_id)

    with pytest.raises(QuestionsInvalid) as caught:
        set_security_questions(world.ctx(), token, choices)

    assert caught.value.field_errors == errors
    assert caught.value.http_status == 400
    assert world.attribute(user.id, ANSWERS_ATTRIBUTE) is None


def test_questions_need_a_valid_link(world):
    user = world.pending()
    token = world.request(user.user_id)
    world.clock.advance(minutes=31)
    with pytest.raises(LinkExpired):
        set_security_questions(world.ctx(), token, ANSWERS)


def test_keycloak_down_when_storing_questions_changes_nothing(world):
    user = world.pending()
    token = world.request(user.user_id)
    world.directory.fail_next("update_attributes")

    with pytest.raises(KeycloakUnavailable):
        set_security_questions(world.ctx(), token, ANSWERS)

    assert world.attribute(user.id, ANSWERS_ATTRIBUTE) is None
    assert set_security_questions(world.ctx(), token, ANSWERS).step is ActivationStep.PASSWORD


def test_undeclared_answers_attribute_fails_loudly(world):
    world.directory.declared_attributes.discard(ANSWERS_ATTRIBUTE)
    user = world.pending()
    token = world.request(user.user_id)
    with pytest.raises(InternalError):
        set_security_questions(world.ctx(), token, ANSWERS)


# -- step 7 and 8: password and completion --------------------------------------------


def test_whole_flow_activates_the_account_once(world):
    user, token = world.at_password_step()

    done = complete(world.ctx(), token, NEW_PASSWORD, NEW_PASSWORD)

    assert isinstance(done, ActivationCompleted)
    assert done.flow.step is ActivationStep.COMPLETED and done.flow.user_id == user.user_id
    assert world.directory.password_matches(user.id, NEW_PASSWORD)
    assert world.attribute(user.id, ACTIVATION_STATE) == ACTIVE
    assert world.attribute(user.id, activation.NONCE_ATTRIBUTE) is None
    [event] = world.events("account:activation:completed")
    assert event["subject"] == user.user_id and event["outcome"] == "success"


def test_a_used_link_cannot_be_used_again(world):
    user, token = world.at_password_step()
    complete(world.ctx(), token, NEW_PASSWORD, NEW_PASSWORD)

    for verb, args in ((open_link, ()), (set_security_questions, (ANSWERS,)),
                       (complete, ("Lain#Kata-Laluan7", "Lain#Kata-Laluan7"))):
        with pytest.raises(LinkUsedOrSuperseded):
            verb(world.ctx(), token, *args)
    assert world.directory.password_matches(user.id, NEW_PASSWORD)
    assert len(world.events("account:activation:completed")) == 1


def test_an_active_user_asking_again_gets_a_decoy_and_no_email(world):
    user, token = world.at_password_step()
    complete(world.ctx(), token, NEW_PASSWORD, NEW_PASSWORD)
    sent = len(world.mail.sent)

    outcome = request_link(world.ctx(), user.user_id)

    assert len(world.mail.sent) == sent and outcome == LinkRequested()


def test_password_before_the_questions_is_refused(world):
    user = world.pending()
    token = world.request(user.user_id)

    with pytest.raises(QuestionsRequired) as caught:
        complete(world.ctx(), token, NEW_PASSWORD, NEW_PASSWORD)
    assert caught.value.http_status == 409
    assert world.directory.password_count(user.id) == 1


@pytest.mark.parametrize("password, rule", [
    ("Pendek#9a", "length"),
    ("TIADA-HURUF-KECIL-9", "lower"),
    ("tiada-huruf-besar-9", "upper"),
    ("Tiada-Nombor-Langsung", "digit"),
    ("TiadaAksaraKhas99", "special"),
    ("Malaysia@2024", "not_common"),
    ("P@ssw0rd2024!", "not_common"),
    ("Tiga#Ekor\x00Kucing9", "no_control"),
    ("Tiga#Ekor\u202eKucing9", "no_control"),
])
def test_each_password_rule_is_checked_on_the_server(world, password, rule):
    user, token = world.at_password_step()

    with pytest.raises(PasswordRulesFailed) as caught:
        complete(world.ctx(), token, password, password)

    assert [f.rule for f in caught.value.failures] == [rule]
    assert caught.value.field_errors == {"password": f"password.rule.{rule}"}
    assert world.directory.password_count(user.id) == 1
    assert world.attribute(user.id, ACTIVATION_STATE) == "pending"


def test_other_unicode_is_a_good_password(world):
    user, token = world.at_password_step()
    complete(world.ctx(), token, "Kuih-Muih🍰Sedap1", "Kuih-Muih🍰Sedap1")
    assert world.directory.password_matches(user.id, "Kuih-Muih🍰Sedap1")


def test_password_containing_the_id_is_refused(world):
    user, token = world.at_password_step()
    for password in (f"Aa#{user.user_id}", f"Aa#{user.user_id[:6]}-{user.user_id[6:8]}-{user.user_id[8:]}"):
        with pytest.raises(PasswordRulesFailed) as caught:
            complete(world.ctx(), token, password, password)
        assert "not_user_id" in [f.rule for f in caught.value.failures]


def test_mismatched_confirmation_is_a_field_error_on_the_confirmation(world):
    user, token = world.at_password_step()

    with pytest.raises(PasswordRulesFailed) as caught:
        complete(world.ctx(), token, NEW_PASSWORD, NEW_PASSWORD + "x")

    assert caught.value.field_errors == {"confirm": "password.rule.confirm"}
    assert world.directory.password_count(user.id) == 1


def test_keycloak_policy_refusal_is_a_clear_error_and_the_link_stays_usable():
    refusing = {"on": True}
    policy = keycloak_like_policy()

    def strict(user, password, previous):
        return USERNAME_REJECTION if refusing["on"] else policy(user, password, previous)

    world = World(password_policy=strict)
    user, token = world.at_password_step()

    with pytest.raises(PasswordRejectedByPolicy) as caught:
        complete(world.ctx(), token, NEW_PASSWORD, NEW_PASSWORD)

    assert caught.value.code == "password.rejected_by_policy"
    assert caught.value.reason_key == "password.policy.username"
    assert caught.value.field_errors == {"password": "password.policy.username"}
    assert world.attribute(user.id, ACTIVATION_STATE) == "pending"
    refusing["on"] = False
    assert complete(world.ctx(), token, NEW_PASSWORD, NEW_PASSWORD).flow.step is ActivationStep.COMPLETED


def test_reusing_a_recent_password_is_refused_by_history_every_time(world):
    # An account state IT set back to pending still has its old password in history.
    record = world.people[0]
    user = world.directory.add_user(record.user_id, name=record.name, email=record.email,
                                    attributes={ACTIVATION_STATE: ["pending"]},
                                    password=NEW_PASSWORD)
    token = world.request(user.user_id)
    set_security_questions(world.ctx(), token, ANSWERS)

    for _ in range(2):
        with pytest.raises(PasswordRejectedByPolicy) as caught:
            complete(world.ctx(), token, NEW_PASSWORD, NEW_PASSWORD)
        assert caught.value.reason_key == "password.policy.history"
    assert world.attribute(user.id, ACTIVATION_STATE) == "pending"
    other = "Lain#Kata-Laluan7"
    complete(world.ctx(), token, other, other)
    assert world.directory.password_matches(user.id, other)


def test_keycloak_down_before_the_password_changes_nothing_and_a_retry_works(world):
    user, token = world.at_password_step()
    world.directory.fail_next("set_password")

    with pytest.raises(KeycloakUnavailable):
        complete(world.ctx(), token, NEW_PASSWORD, NEW_PASSWORD)

    assert world.directory.password_count(user.id) == 1
    assert world.attribute(user.id, ACTIVATION_STATE) == "pending"
    complete(world.ctx(), token, NEW_PASSWORD, NEW_PASSWORD)
    assert world.directory.password_matches(user.id, NEW_PASSWORD)


def test_keycloak_entirely_down_at_completion_changes_nothing(world):
    user, token = world.at_password_step()
    world.directory.unavailable = True

    with pytest.raises(KeycloakUnavailable):
        complete(world.ctx(), token, NEW_PASSWORD, NEW_PASSWORD)

    world.directory.unavailable = False
    assert world.directory.password_count(user.id) == 1
    assert world.attribute(user.id, ACTIVATION_STATE) == "pending"


@pytest.mark.parametrize("lost", ["set_password", "update_attributes"])
def test_retry_with_the_same_password_after_a_half_done_completion_succeeds(world, lost):
    user, token = world.at_password_step()
    # set_password's reply lost after Keycloak applied it, or the attribute write failing
    # after the password was set: both leave the password new and the account pending.
    world.directory.fail_next(lost, after_applying=(lost == "set_password"))

    with pytest.raises(KeycloakUnavailable):
        complete(world.ctx(), token, NEW_PASSWORD, NEW_PASSWORD)
    assert world.directory.password_matches(user.id, NEW_PASSWORD)
    assert world.attribute(user.id, ACTIVATION_STATE) == "pending"

    done = complete(world.ctx(), token, NEW_PASSWORD, NEW_PASSWORD)

    assert done.flow.step is ActivationStep.COMPLETED
    assert world.attribute(user.id, ACTIVATION_STATE) == ACTIVE
    assert world.attribute(user.id, activation.NONCE_ATTRIBUTE) is None
    [event] = world.events("account:activation:completed")
    assert event["details"]["earlier_attempt_applied"] is True


def test_retry_with_another_password_after_a_half_done_completion_succeeds(world):
    user, token = world.at_password_step()
    world.directory.fail_next("update_attributes")
    with pytest.raises(KeycloakUnavailable):
        complete(world.ctx(), token, NEW_PASSWORD, NEW_PASSWORD)

    other = "Lain#Kata-Laluan7"
    complete(world.ctx(), token, other, other)

    assert world.directory.password_matches(user.id, other)
    assert world.attribute(user.id, ACTIVATION_STATE) == ACTIVE


def test_concurrent_double_submission_activates_once():
    world = World(latency=0.02)
    user, token = world.at_password_step()
    barrier = threading.Barrier(2)
    results: list[object] = []

    def submit(password: str) -> None:
        barrier.wait()
        try:
            results.append(complete(world.ctx(), token, password, password))
        except Exception as exc:  # noqa: BLE001 - the test sorts outcomes below
            results.append(exc)

    threads = [threading.Thread(target=submit, args=(p,))
               for p in (NEW_PASSWORD, "Lain#Kata-Laluan7")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    completed = [r for r in results if isinstance(r, ActivationCompleted)]
    refused = [r for r in results if isinstance(r, LinkUsedOrSuperseded)]
    assert (len(completed), len(refused)) == (1, 1), results
    assert world.directory.password_count(user.id) == 2  # the initial one + exactly one
    assert len(world.events("account:activation:completed")) == 1


def test_concurrent_submissions_through_shared_claims_across_contexts():
    # Two "workers": separate contexts, one shared claims store (Redis in production).
    world = World(latency=0.02)
    user, token = world.at_password_step()
    barrier = threading.Barrier(4)
    results: list[object] = []

    def submit() -> None:
        ctx = world.ctx()
        barrier.wait()
        try:
            results.append(complete(ctx, token, NEW_PASSWORD, NEW_PASSWORD))
        except Exception as exc:  # noqa: BLE001
            results.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert sum(isinstance(r, ActivationCompleted) for r in results) == 1, results
    assert all(isinstance(r, (ActivationCompleted, LinkUsedOrSuperseded)) for r in results)
    assert len(world.events("account:activation:completed")) == 1


# -- across the flow ------------------------------------------------------------------


def test_no_secret_ever_reaches_the_audit_log(world):
    user = world.pending()
    token = world.request(user.user_id)
    payload = world.ctx().signer().read(token, "pahang")
    open_link(world.ctx(), token)
    set_security_questions(world.ctx(), token, ANSWERS)
    with pytest.raises(PasswordRulesFailed):
        complete(world.ctx(), token, "Malaysia@2024", "Malaysia@2024")
    complete(world.ctx(), token, NEW_PASSWORD, NEW_PASSWORD)

    written = json.dumps(world.audit.entries)
    for secret in (token, payload.nonce, payload.nonce_digest, NEW_PASSWORD, "Malaysia@2024",
                   *(a for _, a in ANSWERS), PUBLIC_URL):
        assert secret not in written
    assert {e["realm"] for e in world.audit.entries} == {"pahang"}


def test_every_step_is_audited_in_order(world):
    user = world.pending()
    token = world.request(user.user_id)
    open_link(world.ctx(), token)
    set_security_questions(world.ctx(), token, ANSWERS)
    complete(world.ctx(), token, NEW_PASSWORD, NEW_PASSWORD)

    assert world.audit.events() == [
        "account:activation:requested", activation.EVENT_LINK_OPENED.value,
        "account:security_questions:changed", "account:activation:completed"]


def test_kelantan_runs_the_same_flow():
    world = World("kelantan")
    user, token = world.at_password_step()
    complete(world.ctx(), token, NEW_PASSWORD, NEW_PASSWORD)
    assert world.attribute(user.id, ACTIVATION_STATE) == ACTIVE
    assert "/kelantan/activation/link/" in world.mail.last().text


def test_context_from_settings_takes_the_key_and_the_public_url(world):
    settings = Settings(secret_key=SECRET, sidecar_public_url="https://ispeks.example.test/")
    ctx = ActivationContext.from_settings(
        settings, world.tenant, directory=world.directory, mailer=world.mail, audit=world.audit,
        claims=world.claims, clock=world.clock)
    assert ctx.link_url("T") == "https://ispeks.example.test/pahang/activation/link/T"
    assert ctx.request_url() == "https://ispeks.example.test/pahang/activation"
    assert ctx.link_lifetime == timedelta(minutes=30)


def test_every_flow_error_has_a_title_and_message_in_both_languages():
    from idp_extension.flows import tokens

    codes = {cls.code for cls in (activation.ValidationFailed, InvalidUserIdError,
                                  QuestionsInvalid, PasswordRulesFailed,
                                  PasswordRejectedByPolicy, QuestionsRequired, AccountDisabled)}
    codes |= {cls("activation").code for cls in (
        tokens.LinkTampered, tokens.LinkWrongRealm, tokens.LinkExpired, tokens.LinkUsedOrSuperseded)}
    assert activation.MESSAGES["ms"].keys() == activation.MESSAGES["en"].keys()
    for code in codes:
        for locale in ("ms", "en"):
            assert code in activation.MESSAGES[locale], code
            assert f"{code}.title" in activation.MESSAGES[locale], code


def test_gateway_password_rejection_type_is_the_one_the_flow_catches():
    # The in-memory directory raises the real gateway's PasswordRejected.
    world = World(password_policy=lambda *_: USERNAME_REJECTION)
    user = world.pending()
    with pytest.raises(PasswordRejected):
        world.directory.set_password(user.id, NEW_PASSWORD)


def test_a_regional_locale_gets_its_language(world):
    user = world.pending()
    request_link(world.ctx(), user.user_id, "en-GB")
    assert world.mail.last().subject == "iSPEKS Account Activation"
    request_link(world.ctx(), user.user_id, "xx")
    assert world.mail.last().subject == "Pengaktifan Akaun iSPEKS"


def test_an_address_without_at_sign_is_treated_as_no_email(world):
    record = world.people[0]
    world.directory.add_user(record.user_id, email="tiada", attributes={ACTIVATION_STATE: ["pending"]})
    outcome = request_link(world.ctx(), record.user_id)
    assert world.mail.sent == [] and outcome == LinkRequested()


def test_keycloak_failing_at_the_store_is_audited_and_sends_nothing(world):
    user = world.pending()
    world.directory.fail_next("update_attributes")
    request_link(world.ctx(), user.user_id)
    entry = world.audit.entries[-1]
    assert entry["details"] == {"result": "not_sent", "reason": "keycloak_unavailable"}
    assert world.mail.sent == []


def test_rate_limit_key_counts_one_id_however_written_and_hides_it(world):
    user_id = world.people[0].user_id
    dashed = f"{user_id[:6]}-{user_id[6:8]}-{user_id[8:]}"
    key = activation.id_rate_limit_key(SECRET, "pahang", user_id)

    assert activation.id_rate_limit_key(SECRET, "pahang", f" {dashed} ") == key
    assert user_id not in key and key.startswith("activation-id:pahang:")
    assert activation.id_rate_limit_key(SECRET, "kelantan", user_id) != key
    assert activation.id_rate_limit_key(SECRET, "pahang", world.people[1].user_id) != key
    assert activation.id_rate_limit_key(SECRET, "pahang", "garbage").startswith("activation-id:")


def test_undeclared_activation_state_fails_loudly_instead_of_reporting_success(world):
    user, token = world.at_password_step()
    world.directory.declared_attributes.discard(ACTIVATION_STATE)

    with pytest.raises(InternalError):
        complete(world.ctx(), token, NEW_PASSWORD, NEW_PASSWORD)

    assert world.events("account:activation:completed") == []
    # Once the profile is fixed, a new link completes the activation.
    world.directory.declared_attributes.add(ACTIVATION_STATE)
    world.directory.update_attributes(user.id, {ACTIVATION_STATE: ["pending"]})
    other = "Lain#Kata-Laluan7"
    done = complete(world.ctx(), world.request(user.user_id), other, other)
    assert done.flow.step is ActivationStep.COMPLETED


def test_completing_records_when_the_account_turned_active(world):
    user, token = world.at_password_step()
    world.clock.advance(minutes=3)

    complete(world.ctx(), token, NEW_PASSWORD, NEW_PASSWORD)

    # The campaign report counts activations per day with it (reporting/summary.py).
    assert world.attribute(user.id, ACTIVATED_AT) == world.clock.now().isoformat(
        timespec="seconds")
