"""The same answer for every ID: activation, first login, recovery and the site key.

For each state and each of its enumeration-sensitive endpoints, an unknown, a pending,
an active, a locked (three wrong passwords at Keycloak's form) and a disabled ID are
posted; the answers (status, headers, body) must be byte-identical once the CSRF token
is blanked. The pending ID is the one a link or a temporary password is really sent
for (first login: with its registered email), so a real send is among them. The site
key answers each ID with its own phrase and image: there the answers must have one
shape, and the decoys must pass for chosen phrases.

Real Keycloak, real SMTP (fixtures in tests/support), the sidecar in process.
"""

from __future__ import annotations

import json

import pytest

from idp_extension.flows.first_login import normalise_phrase, phrase_problem
from idp_extension.gallery import GALLERY
from idp_extension.settings import load_settings
from idp_extension.tenants import load_tenants
from tests.support import enumeration as E
from tests.support import inprocess

# Making five people per state (three wrong passwords included) is slow on a busy machine.
pytestmark = pytest.mark.timeout(900)

STATES = ("pahang", "kelantan", "selangor", "melaka")
TENANTS = load_tenants(load_settings().realm_templates_dir)
CASES = [(realm, endpoint) for realm in STATES for endpoint in E.endpoints(TENANTS[realm])]


@pytest.fixture(scope="module")
def stack(provisioned_realms, mail_inbox, tmp_path_factory) -> inprocess.Stack:
    # Each ID is asked several times here across flows; limits are not what is tested.
    return inprocess.Stack(provisioned_realms, mail_inbox,
                           tmp_path_factory.mktemp("same-answer") / "audit.jsonl",
                           rate_limits=False)


class Everyone(dict):
    """One ID of each kind per state, made the first time a test asks for that state."""

    def __init__(self, stack) -> None:
        super().__init__()
        self.stack = stack

    def __missing__(self, realm: str) -> dict[str, E.Someone]:
        self[realm] = E.people(self.stack, realm, f"same-answer:{realm}")
        return self[realm]


@pytest.fixture(scope="module")
def everyone(stack) -> Everyone:
    return Everyone(stack)


def test_every_state_has_its_cases():
    assert sorted(CASES) == sorted([
        ("pahang", "activation"), ("pahang", "recovery"),
        ("kelantan", "activation"), ("kelantan", "recovery"),
        ("selangor", "first-login"), ("selangor", "recovery"), ("selangor", "site-key"),
        ("melaka", "first-login"), ("melaka", "recovery"), ("melaka", "site-key")])


@pytest.mark.parametrize("realm, endpoint", CASES)
def test_every_kind_of_id_gets_the_same_answer(stack, everyone, realm, endpoint):
    answers = {kind: E.ask(stack, realm, endpoint, who, f"10.60.{STATES.index(realm)}.{n}")
               for n, (kind, who) in enumerate(everyone[realm].items())}
    assert set(answers) == set(E.KINDS)

    if endpoint == "site-key":
        _same_shape_of_site_key(answers)
        return
    shapes = {kind: answer.comparable() for kind, answer in answers.items()}
    reference = shapes["unknown"]
    assert reference[0] in (200, 303), answers["unknown"].body[:500]
    for kind, shape in shapes.items():
        assert shape == reference, f"{realm} {endpoint}: {kind} differs from unknown"


def _same_shape_of_site_key(answers: dict[str, E.Answer]) -> None:
    # Each ID its own phrase: the length of the body is the one header that may differ.
    shapes = {(a.status, tuple(h for h in a.headers if h[0] != "Content-Length"))
              for a in answers.values()}
    assert len(shapes) == 1 and answers["unknown"].status == 200, shapes
    bodies = {kind: json.loads(a.body) for kind, a in answers.items()}
    gallery = {image.id for image in GALLERY}
    for kind, body in bodies.items():
        assert set(body) == {"phrase", "image"} and set(body["image"]) == {
            "id", "url", "alt_ms", "alt_en"}, kind
        assert body["image"]["id"] in gallery, kind
        phrase = body["phrase"]
        assert phrase == normalise_phrase(phrase) and phrase_problem(phrase) is None, kind
    assert bodies["active"]["phrase"] == E.REAL_PHRASE
    # Locked, disabled, pending and unknown IDs get decoys, never the real phrase.
    assert all(bodies[k]["phrase"] != E.REAL_PHRASE for k in E.KINDS if k != "active")


@pytest.mark.parametrize("realm", STATES)
def test_the_same_id_gets_the_same_confirmation_whichever_flow_asks(stack, everyone, realm):
    # No address in any confirmation, so nothing to compare across flows but that.
    for endpoint in E.endpoints(stack.tenants[realm]):
        if endpoint == "site-key":
            continue
        for n, who in enumerate(everyone[realm].values()):
            answer = E.ask(stack, realm, endpoint, who, f"10.62.{STATES.index(realm)}.{n}")
            if answer.status == 303:
                answer = E.Answer(200, (), stack.app.test_client().get(
                    dict(answer.headers)["Location"]).get_data(as_text=True))
            local = who.email.split("@")[0]
            assert local not in answer.body and "*****" not in answer.body, (endpoint, who.kind)


def test_a_mail_outage_does_not_change_the_answer(stack):
    # New people: a temporary password asked for moments ago is not asked for again.
    fresh = {realm: E.people(stack, realm, f"same-answer-outage:{realm}")
             for realm in ("kelantan", "melaka", "selangor")}
    stack.smtp.down = True
    try:
        for realm, endpoint in (("kelantan", "activation"), ("melaka", "first-login"),
                                ("selangor", "recovery")):
            people = fresh[realm]
            answers = {kind: E.ask(stack, realm, endpoint, who, f"10.63.{n}.9").comparable()
                       for n, (kind, who) in enumerate(people.items())}
            assert len(set(answers.values())) == 1, (realm, endpoint)
            # The real send failed (pending in activation and first login, active in
            # recovery), and state IT is told.
            sent_to = people["active" if endpoint == "recovery" else "pending"]
            failed = stack.wait_for_event("mail:send:failed", sent_to.user_id)
            assert failed["details"]["reason"] == "mail_unavailable"
    finally:
        stack.smtp.down = False
