"""The emergency card: what an emergency team needs about the pump and the drug."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from patients.models import Patient
from refills.models import (
    DosingMode,
    DrugProgram,
    Refill,
)
from refills.shown_dates import ShownDates
from refills.validation import fmt

from .clinics import clinic_today
from .patient import active_pump, current_program, pump_dates, stored_forecast

# The label's and the patient monograph's withdrawal signs (domain.md §3.1, §3.3).
WITHDRAWAL_SIGNS = (
    "Itching (often without a rash)",
    "Numbness or tingling of the skin, arms or legs",
    "High fever",
    "Confusion, mood changes or altered mental status",
    "Muscle stiffness or spasticity getting worse (rebound)",
    "Seizures",
    "Low blood pressure or a racing heart",
    "Change in the amount of urine (a sign of kidney problems)",
)


# The label's overdose signs (domain.md §1.5, §3), in plain words.
OVERDOSE_SIGNS = (
    "Drowsiness or sleepiness",
    "Lightheadedness or dizziness",
    "Slow or shallow breathing (respiratory depression)",
    "Seizures",
    "Floppiness (loss of muscle tone) spreading up the body",
    "Loss of consciousness, which can progress to a coma lasting up to 72 hours",
)

# Shown when the pump model's catalogue row has no MRI precautions recorded.
NO_MRI_NOTES = (
    "No MRI precautions are recorded for this pump model: contact the pump team before any MRI."
)


@dataclass(frozen=True)
class EmergencyCard:
    patient_name: str
    date_of_birth: dt.date
    mrn: str
    clinic_name: str
    clinic_phone: str
    after_hours_phone: str
    pump_description: str
    pump_serial: str
    drug: str
    concentration_mcg_per_ml: Decimal | None
    daily_dose_mcg: Decimal | None
    alarm_at: dt.datetime | None
    refill_by: dt.date | None
    next_refill_at: dt.datetime | None
    printed_on: dt.date
    tz: dt.tzinfo
    signs: tuple[str, ...] = WITHDRAWAL_SIGNS
    dose_schedule: str = ""  # flex steps and scheduled boluses, for the emergency team
    # The emergency team confirms the last refill date (domain.md §4.3, §4.4).
    last_refill_at: dt.datetime | None = None
    # The pessimistic alarm date (flow-accuracy allowance), beside the nominal one.
    conservative_alarm_at: dt.datetime | None = None
    pump_stopped: bool = False  # the program in effect delivers nothing
    mri_precautions: str = ""
    overdose_signs: tuple[str, ...] = OVERDOSE_SIGNS
    # Every date flagged for the day the card is printed (issue 8, domain.md §4.3, §7.1 #9):
    # ERI, end of service, "passed" and "the pump stops before this date".
    dates: ShownDates | None = None
    printed_at: dt.datetime | None = None  # so a stale printout is recognisable
    timezone_name: str = ""


def emergency_card(patient: Patient, *, now: dt.datetime | None = None) -> EmergencyCard:
    now = now or timezone.now()
    pump = active_pump(patient)
    program = current_program(pump, at=now) if pump else None
    forecast = stored_forecast(pump) if pump else None
    clinic = patient.clinic
    return EmergencyCard(
        patient_name=patient.full_name,
        date_of_birth=patient.date_of_birth,
        mrn=patient.mrn,
        clinic_name=clinic.name,
        clinic_phone=clinic.phone,
        after_hours_phone=clinic.after_hours_phone,
        pump_description=(
            f"{pump.model.manufacturer} {pump.model.name} {pump.model.model_number}, "
            f"{pump.model.reservoir_capacity_ml.normalize():f} mL"
            if pump
            else "No active pump recorded"
        ),
        pump_serial=pump.serial_number if pump else "",
        drug=(
            f"Intrathecal baclofen ({program.drug_product.name})"
            if program
            else "Intrathecal baclofen"
        ),
        concentration_mcg_per_ml=program.concentration_mcg_per_ml if program else None,
        daily_dose_mcg=program.daily_dose_mcg if program else None,
        alarm_at=forecast.alarm_at if forecast else None,
        refill_by=forecast.refill_by if forecast else None,
        next_refill_at=forecast.next_refill_at if forecast else None,
        printed_on=clinic_today(clinic, now),
        tz=clinic.tz,
        dose_schedule=dose_schedule_text(program) if program else "",
        last_refill_at=(
            Refill.objects.filter(pump=pump)
            .order_by("-performed_at")
            .values_list("performed_at", flat=True)
            .first()
            if pump
            else None
        ),
        conservative_alarm_at=forecast.conservative_alarm_at if forecast else None,
        pump_stopped=bool(
            program and (program.mode == DosingMode.STOPPED or not program.daily_dose_mcg)
        ),
        mri_precautions=(pump.model.mri_notes.strip() or NO_MRI_NOTES) if pump else "",
        dates=pump_dates(pump, forecast, now=now) if pump else None,
        printed_at=now,
        timezone_name=clinic.timezone,
    )


def dose_schedule_text(program: DrugProgram) -> str:
    """How the daily dose is given, when it is more than one steady rate."""
    parts = []
    if program.mode == DosingMode.FLEX:
        parts += [
            f"{step.starts_at:%H:%M} for {fmt(step.hours)} h at {fmt(step.rate_mcg_per_hour)} mcg/h"
            for step in program.flex_steps.all()
        ]
    if program.boluses_per_day:
        parts.append(f"{program.boluses_per_day} × {fmt(program.bolus_dose_mcg)} mcg boluses a day")
    if program.ptm_expected_daily_mcg:
        parts.append(
            f"about {fmt(program.ptm_expected_daily_mcg)} mcg a day by patient-activated bolus"
        )
    return "; ".join(parts)
