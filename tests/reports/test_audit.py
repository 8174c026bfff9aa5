"""The audit trail names who changed what, per clinic, and cannot be edited from the app."""

import datetime as dt

import pytest
from django.utils import timezone

from patients import services as patient_services
from refills import services
from reports.audit import audit_entries, patient_history
from tests.factories import ClinicFactory, PatientFactory, PumpFactory


def test_audit_lists_changes_with_the_fields_that_changed(filled_pump, nurse):
    patient = filled_pump.patient
    patient_services.patient_update(patient=patient, transport_barrier=True)

    entries = audit_entries(clinic_ids=[patient.clinic_id])

    patient_changes = [e for e in entries if e.model == "Patient" and e.change == "changed"]
    assert [e.fields for e in patient_changes] == [("transport_barrier",)]
    models = {e.model for e in entries}
    assert {"Patient", "Pump", "Drug program", "Refill"} <= models


def test_audit_is_scoped_to_the_clinics_asked_for(filled_pump):
    other_clinic = ClinicFactory()
    stranger = PumpFactory(patient=PatientFactory(clinic=other_clinic))

    entries = audit_entries(clinic_ids=[other_clinic.pk])

    ids = {(e.model, e.object_id) for e in entries}
    assert ("Pump", stranger.pk) in ids
    assert ("Pump", filled_pump.pk) not in ids
    assert ("Patient", filled_pump.patient_id) not in ids


def test_audit_time_window_keeps_diffs_against_earlier_rows(filled_pump):
    patient = filled_pump.patient
    since = timezone.now()
    patient_services.patient_update(patient=patient, hearing_impairment=True)

    entries = audit_entries(clinic_ids=[patient.clinic_id], since=since)

    assert [(e.model, e.change, e.fields) for e in entries] == [
        ("Patient", "changed", ("hearing_impairment",))
    ]


def test_patient_history_covers_the_patients_pump_refills_and_appointments(filled_pump, nurse):
    services.appointment_book(
        pump=filled_pump, by=nurse, scheduled_start=timezone.now() + dt.timedelta(days=10)
    )
    other = PumpFactory()

    history = patient_history(patient=filled_pump.patient)

    models = {e.model for e in history}
    assert {"Patient", "Pump", "Refill", "Appointment", "Drug program"} <= models
    assert all(e.object_id != other.pk or e.model != "Pump" for e in history)
    assert history == sorted(history, key=lambda e: e.at, reverse=True)


@pytest.mark.django_db
def test_history_rows_are_not_registered_for_editing_in_admin():
    from django.contrib import admin

    from patients.models import Patient
    from refills.models import Refill

    assert Patient.history.model not in admin.site._registry
    assert Refill.history.model not in admin.site._registry


def test_appointment_marked_missed_by_the_sweep_is_in_the_audit_trail(filled_pump, nurse):
    import time_machine

    appointment = services.appointment_book(
        pump=filled_pump, by=nurse, scheduled_start=timezone.now() + dt.timedelta(hours=2)
    )
    with time_machine.travel(timezone.now() + dt.timedelta(hours=6)):
        assert services.appointment_mark_missed(appointment=appointment)

    statuses = list(appointment.history.order_by("history_date").values_list("status", flat=True))
    assert statuses == ["scheduled", "missed"]


def test_alert_cleared_by_the_sweep_is_in_the_audit_trail(filled_pump):
    from patients.services import _pump_explant as pump_explant
    from reminders.alerts import alerts_clear_for_inactive
    from reminders.models import Alert

    alert = Alert.objects.create(
        clinic=filled_pump.patient.clinic,
        patient=filled_pump.patient,
        pump=filled_pump,
        kind="running-out",
        severity=4,
    )
    pump_explant(pump=filled_pump, explanted_on=timezone.localdate())

    assert alerts_clear_for_inactive(now=timezone.now()) == 1

    states = list(alert.history.order_by("history_date").values_list("state", flat=True))
    assert states == ["open", "resolved"]
