"""Writes for drug programs: a dose change between refills and a new pump's first program.

Each ends by calling `forecast_refresh` in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_UP, Decimal

from django.db import transaction
from django.utils import timezone

from patients.models import Pump
from refills import validation as v
from refills.models import DosingMode, DrugProduct, DrugProgram, FlexStep
from refills.policy import dose_change_limits, policy_value
from refills.selectors import catalogue_strengths, program_in_effect, programs_in_window
from refills.services.common import (
    _enforce,
    _pump_active_findings,
    _record_overrides,
    _second_person_findings,
)
from refills.services.forecast import forecast_refresh

DOSE_STEP = Decimal("0.1")  # DrugProgram stores daily doses to 0.1 mcg/day


@dataclass
class ProgramInput:
    """What a clinician enters for a drug program, before it is validated."""

    drug_product: DrugProduct
    concentration_mcg_per_ml: Decimal
    mode: str = DosingMode.SIMPLE
    basal_daily_dose_mcg: Decimal | None = None
    flex_steps: list[tuple[dt.time, Decimal, Decimal]] = field(default_factory=list)
    bolus_dose_mcg: Decimal = Decimal(0)
    boluses_per_day: int = 0
    ptm_expected_daily_mcg: Decimal = Decimal(0)
    custom_concentration_reason: str = ""
    second_clinician: object | None = None

    @property
    def basal_mcg(self) -> Decimal | None:
        if self.mode == DosingMode.FLEX and self.flex_steps:
            total = sum((rate * hours for _, hours, rate in self.flex_steps), Decimal(0))
            # Kept to 0.1 mcg/day like a simple dose (12.5 mcg/h x 1.5 h is 18.75); rounded
            # up, so the forecast never assumes less drug leaves the reservoir than programmed.
            return total.quantize(DOSE_STEP, rounding=ROUND_UP)
        if self.mode == DosingMode.STOPPED:
            return self.basal_daily_dose_mcg or Decimal(0)
        return self.basal_daily_dose_mcg

    @property
    def daily_dose_mcg(self) -> Decimal | None:
        basal = self.basal_mcg
        if basal is None:
            return None
        return basal + self.bolus_dose_mcg * self.boluses_per_day + self.ptm_expected_daily_mcg


def program_findings(
    *, pump: Pump, program: ProgramInput, at: dt.datetime, by=None
) -> list[v.Finding]:
    patient = pump.patient
    age = patient.age_on(at.date())
    findings: list[v.Finding] = []
    findings += v.check_concentration(
        program.concentration_mcg_per_ml,
        catalogue_strengths=catalogue_strengths(),
        is_custom_dilution=program.drug_product.is_custom_dilution,
        custom_reason=program.custom_concentration_reason,
        has_second_clinician=program.second_clinician is not None
        and program.second_clinician != by,
    )
    if program.mode == DosingMode.FLEX:
        steps = program.flex_steps
        findings += v.check_flex_steps([(rate, hours) for _, hours, rate in steps])
        findings += v.check_flex_schedule([(start, hours) for start, hours, _ in steps])
    findings += v.check_daily_dose(
        program.basal_mcg,
        mode=program.mode,
        origin=patient.spasticity_origin,
        age_years=age,
    )
    if program.basal_mcg is not None:
        findings += v.check_boluses(
            bolus_mcg=program.bolus_dose_mcg,
            per_day=program.boluses_per_day,
            basal_daily_mcg=program.basal_mcg,
            max_share_of_basal=Decimal(policy_value("BOLUS_SHARE_WARNING")),
        )
    if program.daily_dose_mcg is not None:
        # Against every dose in effect in the window, not only the program just before,
        # so a change split into small saves needs what the whole change needs.
        window_hours = Decimal(policy_value("DOSE_CHANGE_WINDOW_HOURS"))
        programs = programs_in_window(
            pump=pump, start=at - dt.timedelta(hours=float(window_hours)), end=at
        )
        findings += v.check_dose_change_in_window(
            earlier=[
                v.DoseInEffect(
                    mcg=row.daily_dose_mcg,
                    since=row.effective_from,
                    until=later.effective_from if later is not None else at,
                )
                for row, later in zip(programs, [*programs[1:], None], strict=False)
            ],
            new_mcg=program.daily_dose_mcg,
            at=at,
            window_hours=window_hours,
            origin=patient.spasticity_origin,
            pediatric=age < v.PEDIATRIC_AGE_YEARS,
            limits=dose_change_limits(),
        )
    findings += v.check_age_and_indication(
        age_years=age, pump_min_age=pump.model.minimum_age_years, pump_name=pump.model.name
    )
    findings += _second_person_findings(
        person=program.second_clinician,
        field="second_clinician",
        clinic=patient.clinic,
        by=by,
        what="second clinician",
    )
    return findings


def _program_create(
    *, pump: Pump, program: ProgramInput, at: dt.datetime, by, reason: str
) -> DrugProgram:
    row = DrugProgram(
        pump=pump,
        effective_from=at,
        drug_product=program.drug_product,
        concentration_mcg_per_ml=program.concentration_mcg_per_ml,
        mode=program.mode,
        basal_daily_dose_mcg=program.basal_mcg,
        bolus_dose_mcg=program.bolus_dose_mcg,
        boluses_per_day=program.boluses_per_day,
        ptm_expected_daily_mcg=program.ptm_expected_daily_mcg,
        daily_dose_mcg=program.daily_dose_mcg,
        reason_for_change=reason,
        custom_concentration_reason=program.custom_concentration_reason,
        second_clinician=program.second_clinician,
        created_by=by,
    )
    row.full_clean()
    row.save()
    for starts_at, hours, rate in program.flex_steps if program.mode == DosingMode.FLEX else []:
        FlexStep.objects.create(
            program=row, starts_at=starts_at, hours=hours, rate_mcg_per_hour=rate
        )
    return row


def drug_program_change(
    *,
    pump: Pump,
    by,
    program: ProgramInput,
    reason: str,
    effective_from: dt.datetime | None = None,
    override_reason: str = "",
) -> DrugProgram:
    """Reprogram the dose between refills. The concentration cannot change without a fill."""
    at = effective_from or timezone.now()
    findings = _pump_active_findings(pump)
    findings += program_findings(pump=pump, program=program, at=at, by=by)
    previous = program_in_effect(pump=pump, at=at)
    if previous and previous.concentration_mcg_per_ml != program.concentration_mcg_per_ml:
        findings.append(
            v.Finding(
                "concentration_change_without_fill",
                "concentration_mcg_per_ml",
                "The concentration in the reservoir only changes at a refill. "
                "Record a refill to change it.",
                v.Severity.ERROR,
            )
        )
    if not reason.strip():
        findings.append(
            v.Finding(
                "reason_missing", "reason", "Give the reason for the change.", v.Severity.ERROR
            )
        )
    with transaction.atomic():
        overridden = _enforce(
            findings, by=by, clinic=pump.patient.clinic, override_reason=override_reason
        )
        row = _program_create(pump=pump, program=program, at=at, by=by, reason=reason)
        _record_overrides(overridden, by=by, reason=override_reason, pump=pump, program=row)
        forecast_refresh(pump=pump)
    return row


def program_start(
    *, pump: Pump, by, program: ProgramInput, effective_from: dt.datetime, reason: str = ""
) -> DrugProgram:
    """The first program of a new pump (used by imports and the demo data)."""
    findings = _pump_active_findings(pump)
    findings += program_findings(pump=pump, program=program, at=effective_from, by=by)
    with transaction.atomic():
        overridden = _enforce(findings, by=by, clinic=pump.patient.clinic, override_reason=reason)
        row = _program_create(
            pump=pump, program=program, at=effective_from, by=by, reason=reason or "Initial"
        )
        # The reason given for a starting program is the override reason: keep who and why.
        _record_overrides(overridden, by=by, reason=reason, pump=pump, program=row)
        forecast_refresh(pump=pump)
    return row
