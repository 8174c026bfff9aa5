"""patients.models: contact fields, time zones, pumps and the catalogues the migrations load."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from patients import services as patient_services
from patients.models import Caregiver, Clinic, Patient, Pump, PumpModel, PumpStatus
from patients.validators import normalize_phone, validate_e164
from refills.models import DrugProduct
from tests.factories import ClinicFactory, PatientFactory, PumpFactory, pump_model

TODAY = dt.date(2025, 6, 2)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(dt.datetime(2025, 6, 2, 14, 0, tzinfo=dt.UTC), tick=False):
        yield


def errors_of(instance) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        instance.full_clean()
    return caught.value.message_dict


def new_patient(clinic, **fields) -> Patient:
    values = {
        "clinic": clinic,
        "mrn": "MRN-1",
        "given_name": "Ada",
        "family_name": "Example",
        "date_of_birth": dt.date(1980, 5, 17),
        "phone": "",
        "email": "",
        "preferred_channel": "none",
    }
    values.update(fields)
    return Patient(**values)


def new_pump(patient, **fields) -> Pump:
    values = {
        "patient": patient,
        "model": pump_model("8637-20"),
        "serial_number": "NGP-NEW-1",
        "implanted_on": TODAY - dt.timedelta(days=100),
        "alarm_volume_ml": D("2.0"),
    }
    values.update(fields)
    return Pump(**values)


# --------------------------------------------------------------------------- phones


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("(617) 555-0142", "+16175550142"),
        ("617.555.0142", "+16175550142"),
        ("+1 617 555 0142", "+16175550142"),
        ("+44 20 7946 0958", "+442079460958"),
        ("  ", ""),
    ],
)
def test_phone_is_normalised_to_e164(typed, stored):
    assert normalize_phone(typed) == stored


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        (
            "call the mother",
            "This does not look like a phone number. Enter it with the area code, "
            "for example +1 617 555 0142.",
        ),
        ("555-0142", "This phone number is not valid. Check the digits and the country code."),
        ("+1 617 555 01", "This phone number is not valid. Check the digits and the country code."),
    ],
)
def test_bad_phone_gets_a_message_a_nurse_can_act_on(clinic, typed, message):
    errors = errors_of(new_patient(clinic, phone=typed))
    assert set(errors["phone"]) == {message}


def test_e164_phone_passes_model_validation(clinic):
    patient = new_patient(clinic, phone="+16175550142", consent_sms=True)
    patient.full_clean()
    assert patient.phone == "+16175550142"


def test_validate_e164_accepts_only_the_stored_form():
    validate_e164("+16175550142")
    validate_e164("")
    with pytest.raises(ValidationError, match="international form"):
        validate_e164("6175550142")


def test_model_full_clean_normalises_a_typed_phone(clinic):
    patient = new_patient(clinic, phone="(617) 555-0142")
    patient.full_clean()
    assert patient.phone == "+16175550142"


def test_bad_phone_message_is_shown_once(clinic):
    assert len(errors_of(new_patient(clinic, phone="555-0142"))["phone"]) == 1


# --------------------------------------------------------------------------- time zones


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "Eastern", "new york"])
def test_unknown_time_zone_is_refused(db, zone):
    clinic = Clinic(name="Zoned", phone="+16175550100", timezone=zone)
    errors = errors_of(clinic)
    assert errors["timezone"] == [
        "Unknown time zone. Use a name such as America/New_York or Europe/London."
    ]


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/London", "America/Los_Angeles"])
def test_known_time_zone_is_accepted(clinic, zone):
    patient = new_patient(clinic, timezone=zone)
    patient.full_clean()
    assert patient.tz.key == zone


def test_patient_without_a_zone_uses_the_clinics(clinic):
    patient = new_patient(clinic, timezone="")
    assert patient.timezone_name == "America/New_York"
    assert new_patient(clinic, timezone="Europe/London").timezone_name == "Europe/London"


# --------------------------------------------------------------------------- consent


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"consent_sms": True},
            "phone",
            "Text-message consent needs a mobile phone number.",
        ),
        ({"consent_email": True}, "email", "Email consent needs an email address."),
        (
            {"preferred_channel": "sms"},
            "preferred_channel",
            "Text messages need a phone number.",
        ),
        (
            {"preferred_channel": "email"},
            "preferred_channel",
            "Email reminders need an email address.",
        ),
    ],
)
def test_consent_and_channel_need_a_contact(clinic, fields, field, message):
    errors = errors_of(new_patient(clinic, **fields))
    assert errors[field] == [message]


def test_consent_with_contacts_is_accepted(clinic):
    patient = new_patient(
        clinic,
        phone="+16175550142",
        email="ada@example.org",
        consent_sms=True,
        consent_email=True,
        preferred_channel="sms",
    )
    patient.full_clean()


def test_caregiver_receiving_reminders_needs_a_contact(patient):
    caregiver = Caregiver(patient=patient, name="Grace", relationship="sister")
    assert errors_of(caregiver)["receives_reminders"] == [
        "Reminders need a phone number or an email address."
    ]
    caregiver.receives_reminders = False
    caregiver.full_clean()


def test_date_of_birth_cannot_be_in_the_future(clinic):
    errors = errors_of(new_patient(clinic, date_of_birth=TODAY + dt.timedelta(days=1)))
    assert errors["date_of_birth"] == ["The date of birth cannot be in the future."]


# --------------------------------------------------------------------------- MRN


def test_mrn_is_unique_within_a_clinic(clinic):
    PatientFactory(clinic=clinic, mrn="A-100")
    errors = errors_of(new_patient(clinic, mrn="A-100"))
    assert "__all__" in errors
    with pytest.raises(IntegrityError), transaction.atomic():
        PatientFactory(clinic=clinic, mrn="A-100")
    assert Patient.objects.filter(clinic=clinic, mrn="A-100").count() == 1


def test_mrn_may_repeat_across_clinics(clinic):
    PatientFactory(clinic=clinic, mrn="A-100")
    other = ClinicFactory()
    duplicate = new_patient(other, mrn="A-100")
    duplicate.full_clean()
    duplicate.save()
    assert Patient.objects.filter(mrn="A-100").count() == 2


# --------------------------------------------------------------------------- one active pump


def test_database_allows_one_active_pump_per_patient(patient):
    Pump.objects.create(
        patient=patient,
        model=pump_model("8637-20"),
        serial_number="A1",
        implanted_on=TODAY - dt.timedelta(days=10),
        alarm_volume_ml=D("2.0"),
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Pump.objects.create(
            patient=patient,
            model=pump_model("8637-40"),
            serial_number="A2",
            implanted_on=TODAY - dt.timedelta(days=5),
            alarm_volume_ml=D("2.0"),
        )
    assert patient.pumps.count() == 1


def test_explanted_pumps_do_not_count_against_the_active_one(patient):
    Pump.objects.create(
        patient=patient,
        model=pump_model("8637-20"),
        serial_number="OLD",
        implanted_on=TODAY - dt.timedelta(days=2000),
        alarm_volume_ml=D("2.0"),
        status=PumpStatus.EXPLANTED,
        explanted_on=TODAY - dt.timedelta(days=10),
    )
    PumpFactory(patient=patient)
    assert patient.pumps.filter(status=PumpStatus.ACTIVE).count() == 1
    assert patient.pumps.count() == 2


def test_second_active_pump_fails_model_validation(pump):
    assert "__all__" in errors_of(new_pump(pump.patient))


def test_pump_implant_refuses_a_second_active_pump(pump):
    with pytest.raises(ValidationError) as caught:
        patient_services.pump_implant(
            patient=pump.patient,
            model=pump_model("8637-40"),
            serial_number="SECOND",
            implanted_on=TODAY,
        )
    assert caught.value.messages == [
        "This patient already has an active pump. Record it as replaced or explanted first."
    ]
    assert pump.patient.pumps.count() == 1


def test_explant_needs_a_date_and_active_has_none(patient):
    errors = errors_of(new_pump(patient, status=PumpStatus.EXPLANTED))
    assert errors["explanted_on"] == ["Enter the date the pump was explanted."]
    errors = errors_of(new_pump(patient, explanted_on=TODAY))
    assert errors["explanted_on"] == ["An active pump has no explant date."]


# --------------------------------------------------------------------------- alarm volume


@pytest.mark.parametrize("volume", ["2.0", "3.5", "5.0"])
def test_alarm_volume_from_2_to_5_ml_is_accepted(patient, volume):
    new_pump(patient, alarm_volume_ml=D(volume)).full_clean()


@pytest.mark.parametrize(
    ("volume", "message"),
    [
        ("1.9", "Ensure this value is greater than or equal to 2.0."),
        ("5.1", "Ensure this value is less than or equal to 5.0."),
    ],
)
def test_alarm_volume_outside_2_to_5_ml_fails_validation(patient, volume, message):
    errors = errors_of(new_pump(patient, alarm_volume_ml=D(volume)))
    assert message in errors["alarm_volume_ml"]


@pytest.mark.parametrize("volume", ["1.9", "5.1", "0.0"])
def test_database_refuses_alarm_volume_outside_2_to_5_ml(patient, volume):
    with pytest.raises(IntegrityError), transaction.atomic():
        new_pump(patient, alarm_volume_ml=D(volume)).save()
    assert not Pump.objects.filter(patient=patient).exists()


def test_missing_alarm_volume_takes_the_model_default(patient):
    pump = new_pump(patient, alarm_volume_ml=None)
    pump.full_clean()
    assert pump.alarm_volume_ml == D("2.0")


# --------------------------------------------------------------------------- device age


def test_synchromed_ii_past_its_7_year_shutdown_cannot_be_active(patient):
    implanted = TODAY - dt.timedelta(days=2557)  # shut-down today
    errors = errors_of(new_pump(patient, implanted_on=implanted))
    assert errors["implanted_on"] == [
        f"A SynchroMed II implanted on {implanted:%d %b %Y} has passed its automatic "
        f"shut-down ({TODAY:%d %b %Y}) and cannot be active. Record the replacement pump, "
        "or mark this one explanted."
    ]


def test_synchromed_ii_one_day_before_shutdown_is_accepted(patient):
    pump = new_pump(patient, implanted_on=TODAY - dt.timedelta(days=2556))
    pump.full_clean()
    assert pump.shutdown_on == TODAY + dt.timedelta(days=1)


def test_old_synchromed_ii_may_be_recorded_as_explanted(patient):
    new_pump(
        patient,
        implanted_on=TODAY - dt.timedelta(days=3000),
        status=PumpStatus.EXPLANTED,
        explanted_on=TODAY - dt.timedelta(days=300),
    ).full_clean()


def test_pump_without_a_service_life_has_no_shutdown(patient):
    pump = new_pump(
        patient, model=pump_model("13827"), implanted_on=TODAY - dt.timedelta(days=3000)
    )
    pump.full_clean()
    assert pump.shutdown_on is None


def test_end_of_service_is_the_earlier_of_shutdown_and_eri_grace(patient):
    pump = new_pump(patient, implanted_on=dt.date(2020, 1, 1))
    assert pump.end_of_service_on == dt.date(2020, 1, 1) + dt.timedelta(days=2557)
    pump.eri_on = dt.date(2025, 5, 1)
    assert pump.end_of_service_on == dt.date(2025, 7, 30)  # ERI + 90 days


def test_implant_date_cannot_be_in_the_future_and_eri_not_before_it(patient):
    errors = errors_of(new_pump(patient, implanted_on=TODAY + dt.timedelta(days=1)))
    assert errors["implanted_on"] == ["The implant date cannot be in the future."]
    errors = errors_of(new_pump(patient, eri_on=TODAY - dt.timedelta(days=200)))
    assert errors["eri_on"] == ["The ERI date cannot be before the implant date."]


# --------------------------------------------------------------------------- catalogues


@pytest.mark.parametrize(
    ("number", "name", "capacity", "service_life", "min_age"),
    [
        ("8637-20", "SynchroMed II", "20", 2557, None),
        ("8637-40", "SynchroMed II", "40", 2557, None),
        ("13827", "Prometra II", "20", None, 12),
        ("16827", "Prometra II", "40", None, 12),
    ],
)
def test_migrations_load_the_pump_catalogue(db, number, name, capacity, service_life, min_age):
    model = PumpModel.objects.get(model_number=number)
    assert model.name == name
    assert model.reservoir_capacity_ml == D(capacity)
    assert model.default_alarm_volume_ml == D("2.0")
    assert model.max_service_life_days == service_life
    assert model.minimum_age_years == min_age


def test_pump_catalogue_holds_exactly_the_four_models(db):
    numbers = set(PumpModel.objects.values_list("model_number", flat=True))
    assert numbers == {"8637-20", "8637-40", "13827", "16827"}


def test_migrations_load_the_drug_catalogue(db):
    gablofen_3000 = DrugProduct.objects.get(name="Gablofen", concentration_mcg_per_ml=3000)
    assert gablofen_3000.is_active is False
    active_strengths = set(
        DrugProduct.objects.filter(is_active=True, is_custom_dilution=False).values_list(
            "concentration_mcg_per_ml", flat=True
        )
    )
    assert active_strengths == {D(50), D(500), D(1000), D(2000)}
    screening = DrugProduct.objects.filter(screening_only=True)
    assert {p.concentration_mcg_per_ml for p in screening} == {D(50)}
    assert DrugProduct.objects.filter(is_custom_dilution=True).count() == 1
