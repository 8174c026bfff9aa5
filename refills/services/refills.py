"""Writes for refills: record a refill, its program, its overrides and what it answers.

Every write that can move a forecast ends by calling `forecast_refresh`, in
the same transaction, so the stored forecast never lags the clinical record.
Validation findings (refills/validation) are gathered first; nothing is
written unless every ERROR is fixed and every warning carries an override
reason from someone allowed to give it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from patients.models import Pump
from refills import validation as v
from refills.models import (
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    DrugProgram,
    PumpReport,
    Refill,
    ReportKind,
)
from refills.selectors import (
    latest_refill,
    program_in_effect,
    stored_forecast,
)
from refills.services.common import (
    _enforce,
    _record_overrides,
)
from refills.services.forecast import forecast_refresh
from refills.services.programs import _program_create
from refills.services.refill_preview import (
    RefillInput,
    RefillPreview,
    _copy_program,
    refill_preview,
)


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
        findings = (
            preview.findings
            + _appointment_pump_findings(pump=pump, appointment=appointment)
            + _appointment_day_findings(
                pump=pump, appointment=appointment, performed_at=data.performed_at
            )
        )
        overridden = _enforce(
            findings, by=by, clinic=pump.patient.clinic, override_reason=override_reason
        )
        last_before = latest_refill(pump=pump, before=data.performed_at)
        program = _program_after_refill(pump=pump, data=data, by=by)
        refill = _refill_row(pump=pump, by=by, data=data, preview=preview, program=program)
        refill.full_clean()
        refill.save()
        _record_overrides(overridden, by=by, reason=override_reason, pump=pump, refill=refill)
        _complete_refill_appointment(
            pump=pump, refill=refill, appointment=appointment, last_before=last_before
        )
        _resolve_low_reservoir_reports(pump=pump, refilled_at=data.performed_at)
        forecast_refresh(pump=pump)
    return refill


def _appointment_pump_findings(*, pump: Pump, appointment: Appointment | None) -> list[v.Finding]:
    if appointment is None or appointment.pump_id == pump.pk:
        return []
    return [
        v.Finding(
            "appointment_other_pump",
            None,
            "This appointment belongs to another pump. Choose the patient's appointment.",
            v.Severity.ERROR,
        )
    ]


def _program_after_refill(*, pump: Pump, data: RefillInput, by) -> DrugProgram | None:
    """The program in effect after the refill: a new row when the dose or the drug changes."""
    previous_program = program_in_effect(pump=pump, at=data.performed_at)
    dose_changed = data.new_program is not None
    concentration_changed = (
        previous_program is None
        or previous_program.concentration_mcg_per_ml != data.concentration_mcg_per_ml
        or previous_program.drug_product_id != data.drug_product.pk
    )
    if not (dose_changed or concentration_changed):
        return previous_program
    return _program_create(
        pump=pump,
        program=data.new_program or _copy_program(previous_program, data),
        at=data.performed_at,
        by=by,
        reason=data.program_change_reason or "Changed at refill",
    )


def _refill_row(
    *, pump: Pump, by, data: RefillInput, preview: RefillPreview, program: DrugProgram | None
) -> Refill:
    """The unsaved Refill: what was entered, with the reconciliation and checks of the preview."""
    rec = preview.reconciliation
    # The refill-by date that was in force, kept for the late-refill reports.
    stored = stored_forecast(pump=pump)
    due_by = stored.refill_by if stored is not None else None
    return Refill(
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


# A refill completes a visit of its own clinic day, or of the next day (the patient came
# a day early); never one of an earlier day: an unattended earlier visit stays for the
# missed-visit sweep, so the no-show is kept (nurse review, item 2).
COMPLETES_DAYS_AHEAD = 1


def _clinic_day_start(day: dt.date, zone) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=zone)


def _refill_day(pump: Pump, performed_at: dt.datetime) -> dt.date:
    return timezone.localtime(performed_at, pump.patient.clinic.tz).date()


def _appointment_day_findings(
    *, pump: Pump, appointment: Appointment | None, performed_at: dt.datetime
) -> list[v.Finding]:
    """A chosen visit of an earlier clinic day is refused: the refill cannot answer it."""
    if appointment is None or appointment.pump_id != pump.pk:
        return []
    zone = pump.patient.clinic.tz
    visit_day = timezone.localtime(appointment.scheduled_start, zone).date()
    if visit_day >= _refill_day(pump, performed_at):
        return []
    return [
        v.Finding(
            "appointment_earlier_day",
            None,
            f"This appointment was on {visit_day:%a %-d %b %Y}, before the day of this "
            "refill: a refill completes only a visit of its own day. Record the refill "
            "without choosing that appointment; the earlier visit is marked missed.",
            v.Severity.ERROR,
        )
    ]


def _complete_refill_appointment(
    *, pump: Pump, refill: Refill, appointment: Appointment | None, last_before: Refill | None
) -> None:
    """Mark the visit this refill answers completed: the one given, or the latest open one
    of the refill's clinic day or the next (never an earlier day's)."""
    if appointment is None:
        zone = pump.patient.clinic.tz
        day = _refill_day(pump, refill.performed_at)
        candidates = Appointment.objects.filter(
            pump=pump,
            kind=AppointmentKind.REFILL,
            status__in=[AppointmentStatus.SCHEDULED, AppointmentStatus.MISSED],
            scheduled_start__gte=_clinic_day_start(day, zone),
            scheduled_start__lt=_clinic_day_start(
                day + dt.timedelta(days=COMPLETES_DAYS_AHEAD + 1), zone
            ),
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


def _resolve_low_reservoir_reports(*, pump: Pump, refilled_at: dt.datetime) -> None:
    # A refill answers the reports that were about the reservoir running low.
    # Saved one by one (there are few) so each change lands in the audit trail.
    for report in PumpReport.objects.filter(
        pump=pump,
        resolved_at__isnull=True,
        kind=ReportKind.LOW_RESERVOIR_ALARM,
        reported_at__lte=refilled_at,
    ):
        report.resolved_at = refilled_at
        report.resolution = "Refilled"
        report.save(update_fields=["resolved_at", "resolution"])
