"""One diff of two historical rows (pumptrack.history.changed_fields) for the audit trail
and the patient page: simple-history's diff_against, plus the fields it cannot see."""

from django.utils import timezone

from accounts.models import Membership, Role
from pumptrack.history import changed_fields
from reports.audit import audit_entries
from tests.factories import PatientFactory, pump_model, staff


def _last_two(obj):
    newer, older = obj.history.order_by("-history_date", "-history_id")[:2]
    return newer, older


def test_changed_fields_are_in_model_order_and_foreign_keys_compare_by_id(
    pump, django_assert_num_queries
):
    other_patient = PatientFactory(clinic=pump.patient.clinic)
    pump.serial_number = "NEW-SERIAL"
    pump.model = pump_model("8637-40")
    pump.patient = other_patient
    pump.save()
    newer, older = _last_two(pump)

    with django_assert_num_queries(0):
        changed = changed_fields(newer, older)

    assert [f.attname for f in changed] == ["patient_id", "model_id", "serial_number"]


def test_a_field_diff_against_cannot_see_is_still_named(clinic):
    """two_factor_reset_at is editable=False: diff_against leaves such fields out."""
    membership = Membership.objects.get(user=staff(clinic, Role.NURSE), clinic=clinic)
    membership.two_factor_reset_at = timezone.now()
    membership.save()
    newer, older = _last_two(membership)

    assert [f.name for f in changed_fields(newer, older)] == ["two_factor_reset_at"]
    assert [f.name for f in changed_fields(newer, older, skip={"two_factor_reset_at"})] == []


def test_an_unchanged_save_names_no_field_and_updated_at_is_bookkeeping(patient):
    patient.save()

    changes = [e for e in audit_entries(clinic_ids=[patient.clinic_id]) if e.change == "changed"]

    assert [e.fields for e in changes] == [()]


def test_the_audit_lists_fields_in_the_history_tables_column_order(pump):
    """As before diff_against: foreign keys (the history table's last columns) last."""
    pump.serial_number = "NEW-SERIAL"
    pump.patient = PatientFactory(clinic=pump.patient.clinic)
    pump.save()

    changes = [
        e
        for e in audit_entries(clinic_ids=[pump.patient.clinic_id])
        if e.model == "Pump" and e.change == "changed"
    ]

    assert [e.fields for e in changes] == [("serial_number", "patient_id")]
