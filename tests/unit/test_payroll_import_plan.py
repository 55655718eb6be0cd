"""Comparing payroll rows with Keycloak's users: new, changed (which fields), unchanged."""

from __future__ import annotations

from datetime import datetime

from idp_extension.importing.payroll_csv import PayrollRow
from idp_extension.importing.plan import (
    ExistingUser, changed_fields, payroll_attributes, plan_import,
)
from idp_extension.payroll import PayrollRecord

WHEN = datetime(2026, 1, 5, 9, 30)


def record(user_id: str = "850101045551", **changes) -> PayrollRecord:
    values = dict(user_id=user_id, name="AMINAH BINTI ABU", email="aminah@melaka.gov.my",
                  department="Jabatan Kerja Raya", registration_date=WHEN)
    values.update(changes)
    return PayrollRecord(**values)


def stored(rec: PayrollRecord, **changes) -> ExistingUser:
    values = dict(uuid=f"uuid-{rec.user_id}", user_id=rec.user_id, first_name=rec.name,
                  email=rec.email, department=rec.department,
                  registration_date=rec.registration_date.isoformat(timespec="seconds"))
    values.update(changes)
    return ExistingUser(**values)


def test_a_user_stored_as_the_file_says_is_unchanged():
    rec = record()
    assert changed_fields(rec, stored(rec)) == ()


def test_each_payroll_field_is_compared():
    rec = record()
    assert changed_fields(rec, stored(rec, first_name="AMINAH")) == ("name",)
    assert changed_fields(rec, stored(rec, email="old@melaka.gov.my")) == ("email",)
    assert changed_fields(rec, stored(rec, department="Pejabat Tanah")) == ("department",)
    assert changed_fields(rec, stored(rec, registration_date="2025-01-05T09:30:00")) == (
        "registration_date",)
    assert changed_fields(rec, stored(rec, first_name="X", department=None)) == (
        "name", "department")


def test_stored_forms_that_mean_the_same_are_not_changes():
    rec = record()
    # Keycloak lower-cases emails; a full name may sit in first + last name; a date may
    # carry fractions; stray spaces in an attribute are not a change either.
    assert changed_fields(rec, stored(rec, email="Aminah@Melaka.gov.my")) == ()
    assert changed_fields(rec, stored(rec, first_name="AMINAH", last_name="BINTI ABU")) == ()
    assert changed_fields(rec, stored(rec, registration_date="2026-01-05T09:30:00.000")) == ()
    assert changed_fields(rec, stored(rec, department=" Jabatan  Kerja Raya ")) == ()


def test_a_missing_or_unreadable_stored_date_is_rewritten():
    rec = record()
    assert changed_fields(rec, stored(rec, registration_date=None)) == ("registration_date",)
    assert changed_fields(rec, stored(rec, registration_date="05/01/2026")) == (
        "registration_date",)


def test_plan_sorts_rows_into_create_update_and_unchanged():
    new, same, moved = record("850101045551"), record("900215045012"), record("781130045338")
    rows = [PayrollRow(2, new), PayrollRow(3, same), PayrollRow(4, moved)]
    existing = {
        same.user_id: stored(same),
        moved.user_id: stored(moved, department="Pejabat Lama"),
        "111111111111": stored(record("111111111111")),  # not in the file: ignored
    }

    plan = plan_import(rows, existing)

    assert [r.record.user_id for r in plan.create] == [new.user_id]
    assert [r.record.user_id for r in plan.unchanged] == [same.user_id]
    (update,) = plan.update
    assert (update.uuid, update.line, update.changed) == (
        f"uuid-{moved.user_id}", 4, ("department",))


def test_payroll_attributes_are_stored_as_register_pending_stores_them():
    assert payroll_attributes(record()) == {
        "department": ["Jabatan Kerja Raya"], "registration_date": ["2026-01-05T09:30:00"]}
