"""Writes for drug programs, refills, appointments and pump reports.

Every write that can move a forecast ends by calling `forecast_refresh`, in
the same transaction, so the stored forecast never lags the clinical record.
Validation findings (refills/validation.py) are gathered first; nothing is
written unless every ERROR is fixed and every warning carries an override
reason from someone allowed to give it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_UP, Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Role
from patients.models import Patient, Pump, PumpStatus
from refills import signals
from refills import validation as v
from refills.forecast import (
    Direction,
    Fill,
    Forecast,
    PostFillCheck,
    Reconciliation,
    current_segment,
    discrepancy_trend,
    forecast,
    post_fill_check,
    reconcile,
)
from refills.models import EXPLAINED_DISCREPANCY_ACTIONS as MODEL_EXPLAINED_ACTIONS
from refills.models import (
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    DiscrepancyAction,
    DosingMode,
    DrugProduct,
    DrugProgram,
    FlexStep,
    Override,
    PumpForecast,
    PumpReport,
    Refill,
    RefillByReason,
    ReportKind,
)
from refills.policy import dose_change_limits, flow_accuracy_for, policy_value, risk_policy
from refills.risk import RiskInputs, RiskPolicy, assess
from refills.scheduling import ClinicHours, earliest_slot, latest_day_without_override
from refills.selectors import (
    current_fill,
    latest_refill,
    next_refill_appointment,
    outstanding_discrepancy,
    program_in_effect,
    programs_in_window,
    replacement_dates,
)

# Actions that say the discrepancy has been explained, so it no longer raises the tier;
# each needs its evidence (Refill.discrepancy_explained). "Observe" is not one of them.
EXPLAINED_DISCREPANCY_ACTIONS = MODEL_EXPLAINED_ACTIONS


class ClinicalValidationError(ValidationError):
    """Raised with every finding that stops a save, grouped by form field."""

    def __init__(self, findings: Sequence[v.Finding]):
        self.findings = list(findings)
        by_field: dict[str, list[str]] = {}
        for finding in self.findings:
            by_field.setdefault(finding.field or "__all__", []).append(finding.message)
        super().__init__(by_field)


def _catalogue_strengths() -> list[Decimal]:
    return list(
        DrugProduct.objects.filter(is_active=True, is_custom_dilution=False).values_list(
            "concentration_mcg_per_ml", flat=True
        )
    )


def _enforce(findings: Sequence[v.Finding], *, by, clinic, override_reason: str) -> list[v.Finding]:
    """Raise unless the findings may be saved; return the warnings being overridden."""
    blocking = [f for f in findings if f.blocks]
    overridable = [f for f in findings if f.needs_override]
    if overridable and not override_reason.strip():
        blocking += [
            v.Finding(
                f.code,
                f.field,
                f"{f.message} To proceed, give an override reason.",
                f.severity,
            )
            for f in overridable
        ]
    elif any(f.severity == v.Severity.PHYSICIAN for f in overridable) and not by.has_role(
        clinic, Role.PHYSICIAN
    ):
        blocking += [
            v.Finding(
                f.code,
                f.field,
                f"{f.message} Only a physician can override this.",
                f.severity,
            )
            for f in overridable
            if f.severity == v.Severity.PHYSICIAN
        ]
    if blocking:
        raise ClinicalValidationError(blocking)
    return overridable


def _pump_active_findings(pump: Pump) -> list[v.Finding]:
    if pump.status == PumpStatus.ACTIVE:
        return []
    return [
        v.Finding(
            "pump_not_active",
            None,
            "This pump is explanted. Record the change on the patient's active pump.",
            v.Severity.ERROR,
        )
    ]


def _record_overrides(findings, *, by, reason: str, pump: Pump, **target) -> None:
    for finding in findings:
        Override.objects.create(
            rule=finding.code,
            message=finding.message,
            reason=reason.strip(),
            requires_physician=finding.severity == v.Severity.PHYSICIAN,
            overridden_by=by,
            pump=pump,
            **target,
        )


# --------------------------------------------------------------------------- programs


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


# Roles that may be the second clinician on a custom strength or the second checker of a
# refill: the people at this clinic who handle the drug.
SECOND_PERSON_ROLES = (Role.NURSE, Role.PHYSICIAN)


def _second_person_findings(*, person, field: str, clinic, by, what: str) -> list[v.Finding]:
    """The second person must be someone else with a clinical role at THIS clinic.

    The form offers only such people, but the service is the gate: a tampered post (or a
    future API) must not name a user of another clinic, a scheduler or the author.
    """
    if person is None:
        return []
    if not person.is_active or not person.has_role(clinic, *SECOND_PERSON_ROLES):
        return [
            v.Finding(
                f"{field}_not_at_clinic",
                field,
                f"The {what} must be a nurse or physician of this clinic.",
                v.Severity.ERROR,
            )
        ]
    if by is not None and person.pk == by.pk:
        return [
            v.Finding(
                f"{field}_is_author",
                field,
                f"The {what} must be someone other than you.",
                v.Severity.ERROR,
            )
        ]
    return []


def program_findings(
    *, pump: Pump, program: ProgramInput, at: dt.datetime, by=None
) -> list[v.Finding]:
    patient = pump.patient
    age = patient.age_on(at.date())
    findings: list[v.Finding] = []
    findings += v.check_concentration(
        program.concentration_mcg_per_ml,
        catalogue_strengths=_catalogue_strengths(),
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


# --------------------------------------------------------------------------- refills


@dataclass
class RefillInput:
    performed_at: dt.datetime
    actual_residual_ml: Decimal
    volume_added_ml: Decimal
    resulting_volume_ml: Decimal
    drug_product: DrugProduct
    concentration_mcg_per_ml: Decimal
    lot_number: str
    needle_placement: str
    needle_placement_confirmed: bool
    residual_left_ml: Decimal = Decimal(0)
    lot_expiry: dt.date | None = None
    programmer_expected_residual_ml: Decimal | None = None
    residual_appearance: str = ""
    bridge_bolus_mcg: Decimal | None = None
    bridge_bolus_ml: Decimal | None = None
    bridge_not_needed_reason: str = ""
    printed_alarm_date: dt.date | None = None
    # Sensor pumps only: the reservoir volume the pump measured after the fill.
    measured_volume_after_fill_ml: Decimal | None = None
    discrepancy_assessment: str = ""
    discrepancy_action: str = ""
    # Evidence for an explained discrepancy: the residual measured a second time (entry
    # error), or what the work-up found (cause found).
    remeasured_residual_ml: Decimal | None = None
    discrepancy_cause: str = ""
    symptom_screen_done: bool = False
    notes: str = ""
    second_checker: object | None = None
    # A new program at this refill (dose change); None keeps the dose in effect.
    new_program: ProgramInput | None = None
    program_change_reason: str = ""


@dataclass
class RefillPreview:
    """Everything the refill form shows while the nurse types."""

    findings: list[v.Finding]
    reconciliation: Reconciliation | None
    forecast: Forecast | None
    previous_fill: Fill | None
    new_fill: Fill | None
    daily_dose_mcg: Decimal | None
    # A second same-direction discrepancy in a row (domain §7.1 #7), and its direction.
    trend: Direction | None = None
    previous_discrepancy_ml: Decimal | None = None
    # The sensor pump's post-fill reading compared with what was put in (§7.1 #8).
    post_fill: PostFillCheck | None = None

    @property
    def errors(self) -> list[v.Finding]:
        return [f for f in self.findings if f.blocks]

    @property
    def warnings(self) -> list[v.Finding]:
        return [f for f in self.findings if f.needs_override]


def _discrepancy_explanation_findings(
    *, previous_fill: Fill, at, data: RefillInput, residual_left: Decimal, flagged: bool
) -> list[v.Finding]:
    """An action that explains a discrepancy needs its evidence (domain §8, issue 8 #4).

    "Entry error" needs the residual measured a second time, and that measurement
    must reconcile within tolerance: otherwise the first reading was not the error.
    "Work-up found the cause" needs the finding.
    """
    findings: list[v.Finding] = []
    action = data.discrepancy_action
    remeasured = data.remeasured_residual_ml
    if remeasured is not None and remeasured < 0:
        findings.append(
            v.Finding(
                "remeasured_residual_negative",
                "remeasured_residual_ml",
                "The second measurement of the residual cannot be negative.",
                v.Severity.ERROR,
            )
        )
        return findings
    if action == DiscrepancyAction.ENTRY_ERROR:
        if remeasured is None:
            findings.append(
                v.Finding(
                    "entry_error_unconfirmed",
                    "remeasured_residual_ml",
                    "An entry error is confirmed by a second measurement: measure the "
                    "residual again and enter it, or choose another action.",
                    v.Severity.ERROR,
                )
            )
        elif flagged:
            second = reconcile(
                previous_fill,
                at,
                remeasured + residual_left,
                abs_threshold_ml=policy_value("DISCREPANCY_ML"),
                rel_threshold=policy_value("DISCREPANCY_RELATIVE"),
            )
            if second.flagged:
                findings.append(
                    v.Finding(
                        "entry_error_not_confirmed",
                        "remeasured_residual_ml",
                        "The second measurement is still outside tolerance "
                        f"({second.discrepancy_ml:+.1f} mL from the expected residual), so "
                        "this is not an entry error. Choose a work-up, imaging or notify the "
                        "physician.",
                        v.Severity.ERROR,
                    )
                )
    if action == DiscrepancyAction.CAUSE_FOUND and not data.discrepancy_cause.strip():
        findings.append(
            v.Finding(
                "discrepancy_cause_missing",
                "discrepancy_cause",
                "Write what the work-up found, or choose another action.",
                v.Severity.ERROR,
            )
        )
    return findings


def _discrepancy_as_confirmed_ml(refill: Refill | None) -> Decimal | None:
    """The refill's discrepancy as the trend should count it.

    A confirmed entry error was re-measured, and the second reading is the true residual:
    counting the first, mistyped reading would make (or hide) a trend that is not there.
    The refill itself keeps what was typed.
    """
    if refill is None or refill.discrepancy_ml is None:
        return None
    if (
        refill.discrepancy_action == DiscrepancyAction.ENTRY_ERROR
        and refill.remeasured_residual_ml is not None
        and refill.expected_residual_ml is not None
    ):
        in_pump_ml = refill.remeasured_residual_ml + (refill.residual_left_ml or Decimal(0))
        return in_pump_ml - refill.expected_residual_ml
    return refill.discrepancy_ml


def refill_preview(*, pump: Pump, data: RefillInput, by=None) -> RefillPreview:
    """Validate a refill and compute what it would do, without writing anything."""
    now = timezone.now()
    findings: list[v.Finding] = []
    findings += v.check_performed_at(data.performed_at, now=now)
    findings += _second_person_findings(
        person=data.second_checker,
        field="second_checker",
        clinic=pump.patient.clinic,
        by=by,
        what="second checker",
    )
    findings += v.check_needle_placement(data.needle_placement_confirmed, data.needle_placement)
    findings += v.check_refill_volumes(
        capacity_ml=pump.model.reservoir_capacity_ml,
        actual_residual_ml=data.actual_residual_ml,
        residual_left_ml=data.residual_left_ml,
        volume_added_ml=data.volume_added_ml,
        resulting_volume_ml=data.resulting_volume_ml,
    )
    findings += _pump_active_findings(pump)
    at = data.performed_at or now
    findings += v.check_lot(
        lot_number=data.lot_number,
        lot_expiry=data.lot_expiry,
        refill_day=timezone.localtime(at, pump.patient.clinic.tz).date(),
    )
    previous_program = program_in_effect(pump=pump, at=at)
    new_program = data.new_program
    if new_program is None and previous_program is not None:
        # Same dose; the concentration may still change at a refill.
        new_program = _copy_program(previous_program, data)
    if new_program is None:
        findings.append(
            v.Finding(
                "program_missing",
                "basal_daily_dose_mcg",
                "This pump has no drug program yet. Enter the daily dose.",
                v.Severity.ERROR,
            )
        )
    else:
        new_program.concentration_mcg_per_ml = data.concentration_mcg_per_ml
        new_program.drug_product = data.drug_product
        if data.new_program is None and previous_program is not None:
            # Unchanged dose: only the concentration needs checking again.
            findings += v.check_concentration(
                data.concentration_mcg_per_ml,
                catalogue_strengths=_catalogue_strengths(),
                is_custom_dilution=data.drug_product.is_custom_dilution,
                custom_reason=new_program.custom_concentration_reason,
                # Copied from the program in effect (same strength only; see _copy_program),
                # where its creator and second clinician were already two people.
                has_second_clinician=new_program.second_clinician is not None,
            )
        else:
            findings += program_findings(pump=pump, program=new_program, at=at, by=by)
    # A concentration that is itself wrong (e.g. mg/mL typed as mcg/mL) is the one thing
    # to fix; asking for a bridge bolus to that impossible strength would only mislead.
    concentration_wrong = any(f.blocks and f.code.startswith("concentration_") for f in findings)
    if not concentration_wrong:
        findings += v.check_bridge_bolus(
            old_concentration=(
                previous_program.concentration_mcg_per_ml if previous_program else None
            ),
            new_concentration=data.concentration_mcg_per_ml,
            bridge_mcg=data.bridge_bolus_mcg,
            bridge_ml=data.bridge_bolus_ml,
            not_needed_reason=data.bridge_not_needed_reason,
        )

    previous_fill, _ = current_fill(pump=pump, at=at)
    reconciliation = trend = previous_discrepancy_ml = None
    residual_left = data.residual_left_ml or Decimal(0)
    if (
        previous_fill is not None
        and data.actual_residual_ml is not None
        and data.actual_residual_ml >= 0
        and residual_left >= 0
    ):
        # What was in the pump is what was aspirated plus anything left behind.
        reconciliation = reconcile(
            previous_fill,
            at,
            data.actual_residual_ml + residual_left,
            abs_threshold_ml=policy_value("DISCREPANCY_ML"),
            rel_threshold=policy_value("DISCREPANCY_RELATIVE"),
        )
        last_refill = latest_refill(pump=pump, before=at)
        previous_discrepancy_ml = _discrepancy_as_confirmed_ml(last_refill)
        trend = discrepancy_trend(
            reconciliation.discrepancy_ml,
            previous_discrepancy_ml,
            threshold_ml=policy_value("DISCREPANCY_TREND_ML"),
        )
        message = reconciliation.message
        if trend is not None:
            message += " " + _trend_message(
                reconciliation.discrepancy_ml, previous_discrepancy_ml, trend
            )
        findings += v.check_discrepancy_assessment(
            flagged=reconciliation.flagged or trend is not None,
            message=message,
            assessment=data.discrepancy_assessment,
            action=data.discrepancy_action,
        )
        findings += _discrepancy_explanation_findings(
            previous_fill=previous_fill,
            at=at,
            data=data,
            residual_left=residual_left,
            flagged=reconciliation.flagged,
        )

    post_fill = None
    measured = data.measured_volume_after_fill_ml
    if (
        measured is not None
        and pump.model.has_volume_sensor
        and 0 <= measured <= pump.model.reservoir_capacity_ml
        and data.resulting_volume_ml is not None
    ):
        post_fill = post_fill_check(
            capacity_ml=pump.model.reservoir_capacity_ml,
            programmed_ml=data.resulting_volume_ml,
            measured_ml=measured,
            small_limit_ml=policy_value("POCKET_FILL_SMALL_ML"),
            large_limit_ml=policy_value("POCKET_FILL_LARGE_ML"),
        )
    findings += v.check_post_fill_volume(
        has_sensor=pump.model.has_volume_sensor,
        capacity_ml=pump.model.reservoir_capacity_ml,
        measured_ml=measured,
        check=post_fill,
    )

    new_fill = projection = None
    dose = new_program.daily_dose_mcg if new_program else None
    # Only project numbers the maths accepts; the findings already name the bad ones.
    can_project = (
        dose is not None
        and dose >= 0
        and (data.bridge_bolus_ml is None or data.bridge_bolus_ml >= 0)
        and data.concentration_mcg_per_ml is not None
        and data.concentration_mcg_per_ml >= v.MIN_CONCENTRATION
        and data.resulting_volume_ml
        and data.resulting_volume_ml > 0
        and data.performed_at is not None
    )
    if can_project:
        new_fill = Fill(
            filled_at=data.performed_at.astimezone(pump.patient.clinic.tz),
            volume_ml=_volume_in_reservoir(data, post_fill),
            concentration_mcg_per_ml=data.concentration_mcg_per_ml,
            daily_dose_mcg=dose,
            alarm_volume_ml=pump.alarm_volume_ml,
            oneoff_ml=data.bridge_bolus_ml or Decimal(0),
            empty_volume_ml=pump.model.empty_volume_ml,
        )
        projection = _project(pump, new_fill)
        findings += v.check_days_to_alarm(
            projection.days_to_alarm, short_days=policy_value("SHORT_INTERVAL_WARNING_DAYS")
        )
        if projection.alarm_at is not None:
            findings += v.check_printed_alarm(
                printed=data.printed_alarm_date,
                computed=timezone.localtime(projection.alarm_at, pump.patient.clinic.tz).date(),
                tolerance_days=policy_value("PRINTED_ALARM_TOLERANCE_DAYS"),
            )
    return RefillPreview(
        findings=findings,
        reconciliation=reconciliation,
        forecast=projection,
        previous_fill=previous_fill,
        new_fill=new_fill,
        daily_dose_mcg=dose,
        trend=trend,
        previous_discrepancy_ml=previous_discrepancy_ml,
        post_fill=post_fill,
    )


def _trend_message(current_ml: Decimal, previous_ml: Decimal, direction: Direction) -> str:
    side = "more" if direction == Direction.UNDER_DELIVERY else "less"
    return (
        f"This is the second refill in a row with {side} left than expected "
        f"({abs(current_ml):.1f} mL now, {abs(previous_ml):.1f} mL last time): "
        f"a trend towards {direction.value}."
    )


def _volume_in_reservoir(data: RefillInput, post_fill: PostFillCheck | None) -> Decimal:
    """The volume the forecast starts from: the programmed one, unless a sensor pump
    measured clearly less (a possible pocket fill), when the lower reading is the
    safer assumption: the reservoir runs out sooner."""
    if post_fill is not None and post_fill.suspected:
        return data.measured_volume_after_fill_ml
    return data.resulting_volume_ml


def refill_record(
    *,
    pump: Pump,
    by,
    data: RefillInput,
    appointment: Appointment | None = None,
    override_reason: str = "",
) -> Refill:
    """Record a refill, its program, overrides and the appointment it completes."""
    with transaction.atomic():
        # Lock the pump row so two nurses saving at once cannot interleave forecasts.
        pump = (
            Pump.objects.select_for_update()
            .select_related("model", "patient__clinic")
            .get(pk=pump.pk)
        )
        preview = refill_preview(pump=pump, data=data, by=by)
        findings = list(preview.findings)
        if appointment is not None and appointment.pump_id != pump.pk:
            findings.append(
                v.Finding(
                    "appointment_other_pump",
                    None,
                    "This appointment belongs to another pump. Choose the patient's appointment.",
                    v.Severity.ERROR,
                )
            )
        overridden = _enforce(
            findings, by=by, clinic=pump.patient.clinic, override_reason=override_reason
        )
        last_before = latest_refill(pump=pump, before=data.performed_at)
        previous_program = program_in_effect(pump=pump, at=data.performed_at)
        program = previous_program
        dose_changed = data.new_program is not None
        concentration_changed = (
            previous_program is None
            or previous_program.concentration_mcg_per_ml != data.concentration_mcg_per_ml
            or previous_program.drug_product_id != data.drug_product.pk
        )
        if dose_changed or concentration_changed:
            program_input = data.new_program or _copy_program(previous_program, data)
            program = _program_create(
                pump=pump,
                program=program_input,
                at=data.performed_at,
                by=by,
                reason=data.program_change_reason or "Changed at refill",
            )
        rec = preview.reconciliation
        # The refill-by date that was in force, kept for the late-refill reports.
        due_by = PumpForecast.objects.filter(pump=pump).values_list("refill_by", flat=True).first()
        refill = Refill(
            pump=pump,
            performed_at=data.performed_at,
            performed_by=by,
            second_checker=data.second_checker,
            expected_residual_ml=rec.expected_ml.quantize(Decimal("0.01")) if rec else None,
            programmer_expected_residual_ml=data.programmer_expected_residual_ml,
            actual_residual_ml=data.actual_residual_ml,
            residual_left_ml=data.residual_left_ml,
            residual_appearance=data.residual_appearance,
            volume_added_ml=data.volume_added_ml,
            resulting_volume_ml=data.resulting_volume_ml,
            drug_product=data.drug_product,
            concentration_mcg_per_ml=data.concentration_mcg_per_ml,
            lot_number=data.lot_number,
            lot_expiry=data.lot_expiry,
            bridge_bolus_mcg=data.bridge_bolus_mcg,
            bridge_bolus_ml=data.bridge_bolus_ml,
            bridge_not_needed_reason=data.bridge_not_needed_reason,
            needle_placement=data.needle_placement,
            needle_placement_confirmed=data.needle_placement_confirmed,
            program=program,
            alarm_volume_ml=pump.alarm_volume_ml,
            printed_alarm_date=data.printed_alarm_date,
            discrepancy_ml=rec.discrepancy_ml.quantize(Decimal("0.01")) if rec else None,
            discrepancy_relative=(
                rec.relative_error.quantize(Decimal("0.0001"))
                if rec and rec.relative_error is not None
                else None
            ),
            discrepancy_flagged=bool(rec and rec.flagged),
            discrepancy_trend_flagged=preview.trend is not None,
            measured_volume_after_fill_ml=data.measured_volume_after_fill_ml,
            pocket_fill_suspected=bool(preview.post_fill and preview.post_fill.suspected),
            due_by=due_by,
            performed_on_time=(
                None
                if due_by is None
                else timezone.localtime(data.performed_at, pump.patient.clinic.tz).date() <= due_by
            ),
            discrepancy_assessment=data.discrepancy_assessment,
            discrepancy_action=data.discrepancy_action,
            remeasured_residual_ml=data.remeasured_residual_ml,
            discrepancy_cause=data.discrepancy_cause.strip(),
            symptom_screen_done=data.symptom_screen_done,
            notes=data.notes,
        )
        refill.full_clean()
        refill.save()
        _record_overrides(overridden, by=by, reason=override_reason, pump=pump, refill=refill)
        if appointment is None:
            candidates = Appointment.objects.filter(
                pump=pump,
                kind=AppointmentKind.REFILL,
                status__in=[AppointmentStatus.SCHEDULED, AppointmentStatus.MISSED],
                scheduled_start__date__lte=data.performed_at.date() + dt.timedelta(days=1),
            )
            if last_before is not None:
                # A missed visit before the previous refill was answered by that refill.
                candidates = candidates.filter(scheduled_start__gt=last_before.performed_at)
            appointment = candidates.order_by("-scheduled_start").first()
        if appointment is not None and appointment.status != AppointmentStatus.COMPLETED:
            appointment.status = AppointmentStatus.COMPLETED
            appointment.completed_refill = refill
            appointment.status_changed_at = timezone.now()
            appointment.save(update_fields=["status", "completed_refill", "status_changed_at"])
        # A refill answers the reports that were about the reservoir running low.
        # Saved one by one (there are few) so each change lands in the audit trail.
        for report in PumpReport.objects.filter(
            pump=pump,
            resolved_at__isnull=True,
            kind=ReportKind.LOW_RESERVOIR_ALARM,
            reported_at__lte=data.performed_at,
        ):
            report.resolved_at = data.performed_at
            report.resolution = "Refilled"
            report.save(update_fields=["resolved_at", "resolution"])
        forecast_refresh(pump=pump)
    return refill


def _copy_program(previous: DrugProgram | None, data: RefillInput) -> ProgramInput:
    if previous is None:
        raise ClinicalValidationError(
            [
                v.Finding(
                    "program_missing",
                    "basal_daily_dose_mcg",
                    "This pump has no drug program yet. Enter the daily dose.",
                    v.Severity.ERROR,
                )
            ]
        )
    # A custom strength's reason and second check belong to that strength only; a new
    # strength at this refill needs its own.
    same_strength = previous.concentration_mcg_per_ml == data.concentration_mcg_per_ml
    return ProgramInput(
        drug_product=data.drug_product,
        concentration_mcg_per_ml=data.concentration_mcg_per_ml,
        mode=previous.mode,
        basal_daily_dose_mcg=previous.basal_daily_dose_mcg,
        flex_steps=[(s.starts_at, s.hours, s.rate_mcg_per_hour) for s in previous.flex_steps.all()],
        bolus_dose_mcg=previous.bolus_dose_mcg,
        boluses_per_day=previous.boluses_per_day,
        ptm_expected_daily_mcg=previous.ptm_expected_daily_mcg,
        custom_concentration_reason=previous.custom_concentration_reason if same_strength else "",
        second_clinician=previous.second_clinician if same_strength else None,
    )


# --------------------------------------------------------------------------- appointments


def appointment_findings(
    *, pump: Pump, kind: str, scheduled_start: dt.datetime, now: dt.datetime
) -> list[v.Finding]:
    findings = []
    if scheduled_start < now - dt.timedelta(minutes=5):
        findings.append(
            v.Finding(
                "appointment_in_past",
                "scheduled_start",
                "The appointment time is in the past.",
                v.Severity.ERROR,
            )
        )
    if pump.status != PumpStatus.ACTIVE:
        findings.append(
            v.Finding("pump_not_active", None, "This pump is explanted.", v.Severity.ERROR)
        )
    stored = PumpForecast.objects.filter(pump=pump).first()
    if kind == AppointmentKind.REFILL and stored and stored.refill_by:
        clinic = pump.patient.clinic
        local_day = timezone.localtime(scheduled_start, clinic.tz).date()
        # Never stand between the patient and the soonest visit: when the clinic cannot
        # offer a slot by the refill-by date (it has passed, or the clinic is shut until
        # after it), its earliest slot, and the next working day, need no override.
        hours = ClinicHours.of(clinic)
        limit = latest_day_without_override(
            refill_by=stored.refill_by,
            now=now,
            zone=clinic.tz,
            hours=hours,
            grace_working_days=policy_value("BOOKING_GRACE_WORKING_DAYS"),
        )
        if local_day > limit:
            findings.append(
                v.Finding(
                    "appointment_after_refill_by",
                    "scheduled_start",
                    _after_refill_by_message(stored, limit, now=now, clinic=clinic, hours=hours),
                    v.Severity.PHYSICIAN,
                )
            )
    return findings


def _after_refill_by_message(stored: PumpForecast, limit: dt.date, *, now, clinic, hours) -> str:
    set_by = f"set by the {stored.get_refill_by_reason_display().lower()}"
    if limit == stored.refill_by:
        return (
            f"This is after the refill-by date ({stored.refill_by:%a %d %b %Y}, {set_by}). "
            "The patient could run low before it. Choose an earlier date, or a physician "
            "must override."
        )
    soonest = earliest_slot(now=now, zone=clinic.tz, hours=hours)
    return (
        f"The refill-by date ({stored.refill_by:%a %d %b %Y}, {set_by}) has passed or comes "
        f"before the clinic's next opening. Book the soonest visit: any day up to "
        f"{limit:%a %d %b %Y} needs no override (the earliest slot is "
        f"{soonest:%a %d %b %Y %H:%M}). A later date needs a physician's override."
    )


def appointment_book(
    *,
    pump: Pump,
    by,
    scheduled_start: dt.datetime,
    kind: str = AppointmentKind.REFILL,
    duration_minutes: int = 30,
    notes: str = "",
    override_reason: str = "",
) -> Appointment:
    if timezone.is_naive(scheduled_start):
        raise ValueError("scheduled_start must be timezone-aware")
    findings = appointment_findings(
        pump=pump, kind=kind, scheduled_start=scheduled_start, now=timezone.now()
    )
    with transaction.atomic():
        overridden = _enforce(
            findings, by=by, clinic=pump.patient.clinic, override_reason=override_reason
        )
        appointment = Appointment(
            patient=pump.patient,
            pump=pump,
            kind=kind,
            scheduled_start=scheduled_start,
            duration_minutes=duration_minutes,
            booked_by=by,
            notes=notes,
        )
        appointment.full_clean()
        appointment.save()
        _record_overrides(
            overridden, by=by, reason=override_reason, pump=pump, appointment=appointment
        )
        forecast_refresh(pump=pump)
    return appointment


def appointment_reschedule(
    *, appointment: Appointment, by, scheduled_start: dt.datetime, override_reason: str = ""
) -> Appointment:
    if appointment.status not in (AppointmentStatus.SCHEDULED, AppointmentStatus.MISSED):
        raise ValidationError("Only a scheduled or missed appointment can be rescheduled.")
    findings = appointment_findings(
        pump=appointment.pump,
        kind=appointment.kind,
        scheduled_start=scheduled_start,
        now=timezone.now(),
    )
    with transaction.atomic():
        overridden = _enforce(
            findings,
            by=by,
            clinic=appointment.patient.clinic,
            override_reason=override_reason,
        )
        appointment.scheduled_start = scheduled_start
        appointment.status = AppointmentStatus.SCHEDULED
        appointment.status_changed_at = timezone.now()
        appointment.save(update_fields=["scheduled_start", "status", "status_changed_at"])
        _record_overrides(
            overridden,
            by=by,
            reason=override_reason,
            pump=appointment.pump,
            appointment=appointment,
        )
        forecast_refresh(pump=appointment.pump)
    return appointment


def appointment_cancel(*, appointment: Appointment, by, reason: str) -> Appointment:
    if not reason.strip():
        raise ValidationError({"cancellation_reason": "Give the reason for cancelling."})
    if appointment.status != AppointmentStatus.SCHEDULED:
        raise ValidationError("Only a scheduled appointment can be cancelled.")
    with transaction.atomic():
        appointment.status = AppointmentStatus.CANCELLED
        appointment.cancellation_reason = reason.strip()
        appointment.status_changed_at = timezone.now()
        appointment.save(update_fields=["status", "cancellation_reason", "status_changed_at"])
        forecast_refresh(pump=appointment.pump)
    return appointment


def appointment_mark_missed(
    *, appointment: Appointment, by=None, now: dt.datetime | None = None
) -> bool:
    """Mark a scheduled appointment missed. Returns False if it had already moved on.

    Refused (ValidationError) before the appointment's start: a visit that has not happened
    cannot have been missed, and marking it so would cancel the booking and tell the patient
    "we missed you" about a future date.
    """
    now = now or timezone.now()
    if appointment.scheduled_start > now:
        raise ValidationError(
            {
                "__all__": [
                    "This appointment has not started yet, so it cannot be marked missed. "
                    "To move it, reschedule it; to call it off, cancel it with a reason."
                ]
            }
        )
    with transaction.atomic():
        changed = Appointment.objects.filter(
            pk=appointment.pk, status=AppointmentStatus.SCHEDULED
        ).update(status=AppointmentStatus.MISSED, status_changed_at=now)
        if changed:
            appointment.refresh_from_db()
            # A conditional UPDATE bypasses save(), so write the audit row ourselves.
            Appointment.history.bulk_history_create(
                [appointment], update=True, default_user=by, default_date=now
            )
            forecast_refresh(pump=appointment.pump, now=now)
    return bool(changed)


def appointment_complete(
    *, appointment: Appointment, by, refill: Refill | None = None
) -> Appointment:
    if appointment.kind == AppointmentKind.REFILL and refill is None:
        raise ValidationError("A refill appointment is completed by recording the refill.")
    with transaction.atomic():
        appointment.status = AppointmentStatus.COMPLETED
        appointment.completed_refill = refill
        appointment.status_changed_at = timezone.now()
        appointment.save(update_fields=["status", "completed_refill", "status_changed_at"])
        forecast_refresh(pump=appointment.pump)
    return appointment


# --------------------------------------------------------------------------- reports


def pump_report_record(
    *, pump: Pump, by, kind: str, reported_at: dt.datetime | None = None, details: str = ""
) -> PumpReport:
    with transaction.atomic():
        report = PumpReport(
            pump=pump,
            kind=kind,
            reported_at=reported_at or timezone.now(),
            details=details,
            recorded_by=by,
        )
        report.full_clean()
        report.save()
        forecast_refresh(pump=pump)
    return report


def pump_report_resolve(*, report: PumpReport, by, resolution: str) -> PumpReport:
    if not resolution.strip():
        raise ValidationError({"resolution": "Say how the report was resolved."})
    with transaction.atomic():
        report.resolved_at = timezone.now()
        report.resolution = resolution.strip()
        report.save(update_fields=["resolved_at", "resolution"])
        forecast_refresh(pump=report.pump)
    return report


# --------------------------------------------------------------------------- forecast


def _has_risk_factors(patient: Patient) -> bool:
    # The same test refills.risk uses for its appointment margin, so the refill-by
    # date and the tier agree on how early is early enough.
    return bool(
        patient.label_risk_factors or patient.other_risk_factors or patient.transport_barrier
    )


def _margin_days(patient: Patient) -> int:
    at_risk = _has_risk_factors(patient)
    return max(
        patient.clinic.default_refill_margin_days,
        policy_value("MARGIN_DAYS_AT_RISK") if at_risk else policy_value("MARGIN_DAYS"),
    )


def _risk_policy_for(patient: Patient) -> RiskPolicy:
    """The clinic-wide risk policy, with the appointment margins the forecast uses."""
    policy = risk_policy()
    clinic_margin = patient.clinic.default_refill_margin_days
    return replace(
        policy,
        appointment_margin_days=max(
            policy.appointment_margin_days, clinic_margin, policy_value("MARGIN_DAYS")
        ),
        appointment_margin_risk_days=max(
            policy.appointment_margin_risk_days, clinic_margin, policy_value("MARGIN_DAYS_AT_RISK")
        ),
    )


def _project(pump: Pump, fill: Fill) -> Forecast:
    margin = _margin_days(pump.patient)
    return forecast(
        fill,
        accuracy=flow_accuracy_for(pump.model),
        margin_days=margin,
        stability_days=policy_value("STABILITY_DAYS"),
        replacement_on=pump.planned_replacement_on,
        # A pump that stops needs the patient seen before it does (domain §7.1 #6).
        end_of_service_on=pump.end_of_service_on,
    )


def forecast_refresh(*, pump: Pump, now: dt.datetime | None = None) -> PumpForecast:
    """Recompute and store the pump's forecast and withdrawal-risk tier."""
    now = now or timezone.now()
    pump = Pump.objects.select_related("model", "patient__clinic").get(pk=pump.pk)
    fill, refill = current_fill(pump=pump)
    projection = _project(pump, fill) if fill is not None else None
    segment = current_segment(fill) if fill is not None else None
    appointment = next_refill_appointment(pump=pump)
    clinic_tz = pump.patient.clinic.tz
    refill_by = projection.refill_by if projection else None
    booked_before = bool(
        appointment
        and refill_by
        and timezone.localtime(appointment.scheduled_start, clinic_tz).date() <= refill_by
    )
    inputs = _risk_inputs(
        pump=pump,
        now=now,
        projection=projection,
        appointment=appointment,
        refill=refill,
    )
    assessment = assess(inputs, _risk_policy_for(pump.patient))
    reassess_at = assessment.reassess_at
    # A program change that takes effect later (a pump stopped or restarted then)
    # changes the tier's "pump stopped" rule: look again at that moment.
    next_change = (
        DrugProgram.objects.filter(pump=pump, effective_from__gt=now)
        .order_by("effective_from")
        .values_list("effective_from", flat=True)
        .first()
    )
    if next_change is not None and (reassess_at is None or next_change < reassess_at):
        reassess_at = next_change
    values = {
        "computed_at": now,
        # The segment the projection runs on now: the refill, or the last program
        # change since, with the nominal volume expected then and its rate.
        "anchor_at": segment.starts_at if segment else None,
        "anchor_volume_ml": segment.volume_ml.quantize(Decimal("0.01")) if segment else None,
        "daily_volume_ml": segment.daily_volume_ml.quantize(Decimal("0.0001")) if segment else None,
        "alarm_at": projection.alarm_at if projection else None,
        "conservative_alarm_at": projection.conservative_alarm_at if projection else None,
        "empty_at": projection.empty_at if projection else None,
        "conservative_empty_at": projection.conservative_empty_at if projection else None,
        "refill_by": refill_by,
        "refill_by_reason": projection.refill_by_reason if projection else RefillByReason.NO_FILL,
        "next_refill_appointment": appointment,
        "next_refill_at": appointment.scheduled_start if appointment else None,
        "booked_before_refill_by": booked_before,
        "risk_tier": int(assessment.tier),
        "risk_reasons": [
            {"code": r.code, "text": r.text, "tier": int(r.tier)} for r in assessment.reasons
        ],
        "reassess_at": reassess_at,
    }
    stored, _ = PumpForecast.objects.update_or_create(pump=pump, defaults=values)
    # Reminders and staff alerts follow the stored forecast (reminders/receivers.py).
    signals.forecast_stored.send(sender=PumpForecast, forecast=stored, now=now)
    return stored


def _risk_inputs(*, pump: Pump, now, projection, appointment, refill) -> RiskInputs:
    patient: Patient = pump.patient
    open_reports = set(
        PumpReport.objects.filter(pump=pump, resolved_at__isnull=True).values_list(
            "kind", flat=True
        )
    )
    today = timezone.localtime(now, patient.clinic.tz).date()
    last_refill_at = refill.performed_at if refill else None
    missed = Appointment.objects.filter(
        pump=pump, kind=AppointmentKind.REFILL, status=AppointmentStatus.MISSED
    )
    if last_refill_at is not None:
        missed = missed.filter(scheduled_start__gt=last_refill_at)
    missed_unanswered = missed.exists() and appointment is None
    # The discrepancy that raises the tier: the last one not yet explained with evidence,
    # carried until a later refill reconciles within tolerance (domain §8).
    unexplained = outstanding_discrepancy(pump=pump)
    # A stopped program is the abrupt discontinuation of the boxed warning (domain §3.1).
    program = program_in_effect(pump=pump, at=now)
    stopped = program is not None and (
        program.mode == DosingMode.STOPPED or program.daily_dose_mcg == 0
    )
    return RiskInputs(
        now=now,
        today=today,
        conservative_alarm_at=projection.conservative_alarm_at if projection else None,
        empty_at=projection.empty_at if projection else None,
        conservative_empty_at=projection.conservative_empty_at if projection else None,
        refill_by=projection.refill_by if projection else None,
        refill_by_reason=projection.refill_by_reason if projection else RefillByReason.NO_FILL,
        next_refill_appointment_at=appointment.scheduled_start if appointment else None,
        missed_appointment=missed_unanswered,
        last_discrepancy_ml=(
            unexplained.discrepancy_ml
            if unexplained is not None
            else (refill.discrepancy_ml if refill else None)
        ),
        # Only an unexplained discrepancy raises the tier (domain §8).
        last_discrepancy_flagged=unexplained is not None,
        critical_alarm_reported=ReportKind.CRITICAL_ALARM in open_reports,
        noncritical_alarm_reported=ReportKind.LOW_RESERVOIR_ALARM in open_reports,
        symptoms_reported=ReportKind.WITHDRAWAL_SYMPTOMS in open_reports,
        label_risk_factors=patient.label_risk_factors,
        other_risk_factors=patient.other_risk_factors,
        transport_barrier=patient.transport_barrier,
        end_of_service_on=pump.end_of_service_on,
        eri_on=pump.eri_on,
        # All of them: refills.risk decides which count (none after end of service).
        replacement_dates=replacement_dates(pump=pump),
        oral_bridge=patient.oral_baclofen_bridge,
        program_stopped=stopped,
        clinic_tz=patient.clinic.tz,
    )


def forecast_reassess_due(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Refresh forecasts whose reassess moment has come. Cost follows the work due."""
    now = now or timezone.now()
    due = list(
        PumpForecast.objects.filter(
            reassess_at__lte=now, pump__status=PumpStatus.ACTIVE
        ).values_list("pump_id", flat=True)[:limit]
    )
    for pump_id in due:
        with transaction.atomic():
            forecast_refresh(pump=Pump(pk=pump_id), now=now)
    return len(due)
