"""The console's guard and verbs (issue 13) without Keycloak: tokens, tasks, refusals."""

from __future__ import annotations

import pytest

from idp_extension.audit import MemoryAuditLog, for_realm
from idp_extension.flows import console as flow
from idp_extension.tasks import Catalogue
from idp_extension.tenants import load_tenants
from idp_extension.settings import load_settings
from idp_extension.web.console.guard import (
    NotAnOfficer, Officer, TotpNotPassed, officer_from_claims, totp_passed,
)
from tests.support.memory_users import InMemoryUserDirectory

ISS = "http://127.0.0.1:8080/realms/pahang"


def claims(**extra):
    return {"iss": ISS, "sub": "s-1", "preferred_username": "800101015555",
            "name": "PEGAWAI UJIAN", "auth_time": 1_700_000_000, **extra}


def test_an_officer_needs_a_console_task_and_the_otp_step_in_amr():
    officer = officer_from_claims(claims(tugas=["meja-bantuan", "totp-wajib"],
                                         amr=["pwd", "otp"]))
    assert officer == Officer(ISS, "s-1", "800101015555", "PEGAWAI UJIAN",
                              ("meja-bantuan",), 1_700_000_000)
    assert officer.is_helpdesk and not officer.is_system_admin
    with pytest.raises(NotAnOfficer):
        officer_from_claims(claims(tugas=["ac:pelulus", "totp-wajib"], amr=["otp"]))
    with pytest.raises(TotpNotPassed):
        officer_from_claims(claims(tugas=["pentadbir-sistem"], amr=["pwd"]))
    with pytest.raises(TotpNotPassed):
        officer_from_claims(claims(tugas=["pentadbir-sistem"]))
    # acr alone proves nothing (it is "1" after any password login).
    with pytest.raises(TotpNotPassed):
        officer_from_claims(claims(tugas=["pentadbir-sistem"], acr="1"))
    assert totp_passed({"amr": "otp"}) and not totp_passed({"amr": {"otp": 1}})


def test_fresh_is_five_minutes_after_auth_time():
    officer = officer_from_claims(claims(tugas=["meja-bantuan"], amr=["otp"]))
    assert officer.fresh_at(1_700_000_000 + 300)
    assert not officer.fresh_at(1_700_000_000 + 301)
    assert Officer.from_record(officer.record()) == officer


CATALOGUE = Catalogue.from_values({"task_modules": [
    {"code": "ac", "ms": "Permohonan Tuntutan", "en": "Claims"}]})


@pytest.fixture
def world():
    settings = load_settings()
    tenant = load_tenants(settings.realm_templates_dir)["pahang"]
    directory = InMemoryUserDirectory("pahang")
    log = MemoryAuditLog()

    class Roles:
        held: dict[str, set[str]] = {}

        def direct(self, uuid):
            return set(self.held.get(uuid, set()))

        def grant(self, uuid, names):
            self.held.setdefault(uuid, set()).update(names)

        def revoke(self, uuid, names):
            self.held.setdefault(uuid, set()).difference_update(names)

    roles = Roles()

    def context(*tasks):
        return flow.ConsoleContext(
            tenant=tenant, directory=directory, audit=for_realm(log, "pahang"), raw_audit=log,
            actor=flow.Actor("800101015555", tasks), catalogue=CATALOGUE,
            task_roles=lambda: roles, send_onboarding=lambda user: "sent")

    return context, directory, log, roles


def test_helpdesk_may_grant_preparer_but_not_approver_or_system_tasks(world):
    context, directory, log, roles = world
    user = directory.add_user("900202025555", name="AMINAH BINTI ALI")
    helpdesk = context("meja-bantuan")
    assert flow.assign_task(helpdesk, "900202-02-5555", "ac:penyedia", "minta jabatan", True)
    for task in ("ac:pelulus", "pentadbir-sistem", "meja-bantuan"):
        with pytest.raises(flow.GrantNotAllowed):
            flow.assign_task(helpdesk, "900202025555", task, "minta", True)
    admin = context("pentadbir-sistem")
    # Segregation of duties binds the system administrator too.
    with pytest.raises(flow.SegregationOfDuties):
        flow.assign_task(admin, "900202025555", "ac:pelulus", "minta", True)
    assert flow.assign_task(admin, "900202025555", "meja-bantuan", "minta", True)
    assert roles.direct(user.id) == {"ac:penyedia", "meja-bantuan"}
    done = [e for e in log.entries if e["event"] == "console:action"]
    assert [e["details"]["action"] for e in done] == ["assign_task", "assign_task"]
    assert done[0]["details"]["actor"] == "800101015555"
    assert done[0]["details"]["reason"] == "minta jabatan"


def test_every_action_needs_a_reason_and_a_confirmation(world):
    context, directory, _, _ = world
    directory.add_user("900202025555")
    helpdesk = context("meja-bantuan")
    with pytest.raises(flow.ReasonRequired):
        flow.unlock(helpdesk, "900202025555", "  ", True)
    with pytest.raises(flow.NotConfirmed):
        flow.unlock(helpdesk, "900202025555", "sebab", False)


def test_email_corrections_stay_inside_the_states_domains(world):
    context, directory, _, _ = world
    user = directory.add_user("900202025555", email="lama@pahang.gov.my")
    helpdesk = context("meja-bantuan")
    with pytest.raises(flow.EmailOutsideDomains):
        flow.correct(helpdesk, "900202025555", email="x@gmail.com", reason="r", confirmed=True)
    assert flow.correct(helpdesk, "900202025555", email="baru@pahang.gov.my",
                        department="JABATAN BAHARU", reason="r", confirmed=True) == [
        "email", "department"]
    changed = directory.get(user.id)
    assert changed.email == "baru@pahang.gov.my" and changed.department == "JABATAN BAHARU"


def test_search_by_id_with_dashes_or_part_of_the_name(world):
    context, directory, _, _ = world
    directory.add_user("900202025555", name="AMINAH BINTI ALI")
    helpdesk = context("meja-bantuan")
    assert [f.user_id for f in flow.search(helpdesk, "900202-02-5555")] == ["900202025555"]
    assert [f.user_id for f in flow.search(helpdesk, "aminah")] == ["900202025555"]
    assert flow.search(helpdesk, "am") == [] and flow.search(helpdesk, "") == []
