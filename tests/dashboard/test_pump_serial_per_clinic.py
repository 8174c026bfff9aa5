"""Pump serials are unique within a clinic, not across clinics.

Security finding: "already recorded" told clinic B that a serial existed at clinic A,
and let B squat a serial so that A could no longer record its own patient's pump.
"""

from importlib import import_module

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from patients import services as patient_services
from patients.models import Pump
from tests.factories import ClinicFactory, PatientFactory, PumpFactory, pump_model, staff

BEFORE = [("patients", "0008_clinic_refill_slots_per_day")]
AFTER = [("patients", "0009_pump_serial_unique_per_clinic")]


def _data(pump_like, **overrides):
    data = {
        "model": pump_like.model_id,
        "serial_number": pump_like.serial_number,
        "implanted_on": (timezone.localdate() - timezone.timedelta(days=10)).isoformat(),
        "alarm_volume_ml": "",
    }
    data.update(overrides)
    return data


@pytest.fixture
def clinic_a_pump(other_clinic):
    return PumpFactory(patient=PatientFactory(clinic=other_clinic), serial_number="NGP123456")


def test_clinic_b_records_a_serial_clinic_a_holds_and_learns_nothing(
    as_user, clinic, patient, clinic_a_pump
):
    client = as_user(staff(clinic, Role.NURSE))
    page = client.get(reverse("dashboard:pump_create", args=[patient.pk]))
    assert page.status_code == 200
    response = client.post(
        reverse("dashboard:pump_create", args=[patient.pk]), _data(clinic_a_pump)
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    recorded = patient.pumps.get()
    assert recorded.serial_number == clinic_a_pump.serial_number
    assert recorded.clinic_id == patient.clinic_id != clinic_a_pump.clinic_id
    # A's row is untouched and A can still record pumps as before.
    clinic_a_pump.refresh_from_db()
    assert clinic_a_pump.patient.clinic_id == clinic_a_pump.clinic_id


def test_a_serial_squatted_by_b_does_not_block_a(as_user, clinic, other_clinic, patient):
    """B records first; A's own patient's pump with that serial is still accepted at A."""
    PumpFactory(patient=patient, serial_number="NGP777777", model=pump_model("8637-40"))
    a_patient = PatientFactory(clinic=other_clinic)
    client = as_user(staff(other_clinic, Role.NURSE))
    response = client.post(
        reverse("dashboard:pump_create", args=[a_patient.pk]),
        {
            "model": pump_model("8637-40").pk,
            "serial_number": "NGP777777",
            "implanted_on": (timezone.localdate() - timezone.timedelta(days=10)).isoformat(),
            "alarm_volume_ml": "",
        },
    )
    assert response.status_code == 302
    assert a_patient.pumps.get().serial_number == "NGP777777"


def test_within_a_clinic_a_duplicate_is_refused_with_a_nurse_message(as_user, clinic, patient):
    existing = PumpFactory(
        patient=PatientFactory(clinic=clinic, family_name="Holderofserial"),
        serial_number="NGP555555",
    )
    client = as_user(staff(clinic, Role.NURSE))
    html = client.post(
        reverse("dashboard:pump_create", args=[patient.pk]), _data(existing)
    ).content.decode()
    assert (
        f"serial number {existing.serial_number} is already recorded for a patient of this "
        "clinic. Check the serial number on the implant card."
    ) in html
    assert existing.patient.family_name not in html
    assert not patient.pumps.exists()


def test_the_service_and_the_database_refuse_a_duplicate_within_a_clinic(clinic, patient):
    existing = PumpFactory(patient=PatientFactory(clinic=clinic), serial_number="NGP444444")
    with pytest.raises(ValidationError) as caught:
        patient_services.pump_implant(
            patient=patient,
            model=existing.model,
            serial_number=existing.serial_number,
            implanted_on=timezone.localdate() - timezone.timedelta(days=3),
        )
    assert "already recorded at this clinic" in str(caught.value)
    # A write that skips validation (a race between two nurses) meets the constraint.
    with pytest.raises(IntegrityError), transaction.atomic():
        Pump.objects.create(
            patient=patient,
            model=existing.model,
            serial_number=existing.serial_number,
            implanted_on=existing.implanted_on,
            alarm_volume_ml=existing.alarm_volume_ml,
        )
    assert not patient.pumps.exists()


def test_a_pump_takes_its_patients_clinic_and_cannot_disagree(patient):
    pump = PumpFactory(patient=patient)
    assert pump.clinic_id == patient.clinic_id
    pump.clinic = ClinicFactory()
    with pytest.raises(ValidationError) as caught:
        pump.full_clean()
    assert "patient's clinic" in str(caught.value)


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_every_pump_its_patients_clinic():
    # An earlier transactional test's flush may have emptied the pump catalogue the data
    # migration loads: put it back before going back in time.
    from django.apps import apps as current_apps

    if not current_apps.get_model("patients", "PumpModel").objects.exists():
        import_module("patients.migrations.0002_pump_catalogue").load(current_apps, None)
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    Clinic = old.get_model("patients", "Clinic")
    Patient = old.get_model("patients", "Patient")
    OldPump = old.get_model("patients", "Pump")
    PumpModel = old.get_model("patients", "PumpModel")
    model = PumpModel.objects.get(model_number="8637-20")
    pumps = []
    for n in range(2):
        clinic = Clinic.objects.create(name=f"Migrated {n}", phone="+16175550100")
        patient = Patient.objects.create(
            clinic=clinic,
            mrn=f"M{n}",
            given_name="Mig",
            family_name="Rated",
            date_of_birth="1980-01-01",
        )
        pumps.append(
            OldPump.objects.create(
                patient=patient,
                model=model,
                serial_number=f"NGP00000{n}",
                implanted_on="2024-01-01",
                alarm_volume_ml="2.0",
            )
        )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    # On to every later migration, so today's models match the tables they read.
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    for old_pump in pumps:
        migrated = Pump.objects.get(pk=old_pump.pk)
        assert migrated.clinic_id == migrated.patient.clinic_id
    # After it, the second clinic can hold the first clinic's serial.
    first, second = (Pump.objects.get(pk=p.pk) for p in pumps)
    Pump.objects.create(
        patient=second.patient,
        model=first.model,
        serial_number=first.serial_number,
        implanted_on=first.implanted_on,
        alarm_volume_ml=first.alarm_volume_ml,
        status="explanted",
        explanted_on=first.implanted_on,
    )
    assert Pump.objects.filter(serial_number=first.serial_number).count() == 2
