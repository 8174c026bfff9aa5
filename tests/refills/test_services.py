"""refills.services: what gets written, what is refused, and the stored forecast.

The clock is frozen at T0 (Monday 2 June 2025, 10:00 in New York, the test
clinic's zone) and moved with time_machine where time matters.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import Membership, Role
from patients import services as patient_services
from refills import services
from refills.forecast import Fill, forecast
from refills.models import (
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    DosingMode,
    DrugProduct,
    DrugProgram,
    Override,
    PumpForecast,
    PumpReport,
    Refill,
    ReportKind,
)
from refills.services import ClinicalValidationError
from tests.conftest import program_input, refill_input
from tests.factories import ClinicFactory, PatientFactory, PumpFactory, staff

T0 = dt.datetime(2025, 6, 2, 14, 0, tzinfo=dt.UTC)
NY = ZoneInfo("America/New_York")
DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


# --------------------------------------------------------------------------- helpers


def start_and_fill(pump, by, *, days_ago, dose=400, concentration=2000, volume="20", **program):
    """Program a pump and fill it `days_ago` days before now."""
    at = timezone.now() - days_ago * DAY
    services.program_start(
        pump=pump,
        by=by,
        program=program_input(dose, concentration, **program),
        effective_from=at,
    )
    return services.refill_record(
        pump=pump,
        by=by,
        data=refill_input(performed_at=at, added=volume, concentration=concentration),
    )


def stored(pump) -> PumpForecast:
    return PumpForecast.objects.get(pump=pump)


def reason_codes(row: PumpForecast) -> list[str]:
    return [reason["code"] for reason in row.risk_reasons]


def local_day(instant: dt.datetime) -> dt.date:
    return instant.astimezone(NY).date()


def at_local(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=NY)


def counts() -> dict[str, int]:
    return {
        "refills": Refill.objects.count(),
        "programs": DrugProgram.objects.count(),
        "overrides": Override.objects.count(),
    }


def conservative_alarm(fill_at: dt.datetime, usable_ml="18", ml_per_day="0.2") -> dt.datetime:
    days = D(usable_ml) / (D(ml_per_day) * D("1.15"))
    return fill_at + dt.timedelta(seconds=int(days * 86400))


# --------------------------------------------------------------------------- reconciliation


def test_under_delivery_of_2_5_ml_is_stored_flagged_with_assessment(pump, nurse):
    # Domain §9: 20 mL at 0.2 mL/day, 60 days later 8.0 mL expected, 10.5 mL found.
    start_and_fill(pump, nurse, days_ago=60)
    refill = services.refill_record(
        pump=pump,
        by=nurse,
        data=refill_input(
            residual="10.5",
            discrepancy_assessment="Rising tone for a week; catheter suspected.",
            discrepancy_action="workup",
        ),
    )
    refill.refresh_from_db()
    assert refill.expected_residual_ml == D("8.00")
    assert refill.discrepancy_ml == D("2.50")
    assert refill.discrepancy_relative == D("0.2083")  # +20.8 % (domain §9)
    assert refill.discrepancy_flagged is True
    assert refill.discrepancy_assessment == "Rising tone for a week; catheter suspected."
    assert refill.discrepancy_action == "workup"
    # The unexplained discrepancy keeps the patient HIGH after the refill.
    row = stored(pump)
    assert row.risk_tier == 3
    assert "discrepancy" in reason_codes(row)


def test_explained_discrepancy_does_not_keep_the_patient_high(pump, nurse):
    start_and_fill(pump, nurse, days_ago=60)
    services.refill_record(
        pump=pump,
        by=nurse,
        data=refill_input(
            residual="10.5",
            discrepancy_assessment="Residual looks larger than expected.",
            discrepancy_action="cause_found",
            discrepancy_cause="Previous fill was programmed at 18 mL, not 20 mL.",
        ),
    )
    row = stored(pump)
    assert "discrepancy" not in reason_codes(row)
    assert row.risk_tier < 3


def test_refill_done_before_its_refill_by_date_is_stored_on_time(pump, nurse):
    first = start_and_fill(pump, nurse, days_ago=30)
    due = stored(pump).refill_by
    refill = services.refill_record(pump=pump, by=nurse, data=refill_input(residual="14"))
    assert first.due_by is None and first.performed_on_time is None
    assert refill.due_by == due
    assert refill.performed_on_time is True


def test_refill_done_after_its_refill_by_date_is_stored_late(pump, nurse):
    start_and_fill(pump, nurse, days_ago=85)  # refill-by is about day 71
    due = stored(pump).refill_by
    assert due < local_day(timezone.now())
    refill = services.refill_record(pump=pump, by=nurse, data=refill_input(residual="3"))
    assert refill.due_by == due
    assert refill.performed_on_time is False


def test_flagged_discrepancy_without_assessment_and_action_is_refused(pump, nurse):
    start_and_fill(pump, nurse, days_ago=60)
    before = counts()
    with pytest.raises(ClinicalValidationError) as caught:
        services.refill_record(pump=pump, by=nurse, data=refill_input(residual="10.5"))
    errors = caught.value.message_dict
    assert set(errors) == {"discrepancy_assessment", "discrepancy_action"}
    (assessment,) = errors["discrepancy_assessment"]
    assert assessment.startswith("2.5 mL more left than expected (10.5 mL found, 8.0 mL expected)")
    assert "under-delivery" in assessment
    assert assessment.endswith("Write your assessment.")
    assert counts() == before


def test_residual_within_tolerance_is_stored_unflagged(pump, nurse):
    start_and_fill(pump, nurse, days_ago=60)
    refill = services.refill_record(pump=pump, by=nurse, data=refill_input(residual="7.5"))
    refill.refresh_from_db()
    assert refill.expected_residual_ml == D("8.00")
    assert refill.discrepancy_ml == D("-0.50")
    assert refill.discrepancy_relative == D("-0.0417")  # -4.2 % (domain §9)
    assert refill.discrepancy_flagged is False
    assert stored(pump).risk_tier == 1


def test_volume_left_in_the_pump_counts_as_residual(pump, nurse):
    # 7 mL aspirated and 1 mL that could not be drawn back: 8 mL were in the pump.
    start_and_fill(pump, nurse, days_ago=60)
    refill = services.refill_record(
        pump=pump,
        by=nurse,
        data=refill_input(residual="7", residual_left_ml=D("1"), added="19", resulting="20"),
    )
    refill.refresh_from_db()
    assert refill.discrepancy_ml == D("0.00")
    assert refill.discrepancy_flagged is False


def test_first_refill_has_nothing_to_reconcile(pump, nurse):
    refill = start_and_fill(pump, nurse, days_ago=5)
    refill.refresh_from_db()
    assert refill.expected_residual_ml is None
    assert refill.discrepancy_ml is None
    assert refill.discrepancy_flagged is False


# --------------------------------------------------------------------------- refused refills


def test_invalid_refill_saves_nothing_and_reports_every_field(filled_pump, nurse):
    before = counts()
    computed_before = stored(filled_pump).computed_at
    data = dataclasses.replace(
        refill_input(residual="14", added="21"),
        needle_placement_confirmed=False,
        concentration_mcg_per_ml=D("2"),
    )
    with pytest.raises(ClinicalValidationError) as caught:
        services.refill_record(pump=filled_pump, by=nurse, data=data)
    errors = caught.value.message_dict
    assert {"needle_placement_confirmed", "volume_added_ml", "concentration_mcg_per_ml"} <= set(
        errors
    )
    assert any(
        "Did you mean 2 mg/mL = 2000 mcg/mL?" in m for m in errors["concentration_mcg_per_ml"]
    )
    assert any("overfill the 20 mL reservoir" in m for m in errors["volume_added_ml"])
    assert {f.code for f in caught.value.findings} >= {
        "needle_not_confirmed",
        "overfill",
        "concentration_mg_suspected",
    }
    assert all(f.blocks for f in caught.value.findings)
    assert counts() == before
    assert stored(filled_pump).computed_at == computed_before


def test_refill_in_the_future_is_refused(filled_pump, nurse):
    before = counts()
    data = refill_input(performed_at=timezone.now() + dt.timedelta(hours=1), residual="14")
    with pytest.raises(ClinicalValidationError) as caught:
        services.refill_record(pump=filled_pump, by=nurse, data=data)
    assert caught.value.message_dict["performed_at"] == [
        "A refill cannot be recorded in the future. Check the date and time."
    ]
    assert counts() == before


def test_explanted_pump_is_refused_a_refill(filled_pump, nurse):
    patient_services._pump_explant(pump=filled_pump, explanted_on=timezone.localdate())
    before = counts()
    with pytest.raises(ClinicalValidationError) as caught:
        services.refill_record(pump=filled_pump, by=nurse, data=refill_input(residual="14"))
    assert "pump_not_active" in {f.code for f in caught.value.findings}
    assert any("explanted" in m for m in caught.value.message_dict["__all__"])
    assert counts() == before


def test_explanted_pump_is_refused_a_program_change(filled_pump, nurse):
    patient_services._pump_explant(pump=filled_pump, explanted_on=timezone.localdate())
    with pytest.raises(ClinicalValidationError) as caught:
        services.drug_program_change(
            pump=filled_pump, by=nurse, program=program_input(420, 2000), reason="Spasms"
        )
    assert [f.code for f in caught.value.findings] == ["pump_not_active"]
    assert DrugProgram.objects.filter(pump=filled_pump).count() == 1


def test_pump_without_a_program_cannot_be_refilled(pump, nurse):
    with pytest.raises(ClinicalValidationError) as caught:
        services.refill_record(pump=pump, by=nurse, data=refill_input())
    assert caught.value.message_dict["basal_daily_dose_mcg"] == [
        "This pump has no drug program yet. Enter the daily dose."
    ]
    assert Refill.objects.count() == 0


# --------------------------------------------------------------------------- overrides


def printout_mismatch(pump, nurse):
    """A refill whose printed alarm date is 5 days off pumptrack's (a warning)."""
    data = refill_input(residual="14")
    computed = services.refill_preview(pump=pump, data=data, by=nurse).forecast.alarm_at
    return dataclasses.replace(data, printed_alarm_date=local_day(computed) + 5 * DAY)


def test_warning_without_override_reason_blocks(filled_pump, nurse):
    before = counts()
    with pytest.raises(ClinicalValidationError) as caught:
        services.refill_record(
            pump=filled_pump, by=nurse, data=printout_mismatch(filled_pump, nurse)
        )
    (message,) = caught.value.message_dict["printed_alarm_date"]
    assert "differs from pumptrack's" in message and "by 5 days" in message
    assert message.endswith("To proceed, give an override reason.")
    assert counts() == before


def test_warning_with_reason_saves_and_records_who_and_why(filled_pump, nurse):
    refill = services.refill_record(
        pump=filled_pump,
        by=nurse,
        data=printout_mismatch(filled_pump, nurse),
        override_reason="  Printout from the old programmer; date confirmed by phone.  ",
    )
    (override,) = Override.objects.all()
    assert override.rule == "printed_alarm_mismatch"
    assert override.reason == "Printout from the old programmer; date confirmed by phone."
    assert override.overridden_by == nurse
    assert override.refill == refill
    assert override.pump == filled_pump
    assert override.requires_physician is False
    assert "by 5 days" in override.message


def dose_increase_refill(new_dose=600):
    return refill_input(
        residual="14",
        new_program=program_input(new_dose, 2000),
        program_change_reason="Spasticity not controlled",
    )


def test_nurse_cannot_override_a_physician_level_finding(filled_pump, nurse):
    before = counts()
    with pytest.raises(ClinicalValidationError) as caught:
        services.refill_record(
            pump=filled_pump,
            by=nurse,
            data=dose_increase_refill(600),
            override_reason="Physician asked by phone",
        )
    (message,) = caught.value.message_dict["basal_daily_dose_mcg"]
    assert "from 400 to 600 mcg/day (+50 %" in message
    assert message.endswith("Only a physician can override this.")
    assert counts() == before


def test_physician_overrides_a_large_dose_increase_at_refill(filled_pump, physician):
    refill = services.refill_record(
        pump=filled_pump,
        by=physician,
        data=dose_increase_refill(600),
        override_reason="Severe spasms; increase discussed with the patient.",
    )
    assert refill.program.daily_dose_mcg == D("600.0")
    assert refill.program.effective_from == refill.performed_at
    assert refill.program.reason_for_change == "Spasticity not controlled"
    (override,) = Override.objects.all()
    assert override.rule == "dose_increase_over_limit"
    assert override.requires_physician is True
    assert override.overridden_by == physician
    assert override.refill == refill
    assert stored(filled_pump).daily_volume_ml == D("0.3000")


def test_dose_change_at_refill_creates_a_program_and_moves_the_forecast(filled_pump, nurse):
    refill = services.refill_record(pump=filled_pump, by=nurse, data=dose_increase_refill(480))
    assert DrugProgram.objects.filter(pump=filled_pump).count() == 2
    assert refill.program.daily_dose_mcg == D("480.0")
    assert Override.objects.count() == 0  # +20 % needs no override
    row = stored(filled_pump)
    assert row.daily_volume_ml == D("0.2400")
    assert row.alarm_at == refill.performed_at + 75 * DAY  # (20 - 2) / 0.24


def test_unchanged_refill_keeps_the_program(filled_pump, nurse):
    program = DrugProgram.objects.get(pump=filled_pump)
    refill = services.refill_record(pump=filled_pump, by=nurse, data=refill_input(residual="14"))
    assert refill.program == program
    assert DrugProgram.objects.filter(pump=filled_pump).count() == 1


def test_program_start_records_the_override_it_needed(pump, nurse):
    at = timezone.now() - DAY
    with pytest.raises(ClinicalValidationError):
        services.program_start(
            pump=pump, by=nurse, program=program_input(1200, 2000), effective_from=at
        )
    program = services.program_start(
        pump=pump,
        by=nurse,
        program=program_input(1200, 2000),
        effective_from=at,
        reason="Imported: dose set by the implanting centre",
    )
    (override,) = Override.objects.all()
    assert override.rule == "dose_limited_experience"
    assert override.program == program
    assert override.reason == "Imported: dose set by the implanting centre"


# --------------------------------------------------------------------------- concentration


def test_concentration_change_without_bridge_bolus_or_reason_blocks(filled_pump, nurse):
    before = counts()
    with pytest.raises(ClinicalValidationError) as caught:
        services.refill_record(
            pump=filled_pump, by=nurse, data=refill_input(residual="14", concentration=1000)
        )
    (message,) = caught.value.message_dict["bridge_bolus_mcg"]
    assert "changes from 2000 to 1000 mcg/mL" in message
    assert "Record the bridge bolus (mcg and mL) or why none is needed." in message
    assert counts() == before


def test_concentration_change_creates_a_program_and_projects_the_bridge(filled_pump, nurse):
    old_program = DrugProgram.objects.get(pump=filled_pump)
    refill = services.refill_record(
        pump=filled_pump,
        by=nurse,
        data=refill_input(
            residual="14",
            concentration=1000,
            bridge_bolus_mcg=D("100"),
            bridge_bolus_ml=D("0.1"),
        ),
    )
    new_program = refill.program
    assert new_program != old_program
    assert new_program.concentration_mcg_per_ml == D("1000.0")
    assert new_program.daily_dose_mcg == D("400.0")  # same dose, new strength
    assert new_program.effective_from == refill.performed_at
    old_program.refresh_from_db()
    assert old_program.concentration_mcg_per_ml == D("2000.0")
    row = stored(filled_pump)
    assert row.daily_volume_ml == D("0.4000")
    # The bridge bolus is drawn from the new fill: (20 - 2 - 0.1) / 0.4 = 44.75 days.
    assert row.alarm_at == refill.performed_at + dt.timedelta(days=44, hours=18)


def test_concentration_change_with_a_reason_needs_no_bridge(filled_pump, nurse):
    refill = services.refill_record(
        pump=filled_pump,
        by=nurse,
        data=refill_input(
            residual="14",
            concentration=1000,
            bridge_not_needed_reason="Catheter primed during revision today",
        ),
    )
    assert refill.program.concentration_mcg_per_ml == D("1000.0")


def test_a_new_custom_strength_needs_its_own_confirmation(pump, nurse, physician):
    custom = DrugProduct.objects.get(is_custom_dilution=True)
    at = timezone.now() - 30 * DAY
    program = dataclasses.replace(
        program_input(400, 2000),
        drug_product=custom,
        concentration_mcg_per_ml=D("1500"),
        custom_concentration_reason="Pharmacy dilution",
        second_clinician=physician,
    )
    services.program_start(pump=pump, by=nurse, program=program, effective_from=at)
    first = dataclasses.replace(
        refill_input(performed_at=at), drug_product=custom, concentration_mcg_per_ml=D("1500")
    )
    services.refill_record(pump=pump, by=nurse, data=first)  # same custom strength: accepted

    # 400 / 1500 mL/day for 30 days leaves 12 mL.
    second = dataclasses.replace(
        refill_input(residual="12", bridge_not_needed_reason="Same drug, small change"),
        drug_product=custom,
        concentration_mcg_per_ml=D("1200"),
    )
    with pytest.raises(ClinicalValidationError) as caught:
        services.refill_record(pump=pump, by=nurse, data=second)
    assert [f.code for f in caught.value.findings] == ["concentration_custom_unconfirmed"]
    assert "1200 mcg/mL is not a catalogue strength" in caught.value.messages[0]


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"residual": "-1"}, "residual_out_of_range"),
        ({"new_dose": -5}, "dose_negative"),
        (
            {"concentration": 1000, "bridge_bolus_mcg": D("50"), "bridge_bolus_ml": D("-0.1")},
            "bridge_bolus_negative",
        ),
        ({"residual_left_ml": D("-1"), "resulting": "19"}, "residual_left_out_of_range"),
    ],
    ids=["residual", "dose", "bridge", "left"],
)
def test_impossible_numbers_are_refused_with_messages_not_a_crash(
    filled_pump, nurse, changes, code
):
    changes = {"residual": "14", **changes}
    if "new_dose" in changes:  # built here: the drug catalogue needs the database
        changes["new_program"] = program_input(changes.pop("new_dose"), 2000)
    data = refill_input(**changes)
    with pytest.raises(ClinicalValidationError) as caught:
        services.refill_record(pump=filled_pump, by=nurse, data=data)
    assert code in {f.code for f in caught.value.findings}


def test_fill_at_the_alarm_volume_is_refused(filled_pump, nurse):
    with pytest.raises(ClinicalValidationError) as caught:
        services.refill_record(
            pump=filled_pump, by=nurse, data=refill_input(residual="14", added="2")
        )
    (message,) = caught.value.message_dict["resulting_volume_ml"]
    assert "the low-reservoir alarm would sound at once" in message


def test_short_interval_needs_an_override(pump, nurse):
    # Domain §9 case 2: 20 mL of 500 mcg/mL at 300 mcg/day (0.6 mL/day) alarms on day 30.
    first = start_and_fill(pump, nurse, days_ago=1, dose=300, concentration=500)
    assert stored(pump).alarm_at == first.performed_at + 30 * DAY
    # Only 10 mL this time: (10 - 2) / 0.6 = 13.3 days, under the 14-day warning.
    data = refill_input(residual="19.4", added="10", concentration=500)
    with pytest.raises(ClinicalValidationError) as caught:
        services.refill_record(pump=pump, by=nurse, data=data)
    (message,) = caught.value.message_dict["concentration_mcg_per_ml"]
    assert message.startswith("The alarm would sound in 13.3 days.")
    refill = services.refill_record(
        pump=pump, by=nurse, data=data, override_reason="Half fill: pump revision next week"
    )
    assert Override.objects.get().rule == "alarm_soon"
    assert stored(pump).alarm_at == refill.performed_at + dt.timedelta(days=13, hours=8)


# ------------------------------------------------------------------ appointments and refills


def test_refill_completes_the_scheduled_appointment(filled_pump, nurse, clock):
    appointment = services.appointment_book(
        pump=filled_pump, by=nurse, scheduled_start=timezone.now() + dt.timedelta(hours=1)
    )
    assert stored(filled_pump).next_refill_appointment == appointment
    clock.shift(dt.timedelta(hours=2))
    refill = services.refill_record(pump=filled_pump, by=nurse, data=refill_input(residual="14"))
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.COMPLETED
    assert appointment.completed_refill == refill
    row = stored(filled_pump)
    assert row.next_refill_appointment is None
    assert row.next_refill_at is None


def test_refill_does_not_complete_a_visit_missed_before_the_previous_refill(pump, nurse, clock):
    clock.move_to(T0 - 40 * DAY)
    services.program_start(
        pump=pump, by=nurse, program=program_input(400, 2000), effective_from=T0 - 41 * DAY
    )
    services.refill_record(pump=pump, by=nurse, data=refill_input(performed_at=T0 - 41 * DAY))
    missed = services.appointment_book(pump=pump, by=nurse, scheduled_start=T0 - 38 * DAY)
    clock.move_to(T0 - 37 * DAY)
    assert services.appointment_mark_missed(appointment=missed)
    kept = services.appointment_book(pump=pump, by=nurse, scheduled_start=T0 - 30 * DAY)
    clock.move_to(T0 - 30 * DAY + dt.timedelta(hours=1))
    services.refill_record(
        pump=pump, by=nurse, data=refill_input(performed_at=T0 - 30 * DAY, residual="17.8")
    )
    kept.refresh_from_db()
    assert kept.status == AppointmentStatus.COMPLETED
    # A walk-in refill today must not claim the visit missed 38 days ago.
    clock.move_to(T0)
    services.refill_record(pump=pump, by=nurse, data=refill_input(residual="14"))
    missed.refresh_from_db()
    assert missed.status == AppointmentStatus.MISSED
    assert missed.completed_refill is None


def test_refill_refuses_another_pumps_appointment(filled_pump, nurse, clinic):
    other = PumpFactory(patient=PatientFactory(clinic=clinic))
    foreign = services.appointment_book(
        pump=other, by=nurse, scheduled_start=timezone.now() + dt.timedelta(hours=1)
    )
    with pytest.raises(ClinicalValidationError) as caught:
        services.refill_record(
            pump=filled_pump, by=nurse, data=refill_input(residual="14"), appointment=foreign
        )
    assert "appointment_other_pump" in {f.code for f in caught.value.findings}
    foreign.refresh_from_db()
    assert foreign.status == AppointmentStatus.SCHEDULED


def test_refill_appointment_is_completed_only_by_a_refill(filled_pump, nurse):
    appointment = services.appointment_book(
        pump=filled_pump, by=nurse, scheduled_start=timezone.now() + DAY
    )
    with pytest.raises(ValidationError, match="completed by recording the refill"):
        services.appointment_complete(appointment=appointment, by=nurse)
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.SCHEDULED


def test_appointment_in_the_past_is_refused(filled_pump, nurse):
    with pytest.raises(ClinicalValidationError) as caught:
        services.appointment_book(
            pump=filled_pump, by=nurse, scheduled_start=timezone.now() - dt.timedelta(hours=1)
        )
    assert caught.value.message_dict["scheduled_start"] == ["The appointment time is in the past."]
    assert Appointment.objects.count() == 0


# --------------------------------------------------------------------------- stored forecast


def test_stored_forecast_matches_the_pure_forecast_for_domain_case_3(pump, nurse):
    # Domain §9 case 3: 20 mL of 1000 mcg/mL, 150 mcg/day + 2 x 25 mcg boluses = 200 mcg/day.
    refill = start_and_fill(
        pump,
        nurse,
        days_ago=10,
        dose=150,
        concentration=1000,
        bolus_dose_mcg=D(25),
        boluses_per_day=2,
    )
    expected = forecast(
        Fill(
            filled_at=refill.performed_at.astimezone(NY),
            volume_ml=D(20),
            concentration_mcg_per_ml=D(1000),
            daily_dose_mcg=D(200),
            alarm_volume_ml=D(2),
        ),
        accuracy=D("0.15"),
        margin_days=3,
        stability_days=180,
    )
    row = stored(pump)
    assert row.anchor_at == refill.performed_at
    assert row.anchor_volume_ml == D("20.00")
    assert row.daily_volume_ml == D("0.2000")
    assert row.alarm_at == expected.alarm_at
    assert row.conservative_alarm_at == expected.conservative_alarm_at
    assert row.empty_at == expected.empty_at
    assert row.refill_by == expected.refill_by
    assert row.refill_by_reason == "alarm-margin"
    # And the domain's numbers: alarm on day 90, conservative 78.3, empty on day 100.
    assert row.alarm_at == refill.performed_at + 90 * DAY
    assert row.conservative_alarm_at == conservative_alarm(refill.performed_at)
    assert row.empty_at == refill.performed_at + 100 * DAY
    assert row.refill_by == local_day(row.conservative_alarm_at) - 3 * DAY
    assert row.computed_at == timezone.now()


def test_program_change_restarts_the_projection_from_the_expected_residual(filled_pump, nurse):
    before = stored(filled_pump)
    fill_at = before.anchor_at
    assert before.alarm_at == fill_at + 90 * DAY
    services.drug_program_change(
        pump=filled_pump, by=nurse, program=program_input(480, 2000), reason="More spasms at night"
    )
    row = stored(filled_pump)
    now = timezone.now()
    assert row.anchor_at == now
    assert row.anchor_volume_ml == D("14.00")  # 20 - 0.2 x 30 days
    assert row.daily_volume_ml == D("0.2400")
    assert row.alarm_at == now + 50 * DAY  # (14 - 2) / 0.24
    assert row.alarm_at < before.alarm_at


def test_program_change_keeps_the_concentration(filled_pump, nurse):
    with pytest.raises(ClinicalValidationError) as caught:
        services.drug_program_change(
            pump=filled_pump, by=nurse, program=program_input(400, 1000), reason="Switch"
        )
    assert "concentration_change_without_fill" in {f.code for f in caught.value.findings}


def test_stopping_the_pump_leaves_only_the_stability_limit(filled_pump, physician):
    # A stop is a 100 % fall: a physician's decision (domain.md §7.2 #9).
    stopped = dataclasses.replace(program_input(0, 2000), mode=DosingMode.STOPPED)
    services.drug_program_change(
        pump=filled_pump,
        by=physician,
        program=stopped,
        reason="Suspected overdose",
        override_reason="Physician ordered a stop pending review",
    )
    row = stored(filled_pump)
    assert row.alarm_at is None and row.empty_at is None
    assert row.refill_by_reason == "drug-stability"
    # 180 days from the refill: a program change adds no drug and does not restart the
    # stability clock (it used to count from the change, 30 days late here).
    refill = Refill.objects.get(pump=filled_pump)
    assert row.refill_by == local_day(refill.performed_at) + 180 * DAY
    assert {o.rule for o in Override.objects.all()} == {"dose_stopped", "dose_decrease_over_limit"}


def test_booking_before_refill_by_lowers_the_tier(pump, nurse):
    start_and_fill(pump, nurse, days_ago=70)  # conservative alarm in 8.3 days
    row = stored(pump)
    assert row.risk_tier == 3
    assert reason_codes(row) == ["unbooked-alarm-soon"]
    assert row.next_refill_at is None and row.booked_before_refill_by is False

    when = at_local(timezone.localdate() + 2 * DAY)
    appointment = services.appointment_book(pump=pump, by=nurse, scheduled_start=when)
    row = stored(pump)
    assert row.next_refill_appointment == appointment
    assert row.next_refill_at == when
    assert row.booked_before_refill_by is True
    assert row.risk_tier == 1
    assert reason_codes(row) == ["booked-with-margin"]


def test_cancelling_the_booking_brings_the_tier_back(pump, nurse):
    start_and_fill(pump, nurse, days_ago=70)
    appointment = services.appointment_book(
        pump=pump, by=nurse, scheduled_start=at_local(timezone.localdate() + 2 * DAY)
    )
    with pytest.raises(ValidationError):
        services.appointment_cancel(appointment=appointment, by=nurse, reason="  ")
    services.appointment_cancel(appointment=appointment, by=nurse, reason="Patient in hospital")
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    row = stored(pump)
    assert row.next_refill_at is None
    assert row.booked_before_refill_by is False
    assert row.risk_tier == 3
    assert reason_codes(row) == ["unbooked-alarm-soon"]


def test_rescheduling_moves_the_stored_appointment(pump, nurse):
    start_and_fill(pump, nurse, days_ago=10)
    appointment = services.appointment_book(
        pump=pump, by=nurse, scheduled_start=at_local(timezone.localdate() + 20 * DAY)
    )
    later = at_local(timezone.localdate() + 30 * DAY)
    services.appointment_reschedule(appointment=appointment, by=nurse, scheduled_start=later)
    assert stored(pump).next_refill_at == later


def test_missed_appointment_makes_the_tier_high(pump, nurse, clock):
    start_and_fill(pump, nurse, days_ago=10)
    appointment = services.appointment_book(
        pump=pump, by=nurse, scheduled_start=at_local(timezone.localdate() + DAY)
    )
    assert stored(pump).risk_tier == 1
    clock.shift(3 * DAY)
    assert services.appointment_mark_missed(appointment=appointment) is True
    assert services.appointment_mark_missed(appointment=appointment) is False  # already moved on
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.MISSED
    row = stored(pump)
    assert row.risk_tier == 3
    assert "missed-appointment" in reason_codes(row)
    missed = next(r for r in row.risk_reasons if r["code"] == "missed-appointment")
    assert missed["text"] == "A refill appointment was missed and has not been rebooked"
    assert row.next_refill_at is None


def test_critical_alarm_report_makes_the_tier_critical_until_resolved(pump, nurse):
    start_and_fill(pump, nurse, days_ago=10)
    assert stored(pump).risk_tier == 1
    report = services.pump_report_record(
        pump=pump, by=nurse, kind=ReportKind.CRITICAL_ALARM, details="Two-tone alarm at 3 am"
    )
    row = stored(pump)
    assert row.risk_tier == 4
    assert reason_codes(row)[0] == "critical-alarm"
    with pytest.raises(ValidationError):
        services.pump_report_resolve(report=report, by=nurse, resolution=" ")
    physician = staff(pump.patient.clinic, Role.PHYSICIAN)
    services.pump_report_resolve(
        report=report,
        by=physician,
        resolution="Interrogated: ERI, fine",
        outcome="interrogated",
    )
    report.refresh_from_db()
    assert report.resolved_at == timezone.now()
    assert report.resolution == "Pump interrogated: alarm explained: Interrogated: ERI, fine"
    assert stored(pump).risk_tier == 1


def test_critical_report_needs_an_outcome_a_real_note_and_a_physician_to_explain(pump, nurse):
    # The review's case: a two-tone alarm "resolved" with the note "x" by a nurse.
    start_and_fill(pump, nurse, days_ago=10)
    report = services.pump_report_record(pump=pump, by=nurse, kind=ReportKind.CRITICAL_ALARM)
    with pytest.raises(ValidationError) as caught:
        services.pump_report_resolve(report=report, by=nurse, resolution="x")
    assert set(caught.value.message_dict) == {"outcome", "resolution"}
    with pytest.raises(ValidationError) as caught:
        services.pump_report_resolve(
            report=report, by=nurse, resolution="Alarm was a false alarm", outcome="interrogated"
        )
    assert "Only a physician" in caught.value.message_dict["outcome"][0]
    report.refresh_from_db()
    assert report.resolved_at is None and report.resolution == ""  # nothing saved half way
    assert stored(pump).risk_tier == 4
    services.pump_report_resolve(
        report=report, by=nurse, resolution="Refilled 20 mL in clinic", outcome="refilled"
    )
    assert stored(pump).risk_tier == 1


def test_refill_resolves_low_reservoir_reports(filled_pump, nurse):
    report = services.pump_report_record(
        pump=filled_pump,
        by=nurse,
        kind=ReportKind.LOW_RESERVOIR_ALARM,
        reported_at=timezone.now() - dt.timedelta(hours=3),
    )
    later = services.pump_report_record(
        pump=filled_pump, by=nurse, kind=ReportKind.LOW_RESERVOIR_ALARM
    )
    assert stored(filled_pump).risk_tier == 3
    refill = services.refill_record(pump=filled_pump, by=nurse, data=refill_input(residual="14"))
    report.refresh_from_db()
    assert report.resolved_at == refill.performed_at
    assert report.resolution == "Refilled"
    # A report made after the refill is not answered by it.
    assert list(PumpReport.objects.filter(resolved_at__isnull=True)) == [later]
    services.pump_report_resolve(report=later, by=nurse, resolution="Alarm from before refill")
    assert stored(filled_pump).risk_tier == 1


def test_label_risk_factor_moves_refill_by_and_raises_the_tier(pump, nurse, patient):
    start_and_fill(pump, nurse, days_ago=60)  # conservative alarm in 18.3 days
    row = stored(pump)
    alarm_day = local_day(row.conservative_alarm_at)
    assert row.refill_by == alarm_day - 3 * DAY
    assert row.risk_tier == 2
    assert reason_codes(row) == ["unbooked-alarm-approaching"]

    patient_services.patient_update(patient=patient, sci_t6_or_above=True)
    row = stored(pump)
    assert row.refill_by == alarm_day - 7 * DAY  # margin widens to 7 days
    assert row.risk_tier == 3
    assert reason_codes(row) == ["risk-factor-unbooked"]


def test_other_risk_factor_widens_the_margin_the_tier_expects(pump, nurse, patient):
    patient_services.patient_update(patient=patient, hearing_impairment=True)
    start_and_fill(pump, nurse, days_ago=10)
    row = stored(pump)
    alarm_day = local_day(row.conservative_alarm_at)
    assert row.refill_by == alarm_day - 7 * DAY
    # Booked on the refill-by date: in time, and with the margin the tier asks for.
    services.appointment_book(pump=pump, by=nurse, scheduled_start=at_local(row.refill_by))
    row = stored(pump)
    assert row.booked_before_refill_by is True
    assert row.risk_tier == 1
    assert reason_codes(row) == ["booked-with-margin"]


def test_clinic_margin_applies_to_refill_by_and_tier(pump, physician, clinic):
    clinic.default_refill_margin_days = 5
    clinic.save()
    start_and_fill(pump, physician, days_ago=10)
    row = stored(pump)
    alarm_day = local_day(row.conservative_alarm_at)
    assert row.refill_by == alarm_day - 5 * DAY
    services.appointment_book(
        pump=pump,
        by=physician,
        scheduled_start=at_local(alarm_day - 4 * DAY),
        override_reason="Only clinic day that week",
    )
    # 4 days before the alarm is inside the clinic's 5-day margin, not just after refill-by.
    assert reason_codes(stored(pump)) == [
        "appointment-inside-margin",
        "appointment-after-refill-by",
    ]


def test_planned_replacement_sets_refill_by(pump, nurse):
    start_and_fill(pump, nurse, days_ago=10)
    assert stored(pump).refill_by_reason == "alarm-margin"
    replacement_on = timezone.localdate() + 30 * DAY
    patient_services.pump_update(pump=pump, planned_replacement_on=replacement_on)
    row = stored(pump)
    assert row.refill_by == replacement_on
    assert row.refill_by_reason == "planned-replacement"
    assert row.risk_tier == 2
    assert reason_codes(row) == ["replacement-limit"]


def test_raising_the_alarm_volume_moves_the_alarm_date(pump, nurse):
    refill = start_and_fill(pump, nurse, days_ago=10)
    assert stored(pump).alarm_at == refill.performed_at + 90 * DAY
    patient_services.pump_update(pump=pump, alarm_volume_ml=D("4.0"))
    row = stored(pump)
    assert row.alarm_at == refill.performed_at + 80 * DAY  # (20 - 4) / 0.2
    assert row.conservative_alarm_at == conservative_alarm(refill.performed_at, usable_ml="16")


def test_eri_counts_from_the_clinic_date_not_the_utc_date(pump, nurse, clock):
    start_and_fill(pump, nurse, days_ago=10)
    # 02:00 UTC on 3 June is still 2 June (22:00) in New York.
    clock.move_to(dt.datetime(2025, 6, 3, 2, 0, tzinfo=dt.UTC))
    patient_services.pump_update(pump=pump, eri_on=dt.date(2025, 6, 3))
    assert "eri-no-replacement" not in reason_codes(stored(pump))
    clock.move_to(dt.datetime(2025, 6, 3, 4, 30, tzinfo=dt.UTC))  # 00:30 in New York
    services.forecast_refresh(pump=pump)
    row = stored(pump)
    assert "eri-no-replacement" in reason_codes(row)
    assert row.risk_tier == 3


def test_reassess_due_refreshes_only_rows_whose_moment_has_come(clinic, nurse, clock):
    due, later, explanted = (PumpFactory(patient=PatientFactory(clinic=clinic)) for _ in range(3))
    start_and_fill(due, nurse, days_ago=60)  # HIGH once the alarm is 14 days off: in 4.3 days
    start_and_fill(later, nurse, days_ago=10)  # nothing changes for 47 days
    start_and_fill(explanted, nurse, days_ago=60)
    patient_services._pump_explant(pump=explanted, explanted_on=timezone.localdate())
    assert stored(due).risk_tier == 2
    assert stored(due).reassess_at == stored(due).conservative_alarm_at - 14 * DAY
    # The work-queue point: the refill-by date 21 days away (clinic midnight), which comes
    # before the conservative alarm 21 days away.
    later_refill_by = stored(later).refill_by
    work_queue = dt.datetime.combine(later_refill_by - 21 * DAY, dt.time.min, tzinfo=NY)
    assert stored(later).reassess_at == work_queue.astimezone(dt.UTC)
    computed = {p.pk: stored(p).computed_at for p in (due, later, explanted)}

    assert services.forecast_reassess_due() == 0  # nothing is due yet
    clock.shift(5 * DAY)
    assert services.forecast_reassess_due() == 1
    row = stored(due)
    assert row.computed_at == timezone.now()
    assert row.risk_tier == 3
    assert reason_codes(row) == ["unbooked-alarm-soon"]
    # Next: the refill-by date passes with nothing booked (a new HIGH reason), then the alarm.
    passed = dt.datetime.combine(row.refill_by + DAY, dt.time.min, tzinfo=NY)
    assert row.reassess_at == passed.astimezone(dt.UTC)
    assert stored(later).computed_at == computed[later.pk]
    assert stored(explanted).computed_at == computed[explanted.pk]
    assert services.forecast_reassess_due() == 0  # the refreshed row is not due again


# ------------------------------------------------------------------ booking after refill-by


def late_booking(pump):
    return at_local(stored(pump).refill_by + DAY)


def test_nurse_cannot_book_after_refill_by(filled_pump, nurse):
    for reason in ("", "Only slot the patient can make"):
        with pytest.raises(ClinicalValidationError) as caught:
            services.appointment_book(
                pump=filled_pump,
                by=nurse,
                scheduled_start=late_booking(filled_pump),
                override_reason=reason,
            )
        (message,) = caught.value.message_dict["scheduled_start"]
        assert "This is after the refill-by date" in message
        assert "set by the conservative alarm date minus the margin" in message
    assert Appointment.objects.count() == 0
    assert Override.objects.count() == 0


def test_physician_can_book_after_refill_by_with_a_reason(filled_pump, physician):
    when = late_booking(filled_pump)
    appointment = services.appointment_book(
        pump=filled_pump,
        by=physician,
        scheduled_start=when,
        override_reason="Patient abroad; oral bridge arranged and alarm volume reviewed",
    )
    (override,) = Override.objects.all()
    assert override.rule == "appointment_after_refill_by"
    assert override.appointment == appointment
    assert override.requires_physician is True
    assert override.overridden_by == physician
    row = stored(filled_pump)
    assert row.next_refill_at == when
    assert row.booked_before_refill_by is False
    assert "appointment-after-refill-by" in reason_codes(row)


def test_physician_role_is_per_clinic(filled_pump, clinic):
    # A physician elsewhere who is only a nurse here cannot override here.
    user = staff(ClinicFactory(), Role.PHYSICIAN)
    Membership.objects.create(user=user, clinic=clinic, role=Role.NURSE)
    with pytest.raises(ClinicalValidationError, match="Only a physician can override this"):
        services.appointment_book(
            pump=filled_pump,
            by=user,
            scheduled_start=late_booking(filled_pump),
            override_reason="Reason",
        )


def test_non_refill_appointment_may_be_after_refill_by(filled_pump, nurse):
    appointment = services.appointment_book(
        pump=filled_pump,
        by=nurse,
        kind=AppointmentKind.CHECK,
        scheduled_start=late_booking(filled_pump),
    )
    assert appointment.kind == AppointmentKind.CHECK
    assert stored(filled_pump).next_refill_at is None
