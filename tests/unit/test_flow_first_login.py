"""The first-login flow with in-memory Keycloak, mail, audit, clock and claims."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from markupsafe import escape

from idp_extension.errors import InternalError
from idp_extension.flows import first_login as fl
from idp_extension.flows.activation import AccountDisabled, PasswordRejectedByPolicy
from idp_extension.flows.answers import ANSWERS_ATTRIBUTE, verify_answer
from idp_extension.flows.first_login import (
    AlreadyActivated, FirstLoginContext, FirstLoginStep, InvalidEmailError, InvalidLoginIdError,
    Registration, RegistrationInvalid, RegistrationRefused, SubmissionInProgress, Superseded,
    TemporaryPasswordExpired, complete, current_flow, request_temporary_password, signed_in,
)
from idp_extension.flows.password_rules import check_password
from idp_extension.flows.ports import ClaimsUnavailable
from idp_extension.gallery import GALLERY
from idp_extension.gateway.errors import KeycloakUnavailable
from idp_extension.gateway.users import ACTIVATED_AT, ACTIVATION_STATE, ACTIVE
from idp_extension.mail.errors import MailRejected, MailUnavailable
from idp_extension.payroll import InvalidUserId
from idp_extension.realms.profile import SIDECAR_ATTRIBUTES
from tests.support import worlds
from tests.support.constants import ANSWERS, FAST_HASHER, IMAGE, NEW_PASSWORD, PHRASE

CONTINUE = "https://sidecar.example.test/melaka/first-login/continue"
PASSWORD_LINE = re.compile(r"(?:Kata Laluan Sementara|Temporary password) *: (\S+)")


class World(worlds.World):
    """One realm's in-memory services and helpers to drive the flow through them."""

    realm = "melaka"
    seed = "first-login-tests"

    def ctx(self, **changes) -> FirstLoginContext:
        base = FirstLoginContext(
            tenant=self.tenant, directory=self.directory, mailer=self.mail, audit=self.audit,
            claims=self.claims, continue_url=CONTINUE, clock=self.clock,
            answer_hasher=FAST_HASHER)
        return dataclasses.replace(base, **changes)

    def request(self, user, email: str | None = None, locale: str = "ms") -> str:
        """Request a temporary password for ``user``; return it from the email."""
        return password_in(self.one_mail(lambda: request_temporary_password(
            self.ctx(), user.user_id, email or user.email, locale)))

    def signed_in(self, index: int = 0):
        user = self.pending(index)
        temporary = self.request(user)
        return user, temporary, signed_in(self.ctx(), user.id, user.user_id)


def password_in(message) -> str:
    found = PASSWORD_LINE.search(message.text)
    assert found, message.text
    return found.group(1)


def registration(**changes) -> Registration:
    values = dict(password=NEW_PASSWORD, confirm=NEW_PASSWORD, choices=list(ANSWERS),
                  image_id=IMAGE, phrase=PHRASE)
    values.update(changes)
    return Registration(**values)


@pytest.fixture
def world() -> World:
    return World()


# -- identifiers ------------------------------------------------------------------------


@pytest.mark.parametrize("raw, expected", [
    ("900101061234", "900101061234"),
    ("900101-06-1234", "900101061234"),
    (" 900101 06 1234 ", "900101061234"),
    ("201901000005", "201901000005"),     # SSM since 2019: year, type 01, serial
    ("2019-01-000005", "201901000005"),
    ("1234567-X", "1234567-x"),           # SSM before 2019: digits, check letter
    ("1234567x", "1234567-x"),
    ("12345-k", "12345-k"),
])
def test_mykad_and_company_ids_are_normalised(raw, expected):
    assert fl.normalise_login_id(raw) == expected


@pytest.mark.parametrize("raw", [
    "", "12345", "abcdefghijkl", "901332061234",  # month 13 and no SSM type 13
    "201909000005",   # entity type 09 does not exist
    "12345678-X",     # old numbers have at most 7 digits
    "1234567-XY", "ABC-1234567", "2019010000051",
])
def test_anything_else_is_not_an_id(raw):
    with pytest.raises(InvalidUserId):
        fl.normalise_login_id(raw)


def test_company_ids_are_shown_as_people_write_them():
    assert fl.display_id("1234567-x") == "1234567-X"
    assert fl.display_id("900101061234") == "900101061234"


def test_rate_limit_key_is_shared_by_spellings_of_one_id_and_hides_it():
    key = fl.id_rate_limit_key("s3cret", "melaka", "900101-06-1234")
    assert key == fl.id_rate_limit_key("s3cret", "melaka", "900101061234")
    assert key != fl.id_rate_limit_key("s3cret", "selangor", "900101061234")
    assert "900101" not in key


def test_profile_declares_every_attribute_the_flow_writes():
    for name in (fl.EXPIRES_ATTRIBUTE, fl.ISSUE_ATTRIBUTE, fl.PHRASE_ATTRIBUTE,
                 fl.IMAGE_ATTRIBUTE, ANSWERS_ATTRIBUTE):
        assert name in SIDECAR_ATTRIBUTES, name


# -- request: ID + email ----------------------------------------------------------------


@pytest.mark.parametrize("raw_id", ["", "12345", "ABCDEFGHIJKL", "201909000005"])
def test_malformed_id_is_a_field_error_and_nothing_else_happens(world, raw_id):
    with pytest.raises(InvalidLoginIdError) as caught:
        request_temporary_password(world.ctx(), raw_id, "ali@melaka.gov.my")

    assert caught.value.field_errors == {"user_id": "first_login.invalid_id"}
    assert caught.value.http_status == 400
    assert world.directory.calls == [] and world.mail.sent == [] and world.audit.entries == []


@pytest.mark.parametrize("email", ["", "ali", "ali@", "@melaka.gov.my", "ali melaka@gov.my",
                                   "a" * 250 + "@melaka.gov.my"])
def test_malformed_email_is_a_field_error(world, email):
    with pytest.raises(InvalidEmailError) as caught:
        request_temporary_password(world.ctx(), world.people[0].user_id, email)

    assert caught.value.field_errors == {"email": "first_login.invalid_email"}
    assert world.directory.calls == [] and world.mail.sent == []


def test_matching_id_and_email_get_one_email_with_a_working_temporary_password(world):
    user = world.pending()

    sent = request_temporary_password(world.ctx(), user.user_id, user.email.upper(), "ms")

    [message] = world.mail.sent
    temporary = password_in(message)
    assert message.to == user.email
    assert world.directory.password_matches(user.id, temporary)
    assert check_password(temporary, temporary, user.user_id) == []  # meets the policy
    # Shared departmental mailboxes: the email names the person and their ID.
    assert user.name in message.text and user.user_id in message.text
    assert user.user_id in message.subject
    assert user.name in message.html and str(escape(temporary)) in message.html
    assert CONTINUE in message.text and CONTINUE in message.html
    assert "Pendaftaran" in message.text  # Melaka's word for it
    expires = world.clock.now() + timedelta(minutes=1440)
    assert sent == fl.TemporaryPasswordSent()
    assert fl.format_expiry(expires, "ms") in message.text
    assert world.attribute(user.id, fl.EXPIRES_ATTRIBUTE) == fl._iso(expires)
    assert world.attribute(user.id, fl.ISSUE_ATTRIBUTE)
    assert world.directory.get(user.id).activation_state == "pending"
    # One Keycloak write for password and attributes together.
    assert world.directory.calls.count("set_password_and_attributes") == 1
    [event] = world.events("account:temporary_password:sent")
    assert event["subject"] == user.user_id and event["outcome"] == "success"
    assert temporary not in json.dumps(world.audit.entries)


def test_email_in_english_when_asked(world):
    user = world.pending()
    request_temporary_password(world.ctx(), user.user_id, user.email, "en")

    message = world.mail.last()
    assert "Temporary password" in message.text and "Registration" in message.text
    assert "Malaysia time" in message.text


def test_selangor_calls_it_login_kali_pertama():
    world = World("selangor")
    user = world.pending()
    request_temporary_password(world.ctx(), user.user_id, user.email)

    assert "Login Kali Pertama" in world.mail.last().text


def refusal_cases(world: World):
    pending = world.pending(0)
    active = world.pending(1)
    world.directory.update_attributes(active.id, {ACTIVATION_STATE: [ACTIVE]})
    disabled = world.pending(2)
    world.directory.set_enabled(disabled.id, False)
    locked = world.pending(3)
    world.directory.record_failed_logins(locked.id, 3)
    other = world.pending(4)
    return {
        "unknown": ("850101035555", "ali.bakar@melaka.gov.my"),
        "email_mismatch": (pending.user_id, other.email),
        "email_domain": (pending.user_id, pending.email.replace("melaka.gov.my", "gmail.com")),
        "not_pending": (active.user_id, active.email),
        "disabled": (disabled.user_id, disabled.email),
        "locked": (locked.user_id, locked.email),
    }


def test_every_mismatch_gets_the_same_confirmation_and_nothing_is_sent(world):
    cases = refusal_cases(world)
    before = {u: world.directory.password_count(u) for u in
              [world.directory.find(p.user_id).id for p in world.people[:5]]}

    for reason, (raw_id, email) in cases.items():
        if reason == "email_domain":
            # Depends on the typed address alone: told at once, whatever the ID.
            with pytest.raises(RegistrationRefused) as caught:
                request_temporary_password(world.ctx(), raw_id, email)
            assert caught.value.code == "first_login.refused", reason
        else:
            assert request_temporary_password(world.ctx(), raw_id, email) == (
                fl.TemporaryPasswordSent()), reason

    assert world.mail.sent == []
    assert before == {u: world.directory.password_count(u) for u in before}
    reasons = [e["details"]["reason"] for e in world.events("account:first_login:rejected")]
    assert reasons == list(cases)
    assert fl.MESSAGES["ms"]["first_login.refused"] == (
        "Pengguna Tidak Dapat Didaftarkan, Sila Hubungi Pentadbir Sistem")


def test_refusals_and_successes_take_the_same_minimum_time(world):
    user = world.pending()
    durations = []
    for raw_id, email in [("850101035555", "x.y@melaka.gov.my"), (user.user_id, user.email)]:
        started = world.clock.monotonic()
        try:
            request_temporary_password(world.ctx(), raw_id, email)
        except RegistrationRefused:
            pass
        durations.append(world.clock.monotonic() - started)

    assert durations == [pytest.approx(fl.DEFAULT_MIN_REQUEST_SECONDS)] * 2


def test_a_newer_request_voids_the_older_password(world):
    user = world.pending()
    first = world.request(user)
    issue = world.attribute(user.id, fl.ISSUE_ATTRIBUTE)
    world.clock.advance(seconds=fl.REPEAT_WINDOW_SECONDS + 1)

    second = world.request(user)

    assert first != second
    assert world.directory.password_matches(user.id, second)
    assert not world.directory.password_matches(user.id, first)
    assert world.attribute(user.id, fl.ISSUE_ATTRIBUTE) != issue
    assert world.events("account:temporary_password:sent")[-1]["details"]["replaced_earlier"]


def test_a_double_click_sends_one_email(world):
    user = world.pending()
    world.request(user)

    request_temporary_password(world.ctx(), user.user_id, user.email)

    assert len(world.mail.sent) == 1
    assert world.events("account:first_login:requested")[-1]["details"]["result"] == (
        "repeat_ignored")


def test_a_claims_store_outage_does_not_answer_matching_pairs_differently(world):
    class Down:
        def claim(self, key, ttl_seconds):
            raise ClaimsUnavailable("redis: ConnectionError")

        def release(self, key):
            pass

    user = world.pending()
    world.claims = Down()

    world.request(user)  # a 503 here would tell a matching ID and email from the rest

    assert len(world.mail.sent) == 1


@pytest.mark.parametrize("failure", [MailUnavailable("smtp down"), MailRejected("550")])
def test_mail_failure_withdraws_the_temporary_password_and_answers_the_same(world, failure):
    user = world.pending()
    world.mail.fail_with = failure

    assert request_temporary_password(world.ctx(), user.user_id, user.email) == (
        fl.TemporaryPasswordSent())

    stored = world.directory.get(user.id)
    assert fl.EXPIRES_ATTRIBUTE not in stored.attributes
    assert fl.ISSUE_ATTRIBUTE not in stored.attributes
    assert stored.activation_state == "pending"
    [event] = world.events("account:first_login:requested")
    assert event["outcome"] == "failure" and event["details"]["withdrawn"] is True
    [failed] = world.events("mail:send:failed")
    assert failed["details"]["purpose"] == "first_login" and failed["subject"] == user.user_id
    # Nothing was sent, so asking again at once sends one.
    world.mail.fail_with = None
    assert world.request(user)


def test_keycloak_failure_sends_nothing_and_changes_nothing(world):
    user = world.pending()
    world.directory.fail_next("set_password_and_attributes")

    assert request_temporary_password(world.ctx(), user.user_id, user.email) == (
        fl.TemporaryPasswordSent())

    assert world.mail.sent == []
    assert world.events("account:first_login:requested")[-1]["details"] == {
        "result": "not_sent", "reason": "keycloak_unavailable"}
    assert fl.EXPIRES_ATTRIBUTE not in world.directory.get(user.id).attributes
    assert world.request(user)  # and a retry works at once


def test_activation_link_states_have_no_first_login():
    world = World("pahang")
    with pytest.raises(InternalError):
        request_temporary_password(world.ctx(), world.people[0].user_id, "a.b@pahang.gov.my")


# -- signing in with it -----------------------------------------------------------------


def test_signed_in_pending_user_may_complete(world):
    user, _, flow = world.signed_in()

    assert flow.step is FirstLoginStep.COMPLETING
    assert (flow.user_id, flow.name, flow.email) == (user.user_id, user.name, user.email)
    assert flow.issue == world.attribute(user.id, fl.ISSUE_ATTRIBUTE)
    assert world.events("account:first_login:signed_in")


def test_expired_temporary_password_is_refused_and_scrambled(world):
    user = world.pending()
    temporary = world.request(user)
    world.clock.advance(minutes=world.tenant.temporary_password_minutes)

    with pytest.raises(TemporaryPasswordExpired) as caught:
        signed_in(world.ctx(), user.id, user.user_id)

    assert caught.value.http_status == 403
    assert not world.directory.password_matches(user.id, temporary)
    assert fl.EXPIRES_ATTRIBUTE not in world.directory.get(user.id).attributes
    assert world.events("account:first_login:rejected")[-1]["details"]["reason"] == "expired"


def test_sign_in_without_a_temporary_password_is_refused(world):
    user = world.pending()
    with pytest.raises(TemporaryPasswordExpired):
        signed_in(world.ctx(), user.id, user.user_id)


def test_active_user_is_sent_to_log_in(world):
    user, _, _ = world.signed_in()
    world.directory.update_attributes(user.id, {ACTIVATION_STATE: [ACTIVE]})

    with pytest.raises(AlreadyActivated):
        signed_in(world.ctx(), user.id, user.user_id)


def test_a_token_of_another_username_is_refused(world):
    user = world.pending()
    world.request(user)
    with pytest.raises(TemporaryPasswordExpired):
        signed_in(world.ctx(), user.id, "850101035555")


# -- "Aktif" ----------------------------------------------------------------------------


def test_complete_saves_everything_in_one_write(world):
    user, temporary, flow = world.signed_in()
    writes = world.directory.calls.count("set_password_and_attributes")

    done = complete(world.ctx(), user.id, flow.issue, registration())

    assert done.flow.step is FirstLoginStep.COMPLETED
    assert world.directory.calls.count("set_password_and_attributes") == writes + 1
    stored = world.directory.get(user.id)
    assert stored.activation_state == ACTIVE
    assert world.directory.password_matches(user.id, NEW_PASSWORD)
    assert not world.directory.password_matches(user.id, temporary)
    assert world.attribute(user.id, fl.PHRASE_ATTRIBUTE) == "Pelangi di Bukit Hijau"
    assert world.attribute(user.id, fl.IMAGE_ATTRIBUTE) == "hibiscus"
    hashed = world.attribute(user.id, ANSWERS_ATTRIBUTE)
    assert "Siti" not in hashed
    assert verify_answer(hashed, "mother_name", "siti  AISHAH", FAST_HASHER)
    assert fl.EXPIRES_ATTRIBUTE not in stored.attributes
    assert fl.ISSUE_ATTRIBUTE not in stored.attributes
    [event] = world.events("account:first_login:completed")
    assert event["details"]["image"] == "hibiscus"
    dumped = json.dumps(world.audit.entries)
    assert NEW_PASSWORD not in dumped and temporary not in dumped and "Pelangi" not in dumped


def test_phrase_is_stored_trimmed_with_single_spaces(world):
    user, _, flow = world.signed_in()
    complete(world.ctx(), user.id, flow.issue, registration(phrase="  Bunga   Raya\tMerah "))

    assert world.attribute(user.id, fl.PHRASE_ATTRIBUTE) == "Bunga Raya Merah"


def test_a_second_aktif_finds_the_account_active(world):
    user, _, flow = world.signed_in()
    complete(world.ctx(), user.id, flow.issue, registration())

    with pytest.raises(AlreadyActivated):
        complete(world.ctx(), user.id, flow.issue, registration())


@pytest.mark.parametrize("changes, field, key", [
    (dict(password="lemah", confirm="lemah"), "password", "password.rule.length"),
    (dict(confirm="Lain#Kata-Laluan9"), "confirm", "password.rule.confirm"),
    (dict(choices=[ANSWERS[0], ANSWERS[0], ANSWERS[2]]), "question_2", "questions.duplicate"),
    (dict(choices=ANSWERS[:2]), "questions", "questions.count"),
    (dict(choices=[ANSWERS[0], ("first_car", ""), ANSWERS[2]]), "answer_2",
     "questions.answer_required"),
    (dict(image_id=""), "image", fl.IMAGE_REQUIRED),
    (dict(image_id="dragon"), "image", fl.IMAGE_UNKNOWN),
    (dict(phrase=""), "phrase", fl.PHRASE_REQUIRED),
    (dict(phrase="abc"), "phrase", fl.PHRASE_TOO_SHORT),
    (dict(phrase="x" * (fl.MAX_PHRASE_LENGTH + 1)), "phrase", fl.PHRASE_TOO_LONG),
    (dict(phrase="<b>Pelangi</b>"), "phrase", fl.PHRASE_MARKUP),
    (dict(phrase="Pelangi {{ 7*7 }}"), "phrase", fl.PHRASE_MARKUP),
    (dict(phrase="Ali & Abu"), "phrase", fl.PHRASE_MARKUP),
    (dict(phrase="Pelangi\u0007senja"), "phrase", fl.PHRASE_MARKUP),
    (dict(phrase="Pelangi\u202esenja"), "phrase", fl.PHRASE_MARKUP),  # bidi override
    (dict(phrase=NEW_PASSWORD), "phrase", fl.PHRASE_SECRET),
    (dict(phrase=f"kata {NEW_PASSWORD} saya"), "phrase", fl.PHRASE_SECRET),
    (dict(phrase="Kancil Merah"), "phrase", fl.PHRASE_SECRET),  # an answer
    (dict(password="Tiga#Ekor\u202eKucing9", confirm="Tiga#Ekor\u202eKucing9"), "password",
     "password.rule.no_control"),
    (dict(password="Tiga#Ekor\nKucing9", confirm="Tiga#Ekor\nKucing9"), "password",
     "password.rule.no_control"),
])
def test_form_errors_name_the_field_and_change_nothing(world, changes, field, key):
    user, temporary, flow = world.signed_in()
    writes = world.directory.calls.count("set_password_and_attributes")

    with pytest.raises(RegistrationInvalid) as caught:
        complete(world.ctx(), user.id, flow.issue, registration(**changes))

    assert caught.value.field_errors[field] == key
    assert caught.value.http_status == 400
    assert world.directory.calls.count("set_password_and_attributes") == writes
    assert world.directory.password_matches(user.id, temporary)
    assert world.directory.get(user.id).activation_state == "pending"


def test_every_error_of_the_form_is_reported_at_once(world):
    user, _, flow = world.signed_in()
    with pytest.raises(RegistrationInvalid) as caught:
        complete(world.ctx(), user.id, flow.issue, registration(
            password="lemah", confirm="lemah", image_id="", phrase="<>"))

    assert {"password", "image", "phrase"} <= set(caught.value.field_errors)
    assert {f.rule for f in caught.value.password_failures} >= {"length", "upper"}


def test_the_temporary_password_cannot_become_the_new_one(world):
    user, temporary, flow = world.signed_in()

    with pytest.raises(PasswordRejectedByPolicy) as caught:
        complete(world.ctx(), user.id, flow.issue,
                 registration(password=temporary, confirm=temporary))

    assert caught.value.reason_key == fl.PASSWORD_REUSED
    assert world.directory.get(user.id).activation_state == "pending"
    assert fl.PHRASE_ATTRIBUTE not in world.directory.get(user.id).attributes
    # The same sign-in may try again with another password.
    complete(world.ctx(), user.id, flow.issue, registration())


def test_keycloak_down_at_aktif_changes_nothing_and_a_retry_works(world):
    user, temporary, flow = world.signed_in()
    world.directory.fail_next("set_password_and_attributes")

    with pytest.raises(KeycloakUnavailable):
        complete(world.ctx(), user.id, flow.issue, registration())

    assert world.directory.password_matches(user.id, temporary)
    assert world.directory.get(user.id).activation_state == "pending"
    complete(world.ctx(), user.id, flow.issue, registration())
    assert world.directory.get(user.id).activation_state == ACTIVE


def test_a_newer_request_supersedes_the_sign_in(world):
    user, _, flow = world.signed_in()
    world.clock.advance(seconds=fl.REPEAT_WINDOW_SECONDS + 1)
    world.request(user)

    with pytest.raises(Superseded):
        current_flow(world.ctx(), user.id, flow.issue)
    with pytest.raises(Superseded):
        complete(world.ctx(), user.id, flow.issue, registration())


def test_completion_after_expiry_is_refused(world):
    user, _, flow = world.signed_in()
    world.clock.advance(minutes=world.tenant.temporary_password_minutes + 1)

    with pytest.raises(TemporaryPasswordExpired):
        complete(world.ctx(), user.id, flow.issue, registration())
    assert world.directory.get(user.id).activation_state == "pending"


def test_concurrent_aktif_is_refused_while_one_is_saving(world):
    user, _, flow = world.signed_in()
    assert world.claims.claim(f"first_login:melaka:{flow.issue}:complete", 60)

    with pytest.raises(SubmissionInProgress):
        complete(world.ctx(), user.id, flow.issue, registration())
    assert world.directory.get(user.id).activation_state == "pending"


def test_disabled_account_cannot_complete(world):
    user, _, flow = world.signed_in()
    world.directory.set_enabled(user.id, False)

    with pytest.raises(AccountDisabled):
        complete(world.ctx(), user.id, flow.issue, registration())


def test_every_gallery_image_may_be_chosen(world):
    assert len(GALLERY) >= 12
    for image in GALLERY:
        errors, _ = fl.validate_registration(world.tenant, "900101061234",
                                             registration(image_id=image.id))
        assert "image" not in errors


def test_registration_repr_shows_no_secrets():
    text = repr(registration())
    assert NEW_PASSWORD not in text and "Siti" not in text and "Pelangi" not in text


def test_expiry_is_shown_in_malaysian_time():
    moment = datetime(2026, 3, 3, 1, 0, tzinfo=timezone.utc)
    assert fl.format_expiry(moment, "ms") == "3 Mac 2026 9:00:00 AM (waktu Malaysia)"
    assert fl.format_expiry(moment, "en") == "3 March 2026 9:00:00 AM (Malaysia time)"
    assert fl.lifetime_hours(1440) == "24" and fl.lifetime_hours(90) == "1.5"


def test_every_message_exists_in_both_languages():
    assert set(fl.MESSAGES["ms"]) == set(fl.MESSAGES["en"])
    for cls in (InvalidLoginIdError, InvalidEmailError, RegistrationRefused, RegistrationInvalid,
                TemporaryPasswordExpired, Superseded, AlreadyActivated, SubmissionInProgress):
        for locale in ("ms", "en"):
            assert cls.code in fl.MESSAGES[locale] and f"{cls.code}.title" in fl.MESSAGES[locale]


def test_completing_records_when_the_account_turned_active(world):
    user, _, flow = world.signed_in()

    complete(world.ctx(), user.id, flow.issue, registration())

    # The campaign report counts activations per day with it (reporting/summary.py).
    assert world.attribute(user.id, ACTIVATED_AT) == world.clock.now().isoformat(
        timespec="seconds")
