"""One ID of every kind in a realm, the endpoints that must not tell them apart, and the
statistics that judge their timing (the integration tests and ``bench.enumeration_timing``).

Kinds: ``unknown`` (no such user), ``pending`` (pre-registered, not activated: the one
an activation link or a temporary password is for), ``active`` (activated, with answers
and, in Selangor and Melaka, a phrase and image), ``locked`` (active, then three wrong
passwords at Keycloak's form: Keycloak's permanent lockout) and ``disabled`` (active,
disabled by state IT).
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass
from typing import Callable, Mapping

from idp_extension.flows.site_key import IMAGE_ATTRIBUTE, PHRASE_ATTRIBUTE
from idp_extension.tenants import Onboarding, Tenant
from idp_extension.web.security import origin_of
from tests.support.constants import CSRF
from tests.support.lockout import wait_until_locked
from tests.support.oidc_login import login

KINDS = ("unknown", "pending", "active", "locked", "disabled")
PASSWORD = "Lama#Kata-Laluan42"
WRONG = "Salah-Kata-Laluan-1"
REAL_PHRASE = "Kapal Layar di Muara Biru"
# Headers that say when, not what: Date (set by servers, not by Flask's test client).
TIMELY_HEADERS = frozenset({"date"})


@dataclass(frozen=True)
class Someone:
    kind: str
    user_id: str
    email: str


def people(stack, realm: str, seed: str) -> dict[str, Someone]:
    """One ID of each kind in ``realm`` (new synthetic people, made through the admin API)."""
    admin = stack.admin(realm)
    tenant: Tenant = stack.tenants[realm]
    extra = ({PHRASE_ATTRIBUTE: [REAL_PHRASE], IMAGE_ATTRIBUTE: ["boat"]}
             if tenant.uses_secret_phrase else None)
    made: dict[str, Someone] = {}
    nobody = stack.person(realm, f"{seed}:unknown")
    assert admin.find(nobody.user_id) is None
    made["unknown"] = Someone("unknown", nobody.user_id, nobody.email)
    pending = stack.person(realm, f"{seed}:pending")
    admin.register_pending(pending)
    made["pending"] = Someone("pending", pending.user_id, pending.email)
    for kind in ("active", "locked", "disabled"):
        record, user = stack.active(realm, f"{seed}:{kind}", PASSWORD, extra)
        made[kind] = Someone(kind, record.user_id, record.email)
        if kind == "locked":
            for _ in range(3):
                login(stack.settings.keycloak_url, realm, record.user_id, WRONG)
            wait_until_locked(admin, user.id)
        elif kind == "disabled":
            admin.set_enabled(user.id, False)
    return made


# -- the endpoints -------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: str

    def comparable(self) -> tuple:
        """Status, headers and body, with the CSRF token blanked."""
        body = self.body
        for token in CSRF.findall(body):
            body = body.replace(token, "CSRF-TOKEN")
        return self.status, self.headers, body


def endpoints(tenant: Tenant) -> list[str]:
    """The enumeration-sensitive endpoints ``tenant`` serves."""
    names = ["activation" if tenant.onboarding is Onboarding.ACTIVATION_LINK else "first-login",
             "recovery"]
    if tenant.uses_secret_phrase:
        names.append("site-key")
    return names


def ask(stack, realm: str, endpoint: str, who: Someone, address: str) -> Answer:
    """Post ``who``'s ID to ``endpoint`` from a fresh browser at ``address``."""
    client = stack.app.test_client()
    environ = {"REMOTE_ADDR": address}
    if endpoint == "site-key":
        answer = client.post(f"/{realm}/site-key", data={"id": who.user_id},
                             headers={"Origin": origin_of(stack.settings.keycloak_url),
                                      "Accept": "application/json"},
                             environ_base=environ)
    else:
        path = f"/{realm}/{endpoint}"
        form = client.get(path, environ_base=environ).get_data(as_text=True)
        data = {"user_id": who.user_id, "csrf_token": CSRF.search(form).group(1)}
        if endpoint == "first-login":
            data["email"] = who.email
        answer = client.post(path, data=data, environ_base=environ)
    headers = tuple(sorted((k, v) for k, v in answer.headers.items()
                           if k.lower() not in TIMELY_HEADERS))
    return Answer(answer.status_code, headers, answer.get_data(as_text=True))


# -- timing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairVerdict:
    a: str
    b: str
    median_a_ms: float
    median_b_ms: float
    p_value: float
    # Lower quartiles: stalls on a busy machine only ever add time, so the fast end of
    # each kind's answers is where a real difference shows without noise.
    quartile_a_ms: float = 0.0
    quartile_b_ms: float = 0.0

    @property
    def difference_ms(self) -> float:
        return abs(self.median_a_ms - self.median_b_ms)

    @property
    def quartile_difference_ms(self) -> float:
        return abs(self.quartile_a_ms - self.quartile_b_ms)


def compare(samples: Mapping[str, list[float]]) -> list[PairVerdict]:
    """Mann-Whitney U (two-sided) of every pair of kinds; samples in seconds."""
    from scipy.stats import mannwhitneyu

    verdicts = []
    for a, b in itertools.combinations(samples, 2):
        p = float(mannwhitneyu(samples[a], samples[b], alternative="two-sided").pvalue)
        verdicts.append(PairVerdict(a, b, statistics.median(samples[a]) * 1000,
                                    statistics.median(samples[b]) * 1000, p,
                                    statistics.quantiles(samples[a], n=4)[0] * 1000,
                                    statistics.quantiles(samples[b], n=4)[0] * 1000))
    return verdicts


# A pair tells the kinds apart if the difference is both certain and large (Mann-Whitney
# p below 1e-4 AND medians more than 25 ms apart), or if the fast ends of the two kinds
# (lower quartiles) lie more than 30 ms apart. Load on a shared 2-core machine stalls
# some answers (only ever later), hitting interleaved kinds alike: it widens the spread,
# which weakens p, but hardly moves a lower quartile. Simulated with SAMPLES a kind
# (tests/unit/test_enumeration_verdict.py): a kind 50 ms faster or slower is caught in
# every run, and noise alone never fails. p alone at any threshold is either flaky
# (ten pairs per endpoint) or misses the leak when stalls are many.
# 16 a kind: in 1,000 simulated runs each, with one answer in ten stalled, none missed a
# 50 ms leak and none failed on noise alone (as with 20); with one in five stalled, one
# run in a thousand went wrong either way (none with 20). Fewer than 10 could never
# reach P_FLOOR (Mann-Whitney's smallest p for 8 against 8 is 1.6e-4).
SAMPLES = 16
P_FLOOR = 1e-4
MS_FLOOR = 25.0
QUARTILE_MS_FLOOR = 30.0


def telling_pairs(verdicts: list[PairVerdict]) -> list[PairVerdict]:
    return [v for v in verdicts
            if (v.p_value < P_FLOOR and v.difference_ms > MS_FLOOR)
            or v.quartile_difference_ms > QUARTILE_MS_FLOOR]


def interleaved(kinds: list[str], rounds: int, shuffle: Callable[[list[str]], None]):
    """Yield (round, kind): every round asks each kind once, in a new order."""
    for n in range(rounds):
        order = list(kinds)
        shuffle(order)
        for kind in order:
            yield n, kind
