"""The security settings flow with in-memory Keycloak, mail, audit and a manual clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from idp_extension.errors import NotFound
from idp_extension.flows.activation import (
    PasswordRejectedByPolicy, PasswordRulesFailed, QuestionsInvalid,
)
from idp_extension.flows.answers import ANSWERS_ATTRIBUTE, verify_answer
from idp_extension.flows.first_login import (
    IMAGE_ATTRIBUTE, IMAGE_UNKNOWN, PHRASE_ATTRIBUTE, PHRASE_MARKUP, PHRASE_SECRET,
)
from idp_extension.flows.password_rules import POLICY_HISTORY
from idp_extension.flows.settings import (
    FRESH_LOGIN_SECONDS, AccountUnavailable, NotActivated, ReauthenticationRequired,
    SettingsContext, SignIn, SiteKeyInvalid, account, change_password, change_questions,
    change_site_key, is_fresh, signed_in,
)
from tests.support import worlds
from tests.support.constants import (
    ANSWERS, FAST_HASHER, IMAGE, NEW_PASSWORD, OLD_PASSWORD, PHRASE,
)

NEW_ANSWERS = [("first_pet", "Comel"), ("birth_town", "Kuantan"), ("favourite_food", "Nasi lemak")]


class World(worlds.World):
    realm = "melaka"
    people_count = 3
    seed = "settings-flow-tests"
    active_attributes = {PHRASE_ATTRIBUTE: [PHRASE], IMAGE_ATTRIBUTE: [IMAGE]}

    def ctx(self) -> SettingsContext:
        return SettingsContext(tenant=self.tenant, directory=self.directory, mailer=self.mail,
                               audit=self.audit, recovery_url="https://s.test/melaka/recovery",
                               clock=self.clock, answer_hasher=FAST_HASHER)

    def sign_in(self, user, *, seconds_ago: int = 10) -> SignIn:
        then = self.clock.now() - timedelta(seconds=seconds_ago)
        return SignIn.from_claims(user.id, user.user_id, then.timestamp())


@pytest.fixture
def world() -> World:
    return World()


def test_an_active_user_signs_in_and_sees_their_details(world):
    user = world.active()
    details = signed_in(world.ctx(), world.sign_in(user))
    assert (details.user_id, details.name, details.email) == (user.user_id, user.name, user.email)
    assert details.department == world.people[0].department
    assert details.registration_date == world.people[0].registration_date
    assert details.question_ids == tuple(q for q, _ in ANSWERS)
    assert (details.phrase, details.image_id) == ("Pelangi di Bukit Hijau", "hibiscus")
    assert world.events("account:settings:signed_in")[0]["outcome"] == "success"


def test_a_pending_account_is_refused(world):
    pending, _ = world.directory.register_pending(world.people[1])
    with pytest.raises(NotActivated):
        signed_in(world.ctx(), world.sign_in(pending))
    assert world.events("account:settings:signed_in")[0]["outcome"] == "denied"


def test_a_disabled_account_or_a_mismatched_username_is_refused(world):
    user = world.active()
    other = world.active(1)
    with pytest.raises(AccountUnavailable):
        signed_in(world.ctx(), SignIn.from_claims(user.id, other.user_id, world.clock.now().timestamp()))
    world.directory.set_enabled(user.id, False)
    with pytest.raises(AccountUnavailable):
        signed_in(world.ctx(), world.sign_in(user))
    with pytest.raises(AccountUnavailable):
        account(world.ctx(), world.sign_in(user))


def test_a_login_is_fresh_for_five_minutes(world):
    user = world.active()
    assert is_fresh(world.ctx(), world.sign_in(user, seconds_ago=FRESH_LOGIN_SECONDS))
    assert not is_fresh(world.ctx(), world.sign_in(user, seconds_ago=FRESH_LOGIN_SECONDS + 1))


# -- the password ------------------------------------------------------------------------


def test_a_stale_login_changes_nothing(world):
    user = world.active()
    stale = world.sign_in(user, seconds_ago=FRESH_LOGIN_SECONDS + 1)
    before = world.directory.get(user.id)
    for change in (
        lambda: change_password(world.ctx(), stale, NEW_PASSWORD, NEW_PASSWORD, "ms"),
        lambda: change_questions(world.ctx(), stale, NEW_ANSWERS, "ms"),
        lambda: change_site_key(world.ctx(), stale, "Bulan di Tasik Biru", "moon", "ms"),
    ):
        with pytest.raises(ReauthenticationRequired):
            change()
    assert world.directory.password_matches(user.id, OLD_PASSWORD)
    assert world.directory.get(user.id) == before
    assert world.mail.sent == []
    denied = [e for e in world.audit.entries if e["outcome"] == "denied"]
    assert [e["details"]["reason"] for e in denied] == ["login_not_fresh"] * 3


def test_a_fresh_login_changes_the_password_writes_an_event_and_notifies(world):
    user = world.active()
    change_password(world.ctx(), world.sign_in(user), NEW_PASSWORD, NEW_PASSWORD, "ms")
    assert world.directory.password_matches(user.id, NEW_PASSWORD)
    [event] = world.events("account:password:changed")
    assert event["outcome"] == "success" and event["details"]["notified"] is True
    [notice] = world.mail.sent
    assert notice.to == user.email and notice.subject.startswith("Kata Laluan iSPEKS Telah Ditukar")
    assert user.user_id in notice.text and NEW_PASSWORD not in notice.text


def test_a_weak_or_mismatched_password_is_refused_before_keycloak(world):
    user = world.active()
    with pytest.raises(PasswordRulesFailed) as caught:
        change_password(world.ctx(), world.sign_in(user), NEW_PASSWORD, NEW_PASSWORD + "x", "ms")
    assert [f.rule for f in caught.value.failures] == ["confirm"]
    with pytest.raises(PasswordRulesFailed):
        change_password(world.ctx(), world.sign_in(user), "password123", "password123", "ms")
    assert world.directory.password_count(user.id) == 2  # the initial one and OLD_PASSWORD


@pytest.mark.parametrize("password", ["Tiga#Ekor\tKucing9", "Tiga#Ekor\u200fKucing9"])
def test_control_characters_are_refused_and_other_unicode_is_not(world, password):
    user = world.active()
    with pytest.raises(PasswordRulesFailed) as caught:
        change_password(world.ctx(), world.sign_in(user), password, password, "ms")
    assert [f.rule for f in caught.value.failures] == ["no_control"]
    assert world.directory.password_count(user.id) == 2
    change_password(world.ctx(), world.sign_in(user), "Kuih-Muih🍰Sedap1", "Kuih-Muih🍰Sedap1",
                    "ms")
    assert world.directory.password_matches(user.id, "Kuih-Muih🍰Sedap1")


def test_keycloak_history_refuses_the_current_password(world):
    user = world.active()
    with pytest.raises(PasswordRejectedByPolicy) as caught:
        change_password(world.ctx(), world.sign_in(user), OLD_PASSWORD, OLD_PASSWORD, "ms")
    assert caught.value.reason_key == POLICY_HISTORY
    assert world.mail.sent == []


# -- the questions -----------------------------------------------------------------------


def test_the_questions_are_replaced_by_hashes_and_the_old_answers_stop_working(world):
    user = world.active()
    changed = change_questions(world.ctx(), world.sign_in(user), NEW_ANSWERS, "en")
    stored = world.directory.get(user.id).attributes[ANSWERS_ATTRIBUTE][0]
    assert changed.question_ids == tuple(q for q, _ in NEW_ANSWERS)
    for question, answer in NEW_ANSWERS:
        assert verify_answer(stored, question, answer, FAST_HASHER)
        assert answer not in stored
    assert not verify_answer(stored, "mother_name", "Siti Aishah", FAST_HASHER)
    assert world.mail.last().subject.startswith("iSPEKS Security Questions Changed")
    assert world.events("account:security_questions:changed")[0]["details"]["question_ids"] == [
        q for q, _ in NEW_ANSWERS]


def test_invalid_questions_change_nothing(world):
    user = world.active()
    before = world.directory.get(user.id).attributes[ANSWERS_ATTRIBUTE]
    with pytest.raises(QuestionsInvalid) as caught:
        change_questions(world.ctx(), world.sign_in(user),
                         [("first_pet", "Comel"), ("first_pet", "Tompok"), ("nope", "x")], "ms")
    assert set(caught.value.field_errors) == {"question_2", "question_3", "answer_3"}
    assert world.directory.get(user.id).attributes[ANSWERS_ATTRIBUTE] == before


# -- the secret phrase and image --------------------------------------------------------


def test_the_phrase_and_image_are_replaced(world):
    user = world.active()
    changed = change_site_key(world.ctx(), world.sign_in(user), "  Bulan   di Tasik Biru ", "moon", "ms")
    assert (changed.phrase, changed.image_id) == ("Bulan di Tasik Biru", "moon")
    [event] = world.events("account:secret_phrase:changed")
    assert event["details"]["image_changed"] is True
    assert world.mail.last().subject.startswith("Frasa Rahsia dan Imej iSPEKS Telah Ditukar")


@pytest.mark.parametrize("phrase, image, errors", [
    ("Bulan <b>", "moon", {"phrase": PHRASE_MARKUP}),
    ("Bulan di Tasik", "no-such-image", {"image": IMAGE_UNKNOWN}),
    # Shown to anyone who types the ID: never one of the user's secret answers.
    ("siti   AISHAH", "moon", {"phrase": PHRASE_SECRET}),
])
def test_a_bad_phrase_or_image_changes_nothing(world, phrase, image, errors):
    user = world.active()
    with pytest.raises(SiteKeyInvalid) as caught:
        change_site_key(world.ctx(), world.sign_in(user), phrase, image, "ms")
    assert caught.value.field_errors == errors
    assert world.directory.get(user.id).attributes[PHRASE_ATTRIBUTE] == ["Pelangi di Bukit Hijau"]


def test_states_without_phrases_have_no_phrase_to_change():
    world = World("pahang")
    user = world.active()
    with pytest.raises(NotFound):
        change_site_key(world.ctx(), world.sign_in(user), "Bulan di Tasik Biru", "moon", "ms")


def test_an_account_locked_after_the_sign_in_cannot_change_anything(world):
    user = world.active()
    fresh = world.sign_in(user)
    world.directory.record_failed_logins(user.id, 3)
    with pytest.raises(AccountUnavailable):
        change_password(world.ctx(), fresh, NEW_PASSWORD, NEW_PASSWORD, "ms")
    assert world.directory.password_matches(user.id, OLD_PASSWORD)
