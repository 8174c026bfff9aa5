"""The refill preview: validate a refill and compute what it would do, writing nothing.

The refill form calls it while the nurse types; refill_record calls it again under a
row lock before it writes. Each step returns its findings, in the order the form shows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone

from patients.models import Pump
from refills import validation as v
from refills.forecast import (
    Direction,
    Fill,
    Forecast,
    PostFillCheck,
    Reconciliation,
    discrepancy_trend,
    post_fill_check,
    reconcile,
)
from refills.models import (
    DiscrepancyAction,
    DrugProduct,
    DrugProgram,
    Refill,
)
from refills.policy import policy_value
from refills.selectors import (
    catalogue_strengths,
    current_fill,
    latest_refill,
    program_in_effect,
)
from refills.services.common import (
    ClinicalValidationError,
    _pump_active_findings,
    _second_person_findings,
)
from refills.services.forecast import _project
from refills.services.programs import ProgramInput, program_findings


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
    def blocked(self) -> bool:
        """The entry cannot be saved as it is: the preview shows what to fix, no dates."""
        return any(f.blocks for f in self.findings)

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
    at = data.performed_at or now
    findings = _entry_findings(pump=pump, data=data, by=by, now=now, at=at)
    previous_program = program_in_effect(pump=pump, at=at)
    new_program, program_checks = _program_at_refill(
        pump=pump, data=data, by=by, at=at, previous_program=previous_program
    )
    findings += program_checks
    findings += _bridge_bolus_findings(
        findings_so_far=findings, data=data, previous_program=previous_program
    )
    previous_fill, _ = current_fill(pump=pump, at=at)
    reconciled = _reconcile_residual(pump=pump, data=data, at=at, previous_fill=previous_fill)
    findings += reconciled.findings
    post_fill, post_fill_findings = _post_fill_reading(pump=pump, data=data)
    findings += post_fill_findings
    dose = new_program.daily_dose_mcg if new_program else None
    new_fill, projection, projection_findings = _project_new_fill(
        pump=pump, data=data, dose=dose, post_fill=post_fill
    )
    findings += projection_findings
    return RefillPreview(
        findings=findings,
        reconciliation=reconciled.reconciliation,
        # No dates for an entry that cannot be saved (25 mL in a 20 mL pump, a volume
        # that does not add up): a nurse could copy a date from an impossible fill.
        forecast=None if any(f.blocks for f in findings) else projection,
        previous_fill=previous_fill,
        new_fill=new_fill,
        daily_dose_mcg=dose,
        trend=reconciled.trend,
        previous_discrepancy_ml=reconciled.previous_discrepancy_ml,
        post_fill=post_fill,
    )


def _entry_findings(*, pump: Pump, data: RefillInput, by, now, at) -> list[v.Finding]:
    """What is checked on the entry itself: time, second checker, needle, volumes, pump, lot."""
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
        fill_tolerance_ml=Decimal(policy_value("FILL_TOLERANCE_ML")),
    )
    findings += _pump_active_findings(pump)
    findings += v.check_lot(
        lot_number=data.lot_number,
        lot_expiry=data.lot_expiry,
        refill_day=timezone.localtime(at, pump.patient.clinic.tz).date(),
    )
    return findings


def _program_at_refill(
    *, pump: Pump, data: RefillInput, by, at, previous_program: DrugProgram | None
) -> tuple[ProgramInput | None, list[v.Finding]]:
    """The program the pump runs after this refill, and what is wrong with it.

    A new program when the dose changes; otherwise the program in effect, with the
    refill's drug and concentration (which may change at a refill).
    """
    new_program = data.new_program
    if new_program is None and previous_program is not None:
        # Same dose; the concentration may still change at a refill.
        new_program = _copy_program(previous_program, data)
    if new_program is None:
        return None, [
            v.Finding(
                "program_missing",
                "basal_daily_dose_mcg",
                "This pump has no drug program yet. Enter the daily dose.",
                v.Severity.ERROR,
            )
        ]
    new_program.concentration_mcg_per_ml = data.concentration_mcg_per_ml
    new_program.drug_product = data.drug_product
    if data.new_program is not None or previous_program is None:
        return new_program, program_findings(pump=pump, program=new_program, at=at, by=by)
    # Unchanged dose: only the concentration needs checking again.
    return new_program, v.check_concentration(
        data.concentration_mcg_per_ml,
        catalogue_strengths=catalogue_strengths(),
        is_custom_dilution=data.drug_product.is_custom_dilution,
        custom_reason=new_program.custom_concentration_reason,
        # Copied from the program in effect (same strength only; see _copy_program),
        # where its creator and second clinician were already two people.
        has_second_clinician=new_program.second_clinician is not None,
    )


def _bridge_bolus_findings(
    *, findings_so_far: list[v.Finding], data: RefillInput, previous_program: DrugProgram | None
) -> list[v.Finding]:
    # A concentration that is itself wrong (e.g. mg/mL typed as mcg/mL) is the one thing
    # to fix; asking for a bridge bolus to that impossible strength would only mislead.
    if any(f.blocks and f.code.startswith("concentration_") for f in findings_so_far):
        return []
    return v.check_bridge_bolus(
        old_concentration=(previous_program.concentration_mcg_per_ml if previous_program else None),
        new_concentration=data.concentration_mcg_per_ml,
        bridge_mcg=data.bridge_bolus_mcg,
        bridge_ml=data.bridge_bolus_ml,
        not_needed_reason=data.bridge_not_needed_reason,
    )


@dataclass
class _Reconciled:
    """The residual against the expected one, the trend across refills, and the findings."""

    reconciliation: Reconciliation | None = None
    trend: Direction | None = None
    previous_discrepancy_ml: Decimal | None = None
    findings: list[v.Finding] = field(default_factory=list)


def _reconcile_residual(
    *, pump: Pump, data: RefillInput, at, previous_fill: Fill | None
) -> _Reconciled:
    residual_left = data.residual_left_ml or Decimal(0)
    if (
        previous_fill is None
        or data.actual_residual_ml is None
        or data.actual_residual_ml < 0
        or residual_left < 0
    ):
        return _Reconciled()
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
    findings = v.check_discrepancy_assessment(
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
    return _Reconciled(reconciliation, trend, previous_discrepancy_ml, findings)


def _post_fill_reading(
    *, pump: Pump, data: RefillInput
) -> tuple[PostFillCheck | None, list[v.Finding]]:
    """A sensor pump's reading after the fill against what was programmed (§7.1 #8)."""
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
    findings = v.check_post_fill_volume(
        has_sensor=pump.model.has_volume_sensor,
        capacity_ml=pump.model.reservoir_capacity_ml,
        measured_ml=measured,
        check=post_fill,
    )
    return post_fill, findings


def _project_new_fill(
    *, pump: Pump, data: RefillInput, dose: Decimal | None, post_fill: PostFillCheck | None
) -> tuple[Fill | None, Forecast | None, list[v.Finding]]:
    """The fill this refill makes and its projection, with the checks on the projection."""
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
    if not can_project:
        return None, None, []
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
    findings = v.check_days_to_alarm(
        projection.days_to_alarm, short_days=policy_value("SHORT_INTERVAL_WARNING_DAYS")
    )
    if projection.alarm_at is not None:
        findings += v.check_printed_alarm(
            printed=data.printed_alarm_date,
            computed=timezone.localtime(projection.alarm_at, pump.patient.clinic.tz).date(),
            tolerance_days=policy_value("PRINTED_ALARM_TOLERANCE_DAYS"),
        )
    return new_fill, projection, findings


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
