"""Phone numbers through django-phonenumber-field: stored values survive the change of
field, typed numbers are read in the default region, and one formatter shows them."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.template import Context, Template
from phonenumber_field.phonenumber import PhoneNumber

from accounts.models import User
from patients.models import Clinic
from patients.phones import NOT_VALID, normalize_phone, parse_phone, phone_text
from reminders.outbox import clinic_phone_text
from tests.factories import CaregiverFactory, PatientFactory

BEFORE = [
    ("patients", "0004_pump_model_mri_precautions"),
    ("accounts", "0005_user_two_factor_notice_at"),
]
AFTER = [
    ("patients", "0005_phones_phonenumberfield"),
    ("accounts", "0006_user_phone_phonenumberfield"),
]


def _stored(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_every_stored_phone_value_as_it_was():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    clinic = old.get_model("patients", "Clinic").objects.create(
        name="Stored before", phone="+442079460958", after_hours_phone=""
    )
    # A staff user's number was free text before: it must come through untouched too.
    user = old.get_model("accounts", "User").objects.create(
        username="typed", phone="(617) 555-0142"
    )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    # On to every later migration, so today's models match the tables they read.
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert _stored("patients_clinic", "phone", clinic.pk) == "+442079460958"
    assert _stored("patients_clinic", "after_hours_phone", clinic.pk) == ""
    assert _stored("accounts_user", "phone", user.pk) == "(617) 555-0142"
    migrated = Clinic.objects.get(pk=clinic.pk)
    assert migrated.phone == "+442079460958"
    assert isinstance(migrated.phone, PhoneNumber)
    assert migrated.after_hours_phone == ""
    migrated.save()
    assert _stored("patients_clinic", "phone", clinic.pk) == "+442079460958"
    assert normalize_phone(User.objects.get(pk=user.pk).phone) == "+16175550142"


def test_an_e164_value_is_stored_and_read_back_unchanged(db):
    caregiver = CaregiverFactory(patient=PatientFactory(phone="+16175550142"), phone="")
    patient = caregiver.patient

    assert _stored("patients_patient", "phone", patient.pk) == "+16175550142"
    assert _stored("patients_caregiver", "phone", caregiver.pk) == ""
    patient.refresh_from_db()
    assert str(patient.phone) == "+16175550142"
    assert patient.phone.as_e164 == "+16175550142"


def test_a_national_number_is_read_in_the_default_region(settings):
    settings.PHONENUMBER_DEFAULT_REGION = "GB"
    assert normalize_phone("020 7946 0958") == "+442079460958"
    assert normalize_phone("020 7946 0958", region="GB") == "+442079460958"
    with pytest.raises(ValidationError):
        normalize_phone("020 7946 0958", region="US")


def test_a_typed_number_on_a_model_is_normalised_from_what_was_typed(db):
    """The field parses on assignment (in the default region); normalize_phone reads the
    text as typed, so a number for another region is not mistaken for a US one."""
    patient = PatientFactory.build(phone="020 7946 0958")
    assert normalize_phone(patient.phone, region="GB") == "+442079460958"
    with pytest.raises(ValidationError, match=NOT_VALID):
        parse_phone(patient.phone)


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("+16175550100", "+1 617-555-0100"),
        (PhoneNumber.from_string("+442079460958"), "+44 20 7946 0958"),
        ("6175550100", "6175550100"),  # not stored with its country code: shown as stored
        ("", ""),
        (None, ""),
    ],
)
def test_one_formatter_for_messages_pages_and_the_card(stored, shown):
    assert phone_text(stored) == shown
    assert (
        Template("{% load pumptrack_tags %}{{ n|phone }}").render(Context({"n": stored})) == shown
    )


def test_a_clinic_phone_from_the_database_is_shown_the_way_people_dial_it(db):
    clinic = Clinic.objects.create(name="Dialled", phone="+16175550100")
    clinic.refresh_from_db()
    assert clinic_phone_text(clinic) == "+1 617-555-0100"
