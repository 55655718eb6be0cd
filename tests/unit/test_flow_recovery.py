"""The recovery flow ("Lupa Kata Laluan") with in-memory Keycloak, mail, audit, clock and claims."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from idp_extension.demo_users import synthetic_people
from idp_extension.flows import activation
from idp_extension.flows.activation import (
    InvalidUserIdError, LinkRequested, PasswordRejectedByPolicy, PasswordRulesFailed,
)
from idp_extension.flows.password_rules import POLICY_HISTORY
from idp_extension.flows.recovery import (
    NONCE_ATTRIBUTE, AccountBlocked, AnswerCheckBusy, AnswersRequired, RecoveryContext,
    RecoveryLocked, RecoveryStep, WrongAnswers, answer_questions, chosen_questions, complete,
    current_flow, open_link, request_link,
)
from idp_extension.flows.tokens import (
    LinkExpired, LinkSigner, LinkTampered, LinkUsedOrSuperseded, LinkWrongRealm, nonce_digest,
)
from idp_extension.gateway.errors import KeycloakUnavailable
from idp_extension.gateway.users import DISABLED_REASON, RECOVERY_FAILURES
from idp_extension.mail.errors import MailUnavailable
from idp_extension.settings import Settings
from idp_extension.tenants import load_tenant
from tests.support import worlds
from tests.support.constants import ANSWER_TO, NEW_PASSWORD, OLD_PASSWORD, SECRET
from tests.support.tokens import with_flipped_signature


class World(worlds.World):
    """One realm's in-memory services, and helpers to drive recovery through them."""

    people_count = 8
    seed = "recovery-flow-tests"

    def __init__(self, realm: str = "pahang", **tenant_changes) -> None:
        super().__init__(realm, tenant=dataclasses.replace(worlds.tenant(realm), **tenant_changes))

    def ctx(self, **changes) -> RecoveryContext:
        return self.link_context(RecoveryContext, **changes)

    def request(self, user_id: str, locale: str = "ms") -> str:
        """Ask for a link for ``user_id``; return the token from the email."""
        return token_of(self.one_mail(lambda: request_link(self.ctx(), user_id, locale)))

    def right_answers(self, token: str) -> dict[str, str]:
        asked = current_flow(self.ctx(), token).question_ids
        return {q: ANSWER_TO[q] for q in asked}

    def at_password_step(self, index: int = 0):
        user = self.active(index)
        token = self.request(user.user_id)
        accepted = answer_questions(self.ctx(), token, self.right_answers(token))
        return user, token, accepted.proof


def token_of(message) -> str:
    return worlds.link_token(message, "recovery")


def wrong(token_answers: dict[str, str]) -> dict[str, str]:
    return {q: "salah sama sekali" for q in token_answers}


@pytest.fixture
def world() -> World:
    return World()


# -- step 1: the ID, the email, the decoys ---------------------------------------------


@pytest.mark.parametrize("raw", ["", "12345", "abcdefghijkl", "901332061234"])
def test_malformed_id_is_a_field_error_and_nothing_else_happens(world, raw):
    with pytest.raises(InvalidUserIdError):
        request_link(world.ctx(), raw)
    assert world.directory.calls == [] and world.mail.sent == [] and world.audit.entries == []


def test_active_user_gets_one_email_with_a_30_minute_link_and_a_confirmation(world):
    user = world.active()

    outcome = request_link(world.ctx(), user.user_id, "ms")

    assert outcome == LinkRequested()
    [message] = world.mail.sent
    assert message.to == user.email
    assert message.subject == f"Lupa Kata Laluan iSPEKS: ID Pengguna {user.user_id}"
    # Shared departmental mailboxes: the email names the person and the ID.
    assert user.name in message.text and user.user_id in message.text
    assert "sah dalam tempoh 30 minit sahaja" in message.text
    assert ">Tetapkan Semula Kata Laluan</a>" in message.html
    token = token_of(message)
    # Keycloak holds the digest of the nonce, never the nonce or the token.
    payload = LinkSigner(SECRET, "recovery", world.ctx().link_lifetime, world.clock).read(token, "pahang")
    assert world.attribute(user.id, NONCE_ATTRIBUTE) == nonce_digest(payload.nonce)
    assert payload.expires_at - payload.issued_at == world.ctx().link_lifetime
    assert world.ctx().link_lifetime.total_seconds() == 30 * 60
    [event] = world.audit.entries
    assert (event["event"], event["outcome"], event["details"]["result"]) == (
        "account:recovery:requested", "success", "sent")


def test_english_email_on_request(world):
    user = world.active()
    request_link(world.ctx(), user.user_id, "en")
    assert world.mail.last().subject == f"iSPEKS Forgotten Password: User ID {user.user_id}"
    assert "valid for 30 minutes only" in world.mail.last().text


def _ineligible_accounts(world: World) -> dict[str, str]:
    """One account of each kind that gets no email; returns kind -> user ID."""
    unknown = synthetic_people(world.tenant, 1, seed="nobody-here")[0].user_id
    pending, _ = world.directory.register_pending(world.people[1])
    no_answers = world.active(2, answers=False)
    disabled = world.active(3)
    world.directory.set_enabled(disabled.id, False)
    brute_forced = world.active(4)
    world.directory.record_failed_logins(brute_forced.id, 3)
    recovery_locked = world.active(5)
    world.directory.update_attributes(recovery_locked.id, {RECOVERY_FAILURES: ["3"]})
    world.directory.set_enabled(recovery_locked.id, False)
    return {"unknown": unknown, "pending": pending.user_id, "no_answers": no_answers.user_id,
            "disabled": disabled.user_id, "locked": brute_forced.user_id,
            "locked_by_recovery": recovery_locked.user_id}


def test_every_ineligible_id_gets_the_same_confirmation_no_email_and_the_same_padding(world):
    accounts = _ineligible_accounts(world)
    real = world.active(0)
    world.mail.sent.clear()

    shapes = {}
    for kind, user_id in accounts.items():
        world.clock.slept.clear()
        first = request_link(world.ctx(), user_id)
        again = request_link(world.ctx(), user_id)
        assert first == again == LinkRequested(), kind
        # Padded to the same minimum as a real send (nothing real took any time here).
        assert world.clock.slept == [world.ctx().min_request_seconds] * 2, kind
        shapes[kind] = first
    assert world.mail.sent == []
    reasons = {e["subject"]: e["details"]["reason"] for e in world.events("account:recovery:requested")}
    assert reasons == {accounts[k]: k if k != "pending" else "not_active" for k in accounts}

    # A real request looks the same from outside.
    assert request_link(world.ctx(), real.user_id) == LinkRequested()


def test_a_permanently_locked_account_may_recover_where_the_state_allows_it():
    world = World(recovery_may_unlock=True)
    user = world.active()
    world.directory.record_failed_logins(user.id, 3)
    assert world.directory.get(user.id).permanently_locked

    token = world.request(user.user_id)
    accepted = answer_questions(world.ctx(), token, world.right_answers(token))
    done = complete(world.ctx(), token, accepted.proof, NEW_PASSWORD, NEW_PASSWORD)

    after = world.directory.get(user.id)
    assert done.unlocked and after.enabled and DISABLED_REASON not in after.attributes
    assert world.directory.password_matches(user.id, NEW_PASSWORD)
    [unlocked] = world.events("account:unlocked")
    assert unlocked["details"]["reason"] == "recovery_may_unlock"


def test_a_mail_outage_changes_nothing_answers_the_same_and_is_audited(world):
    user = world.active()
    world.mail.fail_with = MailUnavailable("smtp down")
    assert request_link(world.ctx(), user.user_id) == LinkRequested()
    assert world.attribute(user.id, NONCE_ATTRIBUTE) is None
    [failed] = world.events("mail:send:failed")
    assert failed["details"] == {"purpose": "recovery", "reason": "mail_unavailable"}


def test_a_keycloak_outage_at_the_store_sends_nothing_and_answers_the_same(world):
    user = world.active()
    world.directory.fail_next("update_attributes")
    assert request_link(world.ctx(), user.user_id) == LinkRequested()
    assert world.mail.sent == []
    assert world.events("account:recovery:requested")[-1]["details"] == {
        "result": "not_sent", "reason": "keycloak_unavailable"}


# -- step 2: the questions -----------------------------------------------------------


def test_two_of_the_three_questions_are_asked_and_stay_the_same_for_the_link(world):
    user = world.active()
    token = world.request(user.user_id)

    opened = open_link(world.ctx(), token)

    assert opened.step is RecoveryStep.QUESTIONS and opened.attempts_left == 3
    assert len(opened.question_ids) == 2 and set(opened.question_ids) < set(ANSWER_TO)
    assert list(opened.question_ids) == [q for q in ANSWER_TO if q in opened.question_ids]
    for _ in range(5):  # reloading the page never shows the third question
        assert current_flow(world.ctx(), token).question_ids == opened.question_ids


def test_the_pair_asked_varies_between_links_and_needs_the_secret_to_predict():
    stored = list(ANSWER_TO)
    pairs = Counter(chosen_questions(SECRET, "pahang", nonce_digest(f"nonce-{n}"), stored)
                    for n in range(300))
    assert len(pairs) == 3 and min(pairs.values()) > 60  # every pair, roughly evenly
    other_key = Counter(chosen_questions("another-secret", "pahang", nonce_digest(f"nonce-{n}"), stored)
                        for n in range(300))
    assert other_key != pairs


def test_right_answers_give_a_proof_for_the_password_step(world):
    user = world.active()
    token = world.request(user.user_id)

    accepted = answer_questions(world.ctx(), token, world.right_answers(token))

    assert accepted.flow.step is RecoveryStep.PASSWORD
    assert current_flow(world.ctx(), token, accepted.proof).step is RecoveryStep.PASSWORD
    assert current_flow(world.ctx(), token).step is RecoveryStep.QUESTIONS
    [event] = world.events("account:recovery:answers_accepted")
    assert event["details"]["question_ids"] == list(accepted.flow.question_ids)


def test_answers_are_compared_as_activation_stores_them(world):
    user = world.active()
    token = world.request(user.user_id)
    asked = world.right_answers(token)
    sloppy = {q: "  " + a.upper().replace(" ", "   ") + " " for q, a in asked.items()}
    assert answer_questions(world.ctx(), token, sloppy).flow.step is RecoveryStep.PASSWORD


@pytest.mark.parametrize("how", ["both_wrong", "one_wrong", "one_missing", "the_third_question"])
def test_any_wrong_answer_counts_as_one_failure(world, how):
    user = world.active()
    token = world.request(user.user_id)
    asked = world.right_answers(token)
    first, second = list(asked)
    answers = {
        "both_wrong": wrong(asked),
        "one_wrong": {first: asked[first], second: "salah"},
        "one_missing": {first: asked[first]},
        # The answer to the question not asked proves nothing.
        "the_third_question": {first: asked[first],
                               **{q: a for q, a in ANSWER_TO.items() if q not in asked}},
    }[how]

    with pytest.raises(WrongAnswers) as caught:
        answer_questions(world.ctx(), token, answers)

    assert caught.value.attempts_left == 2 and caught.value.http_status == 400
    assert world.attribute(user.id, RECOVERY_FAILURES) == "1"
    assert world.directory.get(user.id).enabled


def test_three_wrong_submissions_lock_the_account_for_an_administrator(world):
    user = world.active()
    token = world.request(user.user_id)
    asked = world.right_answers(token)
    world.mail.sent.clear()

    for left in (2, 1):
        with pytest.raises(WrongAnswers) as caught:
            answer_questions(world.ctx(), token, wrong(asked))
        assert caught.value.attempts_left == left
    with pytest.raises(RecoveryLocked) as caught:
        answer_questions(world.ctx(), token, wrong(asked))

    assert caught.value.http_status == 403
    locked = world.directory.get(user.id)
    assert not locked.enabled and locked.locked_by_recovery
    assert NONCE_ATTRIBUTE not in locked.attributes  # the link is void
    assert world.directory.password_matches(user.id, OLD_PASSWORD)
    [notice] = world.mail.sent
    assert notice.to == user.email and "Akaun iSPEKS Telah Disekat" in notice.subject
    [event] = world.events("account:locked")
    assert event["details"]["reason"] == "recovery_wrong_answers" and event["details"]["notified"]

    # Even the right answers are refused now, and asking again sends nothing.
    with pytest.raises(RecoveryLocked):
        answer_questions(world.ctx(), token, asked)
    request_link(world.ctx(), user.user_id)
    assert len(world.mail.sent) == 1

    # "ispeks-idp users unlock" (UserDirectory.unlock) lifts it; recovery works again.
    world.directory.unlock(user.id)
    unlocked = world.directory.get(user.id)
    assert unlocked.enabled and RECOVERY_FAILURES not in unlocked.attributes
    fresh = world.request(user.user_id)
    assert open_link(world.ctx(), fresh).attempts_left == 3


def _two_wrong_answers(world):
    """An active user who asked for a link and answered it wrongly twice (one try left)."""
    user = world.active()
    token = world.request(user.user_id)
    for _ in range(2):
        with pytest.raises(WrongAnswers):
            answer_questions(world.ctx(), token, wrong(world.right_answers(token)))
    return user, token


def test_failures_count_on_the_account_not_on_the_link(world):
    user, _ = _two_wrong_answers(world)
    second = world.request(user.user_id)  # a new link buys no new guesses
    assert open_link(world.ctx(), second).attempts_left == 1
    with pytest.raises(RecoveryLocked):
        answer_questions(world.ctx(), second, wrong(world.right_answers(second)))


def test_right_answers_start_the_count_again(world):
    user, token = _two_wrong_answers(world)
    answer_questions(world.ctx(), token, world.right_answers(token))
    assert world.attribute(user.id, RECOVERY_FAILURES) is None


def test_a_second_answer_check_at_the_same_time_is_turned_away(world):
    user = world.active()
    token = world.request(user.user_id)
    world.claims.claim(f"recovery:pahang:{user.id}:answers", 30)
    with pytest.raises(AnswerCheckBusy):
        answer_questions(world.ctx(), token, world.right_answers(token))
    assert world.attribute(user.id, RECOVERY_FAILURES) is None


def test_an_account_locked_at_the_login_form_meanwhile_is_refused(world):
    user = world.active()
    token = world.request(user.user_id)
    world.directory.record_failed_logins(user.id, 3)
    with pytest.raises(AccountBlocked):
        answer_questions(world.ctx(), token, world.right_answers(token))


# -- step 3: the new password --------------------------------------------------------


def test_completion_sets_the_password_uses_the_link_ends_the_sessions_and_notifies(world):
    user, token, proof = world.at_password_step()
    world.mail.sent.clear()

    done = complete(world.ctx(), token, proof, NEW_PASSWORD, NEW_PASSWORD)

    assert done.flow.step is RecoveryStep.COMPLETED and done.sessions_ended is True
    assert world.directory.password_matches(user.id, NEW_PASSWORD)
    assert world.directory.session_count(user.id) == 0
    assert world.attribute(user.id, NONCE_ATTRIBUTE) is None
    [notice] = world.mail.sent
    assert notice.subject.startswith("Kata Laluan iSPEKS Telah Ditetapkan Semula")
    assert NEW_PASSWORD not in notice.text and NEW_PASSWORD not in notice.html
    [event] = world.events("account:recovery:completed")
    assert event["details"]["other_sessions_ended"] is True and event["details"]["notified"]
    # The link is used up.
    with pytest.raises(LinkUsedOrSuperseded):
        current_flow(world.ctx(), token, proof)
    with pytest.raises(LinkUsedOrSuperseded):
        complete(world.ctx(), token, proof, "Lain#Kata-Laluan3", "Lain#Kata-Laluan3")


def test_the_other_sessions_stay_when_the_user_says_so(world):
    user, token, proof = world.at_password_step()
    done = complete(world.ctx(), token, proof, NEW_PASSWORD, NEW_PASSWORD, end_other_sessions=False)
    assert done.sessions_ended is None and world.directory.session_count(user.id) == 1


def test_a_failure_to_end_the_sessions_is_reported_not_hidden(world):
    user, token, proof = world.at_password_step()
    world.directory.fail_next("end_sessions")
    done = complete(world.ctx(), token, proof, NEW_PASSWORD, NEW_PASSWORD)
    assert done.sessions_ended is False
    assert world.directory.password_matches(user.id, NEW_PASSWORD)
    assert any(e["details"]["reason"] == "sessions_not_ended"
               for e in world.events("account:recovery:failed"))


def test_the_password_step_needs_the_proof_of_the_answers(world):
    user = world.active()
    token = world.request(user.user_id)
    for proof in (None, "", "forged.proof"):
        with pytest.raises(AnswersRequired):
            complete(world.ctx(), token, proof, NEW_PASSWORD, NEW_PASSWORD)
    assert world.directory.password_matches(user.id, OLD_PASSWORD)


def test_a_proof_does_not_carry_over_to_a_newer_link(world):
    user, old_token, old_proof = world.at_password_step()
    new_token = world.request(user.user_id)
    with pytest.raises(AnswersRequired):
        complete(world.ctx(), new_token, old_proof, NEW_PASSWORD, NEW_PASSWORD)
    with pytest.raises(LinkUsedOrSuperseded):
        complete(world.ctx(), old_token, old_proof, NEW_PASSWORD, NEW_PASSWORD)


def test_a_weak_password_is_refused_before_keycloak_and_the_link_stays_usable(world):
    user, token, proof = world.at_password_step()
    calls = len(world.directory.calls)
    with pytest.raises(PasswordRulesFailed) as caught:
        complete(world.ctx(), token, proof, "lemah", "lemah")
    assert {f.rule for f in caught.value.failures} >= {"length", "upper", "digit", "special"}
    assert "set_password_and_attributes" not in world.directory.calls[calls:]
    complete(world.ctx(), token, proof, NEW_PASSWORD, NEW_PASSWORD)


@pytest.mark.parametrize("password", ["Tiga#Ekor\r\nKucing9", "Tiga#Ekor\u2066Kucing9"])
def test_control_characters_are_refused_before_keycloak(world, password):
    user, token, proof = world.at_password_step()
    calls = len(world.directory.calls)
    with pytest.raises(PasswordRulesFailed) as caught:
        complete(world.ctx(), token, proof, password, password)
    assert [f.rule for f in caught.value.failures] == ["no_control"]
    assert "set_password_and_attributes" not in world.directory.calls[calls:]


def test_the_current_password_is_refused_by_keycloak_history_and_the_link_stays_usable(world):
    user, token, proof = world.at_password_step()
    with pytest.raises(PasswordRejectedByPolicy) as caught:
        complete(world.ctx(), token, proof, OLD_PASSWORD, OLD_PASSWORD)
    assert caught.value.reason_key == POLICY_HISTORY
    assert world.attribute(user.id, NONCE_ATTRIBUTE) is not None
    assert world.directory.session_count(user.id) == 1  # nothing happened
    complete(world.ctx(), token, proof, NEW_PASSWORD, NEW_PASSWORD)
    assert world.directory.password_matches(user.id, NEW_PASSWORD)


# -- the link ------------------------------------------------------------------------


def test_the_link_expires_after_30_minutes(world):
    user = world.active()
    token = world.request(user.user_id)
    world.clock.advance(minutes=29, seconds=59)
    assert open_link(world.ctx(), token).step is RecoveryStep.QUESTIONS
    world.clock.advance(seconds=2)
    with pytest.raises(LinkExpired):
        open_link(world.ctx(), token)


def test_a_newer_request_supersedes_the_older_link(world):
    user = world.active()
    older = world.request(user.user_id)
    newer = world.request(user.user_id)
    with pytest.raises(LinkUsedOrSuperseded):
        open_link(world.ctx(), older)
    assert open_link(world.ctx(), newer).step is RecoveryStep.QUESTIONS


def test_tampered_foreign_and_activation_tokens_are_refused(world):
    user = world.active()
    token = world.request(user.user_id)
    with pytest.raises(LinkTampered):
        open_link(world.ctx(), with_flipped_signature(token))
    melaka = dataclasses.replace(world.ctx(), tenant=load_tenant(Settings().realm_templates_dir, "melaka"))
    with pytest.raises(LinkWrongRealm):
        open_link(melaka, token)
    activation_token = LinkSigner(SECRET, activation.PURPOSE, world.ctx().link_lifetime,
                                  world.clock).issue("pahang", user.id).token
    with pytest.raises(LinkTampered):
        open_link(world.ctx(), activation_token)


def test_the_audit_trail_never_holds_a_secret(world):
    user, token, proof = world.at_password_step()
    complete(world.ctx(), token, proof, NEW_PASSWORD, NEW_PASSWORD)
    written = repr(world.audit.entries)
    for secret in (token, proof, NEW_PASSWORD, OLD_PASSWORD, *ANSWER_TO.values()):
        assert secret not in written
