"""Time Keycloak's login form with a wrong password for each kind of ID.

Shared by ``tests/integration/test_login.py`` (a small sample, a loose bound) and
``bench/login_timing.py`` (200 per kind). Samples are interleaved (one of each kind per
round, in a random order) so that load from other processes falls on every kind alike,
and compared with the Mann-Whitney U test, which needs no assumption about the shape
of the noise.

Each kind is what a stranger could meet: an ``unknown`` ID (a fresh, well-formed one
every time), a ``pending`` payroll user (random password, not activated), an ``active``
one, a ``locked`` one (three wrong passwords) and a ``disabled`` one (by state IT).
Pending, active and disabled users get two wrong passwords each (a third would lock
them and make them another kind), so a sample of n needs n/2 of each; Keycloak refuses
concurrent logins of one user, and the samples run one at a time.
"""

from __future__ import annotations

import copy
import itertools
import random
import statistics
from dataclasses import dataclass

from scipy.stats import mannwhitneyu

from idp_extension.demo_users import synthetic_people
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.users import ACTIVATION_STATE, ACTIVE, UserDirectory
from idp_extension.passwords import random_password
from tests.support.lockout import wait_until_locked
from tests.support.oidc_login import login

KINDS = ("unknown", "pending", "active", "locked", "disabled")
PROJECT_FORM = "ispeks-username-password-form"
STOCK_FORM = "auth-username-password-form"
WRONG = "Salah-Kata-Laluan-1"
POSTS_PER_USER = 2


@dataclass(frozen=True)
class Pair:
    """One pair of kinds: their medians (seconds) and the Mann-Whitney p-value."""

    first: str
    second: str
    first_median: float
    second_median: float
    p_value: float

    def line(self) -> str:
        return (f"{self.first:>8} vs {self.second:<8} {self.first_median * 1000:7.1f} ms "
                f"{self.second_median * 1000:7.1f} ms   p = {self.p_value:.3g}")


def with_stock_login_form(desired: dict) -> dict:
    """A rendered realm with Keycloak's own form where the project's provider would be
    (what realms made before the provider have, and the timing baseline)."""
    desired = copy.deepcopy(desired)
    for flow in desired["authenticationFlows"]:
        for execution in flow["authenticationExecutions"]:
            if execution.get("authenticator") == PROJECT_FORM:
                execution["authenticator"] = STOCK_FORM
                execution.pop("authenticatorConfig", None)
    return desired


def make_people(settings, tenant, samples: int, seed: str) -> dict[str, list[str]]:
    """IDs to post to for each kind: one per sample for unknown IDs, one per
    ``POSTS_PER_USER`` samples for pending, active and disabled users, one locked user."""
    directory = UserDirectory(bootstrap_admin(settings), tenant.realm)
    users = -(-samples // POSTS_PER_USER)
    records = synthetic_people(tenant, samples + 3 * users + 1, seed=seed)
    unknown, records = records[:samples], records[samples:]
    made: dict[str, list[str]] = {"unknown": [r.user_id for r in unknown]}
    for kind in ("pending", "active", "disabled", "locked"):
        count = 1 if kind == "locked" else users
        chosen, records = records[:count], records[count:]
        made[kind] = []
        for record in chosen:
            user, _ = directory.register_pending(record)
            if kind != "pending":
                directory.set_password(user.id, random_password())
                directory.update_attributes(user.id, {ACTIVATION_STATE: [ACTIVE]})
            if kind == "disabled":
                directory.set_enabled(user.id, False)
            if kind == "locked":
                for _ in range(6):  # until Keycloak has recorded the lock
                    login(settings.keycloak_url, tenant.realm, record.user_id, WRONG)
                    if directory.get(user.id).permanently_locked:
                        break
                wait_until_locked(directory, user.id)
            made[kind].append(record.user_id)
    return made


def sample(keycloak_url: str, realm: str, people: dict[str, list[str]], samples: int,
           *, seed: int = 0) -> dict[str, list[float]]:
    """Interleaved wrong-password posts: ``samples`` per kind, one of each per round."""
    order = random.Random(seed)
    cursors = {kind: itertools.cycle(ids) if kind == "locked" else
               iter(user for user in ids for _ in range(POSTS_PER_USER))
               for kind, ids in people.items()}
    cursors["unknown"] = iter(people["unknown"])
    timings: dict[str, list[float]] = {kind: [] for kind in people}
    for _ in range(samples):
        kinds = list(people)
        order.shuffle(kinds)
        for kind in kinds:
            outcome = login(keycloak_url, realm, next(cursors[kind]), WRONG)
            assert outcome.status == 200 and outcome.tokens is None, (kind, outcome)
            timings[kind].append(outcome.seconds)
    return timings


def compare(timings: dict[str, list[float]]) -> list[Pair]:
    """Every pair of kinds, with medians and the two-sided Mann-Whitney p-value."""
    return [
        Pair(a, b, statistics.median(timings[a]), statistics.median(timings[b]),
             float(mannwhitneyu(timings[a], timings[b], alternative="two-sided").pvalue))
        for a, b in itertools.combinations(timings, 2)
    ]
