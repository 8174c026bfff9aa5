"""Time-zone fields through django-timezone-field: region zones only, the nurse-readable
message, and stored names kept through the change of field."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from patients import services as patient_services
from patients.models import Clinic
from tests.factories import CaregiverFactory, PatientFactory

UNKNOWN = "Unknown time zone. Use a name such as America/New_York or Europe/London."
BEFORE = [("patients", "0005_phones_phonenumberfield")]
AFTER = [("patients", "0006_timezones_timezonefield")]


def _stored(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_every_stored_zone_name():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    clinic = old.get_model("patients", "Clinic").objects.create(
        name="Zoned before", phone="+16175550100", timezone="Australia/Sydney"
    )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    # On to every later migration, so today's models match the tables they read.
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert _stored("patients_clinic", "timezone", clinic.pk) == "Australia/Sydney"
    migrated = Clinic.objects.get(pk=clinic.pk)
    assert migrated.timezone == ZoneInfo("Australia/Sydney")
    migrated.save()
    assert _stored("patients_clinic", "timezone", clinic.pk) == "Australia/Sydney"


@pytest.mark.parametrize("zone", ["localtime", "Factory", "EST", "GMT", "EST5EDT", "posixrules"])
def test_a_zone_that_is_not_a_region_is_refused_with_the_nurse_message(db, zone):
    clinic = Clinic(name="Zoned", phone="+16175550100", timezone=zone)  # no error yet
    with pytest.raises(ValidationError) as caught:
        clinic.full_clean()
    assert caught.value.message_dict["timezone"] == [UNKNOWN]


def test_zones_are_zoneinfo_objects_stored_by_name_and_blank_is_empty(db):
    caregiver = CaregiverFactory(patient=PatientFactory(timezone="Europe/London"), timezone="")
    patient = caregiver.patient

    assert _stored("patients_patient", "timezone", patient.pk) == "Europe/London"
    assert _stored("patients_caregiver", "timezone", caregiver.pk) == ""
    caregiver.refresh_from_db()
    assert caregiver.timezone is None
    assert caregiver.timezone_name == "Europe/London"
    assert caregiver.patient.tz == ZoneInfo("Europe/London")
    assert str(Clinic.objects.get(pk=patient.clinic_id).timezone) == "America/New_York"


def test_an_edit_that_names_the_same_zone_changes_nothing(db):
    patient = PatientFactory(timezone="Europe/London")
    rows = patient.history.count()

    patient_services.patient_update(patient=patient, timezone="Europe/London")
    caregiver = CaregiverFactory(patient=patient, timezone="")
    caregiver_rows = caregiver.history.count()
    patient_services.caregiver_update(caregiver=caregiver, timezone="")

    assert patient.history.count() == rows
    assert caregiver.history.count() == caregiver_rows
