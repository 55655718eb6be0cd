"""Synthetic people for the dev stack and the tests.

Never real people: names are drawn from common word lists and MyKad numbers are made
up (valid date and place code, random serial), seeded so every run gets the same ones.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from idp_extension.payroll import PayrollRecord, normalise_mykad
from idp_extension.tenants import Tenant

GIVEN_NAMES = ["AMINAH", "FARID", "HARLINA", "ISKANDAR", "JAMILAH", "KAMAL", "LATIFAH",
               "MUSTAQIM", "NURUL AIN", "RASHID", "SALMAH", "TAUFIK", "WARDAH", "YUSRI"]
FATHER_NAMES = ["ABU BAKAR", "DAUD", "GHAZALI", "HASSAN", "ISMAIL", "MANSOR", "OSMAN",
                "RAHMAN", "SAMAD", "YAACOB"]
DEPARTMENTS = ["Perbendaharaan Negeri", "Pejabat Setiausaha Kerajaan", "Jabatan Kerja Raya",
               "Jabatan Pertanian", "Pejabat Tanah dan Galian"]
# Place-of-birth codes of the four states (for realism only; any valid code works).
PLACE_CODES = {"pahang": "06", "kelantan": "03", "selangor": "10", "melaka": "04"}


def synthetic_mykad(rng: random.Random, place_code: str = "14") -> str:
    """A made-up MyKad number with a real date and a valid place code."""
    born = datetime(1960, 1, 1) + timedelta(days=rng.randrange(0, 365 * 40))
    serial = f"{rng.randrange(0, 1000):03d}{rng.randrange(0, 10)}"
    return normalise_mykad(f"{born:%y%m%d}{place_code}{serial}")


def synthetic_people(tenant: Tenant, count: int, *, seed: str = "demo") -> list[PayrollRecord]:
    """``count`` stable synthetic payroll records for one state."""
    rng = random.Random(f"{seed}:{tenant.realm}")
    domain = tenant.email_domains[0]
    mail_domain = domain if domain.count(".") >= 2 else f"{tenant.realm}.{domain}"
    people, seen = [], set()
    while len(people) < count:
        user_id = synthetic_mykad(rng, PLACE_CODES.get(tenant.realm, "14"))
        if user_id in seen:
            continue
        seen.add(user_id)
        given, father = rng.choice(GIVEN_NAMES), rng.choice(FATHER_NAMES)
        link = "BINTI" if given in {"AMINAH", "HARLINA", "JAMILAH", "LATIFAH", "NURUL AIN",
                                    "SALMAH", "WARDAH"} else "BIN"
        local = f"{given.split()[0].lower()}.{father.split()[0].lower()}{len(people) + 1}"
        people.append(PayrollRecord(
            user_id=user_id,
            name=f"{given} {link} {father}",
            email=f"{local}@{mail_domain}",
            department=rng.choice(DEPARTMENTS),
            registration_date=datetime(2026, 1, 1, 9, 0) + timedelta(minutes=rng.randrange(0, 400_000)),
        ))
    return people


# Pengurusan Tugas for the dev stack: the tasks (client roles of ispeks-tugas) each demo
# account gets, by position: the pending users first, then the active one (the last).
# Only the active account can sign in; its spread differs per state so the demo portal
# shows different dashboards (Melaka's is an approver: TOTP once that part is merged).
DEMO_PENDING_TASKS = (
    ("meja-bantuan",),
    ("ac:penyedia", "aim:penyemak"),
    ("sl:pelulus",),
    ("proc:penyemak",),
    (),
)
DEMO_ACTIVE_TASKS = {
    "pahang": ("ac:penyedia", "proc:penyedia", "sl:penyemak"),
    "kelantan": ("ac:penyemak", "py:penyedia", "aim:penyedia"),
    "selangor": ("pentadbir-sistem", "sl:penyedia", "py:penyemak"),
    "melaka": ("ac:pelulus", "proc:pelulus", "py:penyemak"),
}


def demo_tasks(realm: str, pending: int) -> list[tuple[str, ...]]:
    """The tasks of the ``pending`` pending demo users and then the active one."""
    spread = [DEMO_PENDING_TASKS[i % len(DEMO_PENDING_TASKS)] for i in range(pending)]
    return spread + [DEMO_ACTIVE_TASKS.get(realm, ("ac:penyedia",))]
