"""patients.services: implanting and replacing pumps, and re-tiering on patient edits."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from patients import services
from patients.models import PumpStatus
from refills import services as refill_services
from refills.models import PumpForecast
from tests.conftest import program_input, refill_input
from tests.factories import PatientFactory, PumpFactory, pump_model

T0 = dt.datetime(2025, 6, 2, 14, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False):
        yield


def fill(pump, by, *, days_ago):
    at = timezone.now() - dt.timedelta(days=days_ago)
    refill_services.program_start(
        pump=pump, by=by, program=program_input(400, 2000), effective_from=at
    )
    refill_services.refill_record(pump=pump, by=by, data=refill_input(performed_at=at))


def test_patient_create_stores_a_typed_phone_in_e164(clinic):
    patient = services.patient_create(
        clinic=clinic,
        mrn="NEW-1",
        given_name="Ada",
        family_name="Example",
        date_of_birth=dt.date(1980, 5, 17),
        phone="(617) 555-0142",
        consent_sms=True,
    )
    patient.refresh_from_db()
    assert patient.phone == "+16175550142"


def test_patient_create_explains_a_bad_phone_once(clinic):
    with pytest.raises(ValidationError) as caught:
        services.patient_create(
            clinic=clinic,
            mrn="NEW-2",
            given_name="Ada",
            family_name="Example",
            date_of_birth=dt.date(1980, 5, 17),
            phone="555-0142",
        )
    assert caught.value.message_dict == {
        "phone": ["This phone number is not valid. Check the digits and the country code."]
    }


def test_caregiver_add_and_patient_update_normalise_phones(patient):
    caregiver = services.caregiver_add(
        patient=patient, name="Grace", relationship="sister", phone="617 555 0199"
    )
    assert caregiver.phone == "+16175550199"
    services.patient_update(patient=patient, phone="617-555-0111")
    patient.refresh_from_db()
    assert patient.phone == "+16175550111"


def test_pump_implant_creates_an_active_pump_with_a_forecast(patient):
    pump = services.pump_implant(
        patient=patient,
        model=pump_model("16827"),
        serial_number="PRO-1",
        implanted_on=dt.date(2025, 5, 30),
    )
    assert pump.status == PumpStatus.ACTIVE
    assert pump.alarm_volume_ml == D("2.0")  # the model's default
    row = PumpForecast.objects.get(pump=pump)
    assert row.refill_by_reason == "no-fill"
    assert row.alarm_at is None and row.refill_by is None


def test_pump_implant_with_replaces_explants_the_old_pump(patient):
    old = services.pump_implant(
        patient=patient,
        model=pump_model("8637-20"),
        serial_number="OLD-1",
        implanted_on=dt.date(2019, 1, 10),
    )
    new = services.pump_implant(
        patient=patient,
        model=pump_model("8637-40"),
        serial_number="NEW-1",
        implanted_on=dt.date(2025, 6, 1),
        alarm_volume_ml=D("4.0"),
        replaces=old,
    )
    old.refresh_from_db()
    assert old.status == PumpStatus.EXPLANTED
    assert old.explanted_on == dt.date(2025, 6, 1)
    assert new.status == PumpStatus.ACTIVE
    assert new.alarm_volume_ml == D("4.0")
    assert list(patient.pumps.filter(status=PumpStatus.ACTIVE)) == [new]


def test_pump_implant_refuses_to_replace_another_patients_pump(patient, clinic):
    other_pump = PumpFactory(patient=PatientFactory(clinic=clinic))
    with pytest.raises(ValidationError, match="belongs to another patient"):
        services.pump_implant(
            patient=patient,
            model=pump_model("8637-20"),
            serial_number="NEW-2",
            implanted_on=dt.date(2025, 6, 1),
            replaces=other_pump,
        )
    other_pump.refresh_from_db()
    assert other_pump.status == PumpStatus.ACTIVE
    assert patient.pumps.count() == 0


def test_pump_implant_refuses_to_replace_an_explanted_pump(pump):
    services._pump_explant(pump=pump, explanted_on=dt.date(2025, 5, 1))
    with pytest.raises(ValidationError, match="already explanted"):
        services.pump_implant(
            patient=pump.patient,
            model=pump_model("8637-20"),
            serial_number="NEW-3",
            implanted_on=dt.date(2025, 6, 1),
            replaces=pump,
        )
    pump.refresh_from_db()
    assert pump.explanted_on == dt.date(2025, 5, 1)


def test_failed_implant_leaves_the_old_pump_active(pump):
    with pytest.raises(ValidationError):
        services.pump_implant(
            patient=pump.patient,
            model=pump_model("8637-20"),
            serial_number="NEW-4",
            implanted_on=dt.date(2025, 6, 1),
            alarm_volume_ml=D("6.0"),  # outside 2-5 mL
            replaces=pump,
        )
    pump.refresh_from_db()
    assert pump.status == PumpStatus.ACTIVE
    assert pump.explanted_on is None


def test_patient_update_of_a_risk_factor_re_tiers_the_active_pump(pump, nurse, patient):
    fill(pump, nurse, days_ago=60)  # conservative alarm 18.3 days away, nothing booked
    row = PumpForecast.objects.get(pump=pump)
    assert row.risk_tier == 2
    services.patient_update(patient=patient, prior_withdrawal=True)
    patient.refresh_from_db()
    assert patient.prior_withdrawal is True
    row = PumpForecast.objects.get(pump=pump)
    assert row.risk_tier == 3
    assert [r["code"] for r in row.risk_reasons] == ["risk-factor-unbooked"]
    assert "History of baclofen withdrawal" in row.risk_reasons[0]["text"]


def test_two_other_risk_factors_make_the_tier_moderate(pump, nurse, patient):
    fill(pump, nurse, days_ago=10)
    assert PumpForecast.objects.get(pump=pump).risk_tier == 1
    services.patient_update(patient=patient, cognitive_impairment=True, caregiver_managed=True)
    row = PumpForecast.objects.get(pump=pump)
    assert row.risk_tier == 2
    assert [r["code"] for r in row.risk_reasons] == ["other-risk-factors"]


def test_patient_update_without_a_risk_change_does_not_recompute(pump, nurse, patient, clock):
    fill(pump, nurse, days_ago=10)
    computed = PumpForecast.objects.get(pump=pump).computed_at
    with time_machine.travel(T0 + dt.timedelta(hours=1), tick=False):
        services.patient_update(patient=patient, notes="Prefers morning visits")
        services.patient_update(patient=patient, prior_withdrawal=False)  # unchanged value
    patient.refresh_from_db()
    assert patient.notes == "Prefers morning visits"
    assert PumpForecast.objects.get(pump=pump).computed_at == computed


def test_oral_bridge_never_lowers_the_tier(pump, nurse, patient):
    fill(pump, nurse, days_ago=70)  # conservative alarm 8.3 days away, nothing booked
    assert PumpForecast.objects.get(pump=pump).risk_tier == 3
    services.patient_update(patient=patient, oral_baclofen_bridge=True)
    assert PumpForecast.objects.get(pump=pump).risk_tier == 3


def test_patient_update_validates_before_saving(patient):
    born = patient.date_of_birth
    with pytest.raises(ValidationError) as caught:
        services.patient_update(
            patient=patient, date_of_birth=dt.date(2030, 1, 1), prior_withdrawal=True
        )
    assert caught.value.message_dict["date_of_birth"] == [
        "The date of birth cannot be in the future."
    ]
    # Neither the caller's object nor the database took the refused values.
    assert (patient.date_of_birth, patient.prior_withdrawal) == (born, False)
    patient.refresh_from_db()
    assert (patient.date_of_birth, patient.prior_withdrawal) == (born, False)


def test_pump_update_of_planned_replacement_sets_refill_by(pump, nurse):
    fill(pump, nurse, days_ago=10)
    services.pump_update(pump=pump, planned_replacement_on=dt.date(2025, 7, 1))
    row = PumpForecast.objects.get(pump=pump)
    assert row.refill_by == dt.date(2025, 7, 1)
    assert row.refill_by_reason == "planned-replacement"


def test_replacing_a_pump_moves_the_patients_bookings_to_the_new_pump(filled_pump, nurse):
    import datetime as dt

    from django.utils import timezone

    from patients.services import pump_implant
    from refills import services as refill_services
    from tests.factories import pump_model

    booked = refill_services.appointment_book(
        pump=filled_pump, by=nurse, scheduled_start=timezone.now() + dt.timedelta(days=10)
    )
    new = pump_implant(
        patient=filled_pump.patient,
        model=pump_model("8637-40"),
        serial_number="NEW-SERIAL-1",
        implanted_on=timezone.localdate(),
        replaces=filled_pump,
    )
    booked.refresh_from_db()
    assert booked.pump == new
    assert list(booked.history.values_list("pump_id", flat=True).order_by("history_date")) == [
        filled_pump.pk,
        new.pk,
    ]


def test_explanting_alone_is_not_a_public_service():
    """Marking a pump explanted sends no signal: only the services that also move or
    cancel its bookings and close its alerts are public."""
    assert not hasattr(services, "pump_explant")
    assert callable(services.pump_explant_without_replacement)


@pytest.mark.parametrize("who", ["patient", "caregiver"])
def test_contact_consent_set_records_the_source_and_announces_a_patients_change(pump, who):
    from patients.models import Channel
    from patients.signals import patient_updated
    from tests.factories import CaregiverFactory

    patient = pump.patient
    person = patient if who == "patient" else CaregiverFactory(patient=patient)
    type(person).objects.filter(pk=person.pk).update(consent_sms=True)
    person.refresh_from_db()
    announced = []

    def receiver(*, patient, changed, **_):
        announced.append((patient.pk, changed))

    patient_updated.connect(receiver, dispatch_uid="test-consent")
    try:
        assert services.contact_consent_set(
            person=person, channel=Channel.SMS, consented=False, source="inbound SMS opt-out"
        )
        assert not services.contact_consent_set(
            person=person, channel=Channel.SMS, consented=False, source="inbound SMS opt-out"
        )
    finally:
        patient_updated.disconnect(dispatch_uid="test-consent")
    person.refresh_from_db()
    assert person.consent_sms is False
    latest = person.history.first()
    assert latest.consent_sms is False and latest.history_change_reason == "inbound SMS opt-out"
    expected = [(patient.pk, frozenset({"consent_sms"}))] if who == "patient" else []
    assert announced == expected


def test_an_inbound_stop_goes_through_the_consent_service(pump, monkeypatch):
    from reminders import services as reminder_services

    calls = []
    monkeypatch.setattr(
        reminder_services, "contact_consent_set", lambda **kw: calls.append(kw) or True
    )
    pump.patient.consent_sms = True
    pump.patient.save()
    assert reminder_services.sms_keyword_apply(phone=pump.patient.phone, body="STOP") == (
        "opt-out",
        1,
    )
    assert [(c["person"].pk, c["consented"]) for c in calls] == [(pump.patient.pk, False)]
