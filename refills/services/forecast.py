"""The stored forecast: recompute a pump's projection and withdrawal-risk tier and store it.

Every other service calls `forecast_refresh` in its transaction; the sweep calls
`forecast_reassess_due` for rows whose tier can change with time alone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from patients.models import Patient, Pump, PumpStatus
from refills import signals
from refills.forecast import Fill, Forecast, current_segment, forecast
from refills.models import (
    DosingMode,
    PumpForecast,
    RefillByReason,
    ReportKind,
)
from refills.policy import flow_accuracy_for, policy_value, risk_policy
from refills.risk import RiskInputs, RiskPolicy, assess
from refills.selectors import (
    closure_reason_on,
    current_fill,
    missed_refill_since,
    next_program_change_at,
    next_refill_appointment,
    open_report_kinds,
    outstanding_discrepancy,
    program_in_effect,
    replacement_dates,
)


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


def _booking_counts(pump: Pump, appointment, refill_by) -> tuple[str, bool]:
    """The closure reason on the booked refill's day ("" when open), and whether the
    booking secures the refill: on or before the refill-by date and not on a closed day
    (the patient would come to a shut clinic: it must be rebooked)."""
    if appointment is None:
        return "", False
    clinic = pump.patient.clinic
    day = timezone.localtime(appointment.scheduled_start, clinic.tz).date()
    closure = closure_reason_on(clinic=clinic, day=day)
    return closure, bool(refill_by and not closure and day <= refill_by)


def forecast_refresh(*, pump: Pump, now: dt.datetime | None = None) -> PumpForecast:
    """Recompute and store the pump's forecast and withdrawal-risk tier."""
    now = now or timezone.now()
    pump = Pump.objects.select_related("model", "patient__clinic").get(pk=pump.pk)
    fill, refill = current_fill(pump=pump)
    projection = _project(pump, fill) if fill is not None else None
    segment = current_segment(fill) if fill is not None else None
    appointment = next_refill_appointment(pump=pump)
    refill_by = projection.refill_by if projection else None
    closure, booked_before = _booking_counts(pump, appointment, refill_by)
    inputs = _risk_inputs(
        pump=pump,
        now=now,
        projection=projection,
        appointment=appointment,
        refill=refill,
        closure=closure,
    )
    assessment = assess(inputs, _risk_policy_for(pump.patient))
    reassess_at = assessment.reassess_at
    # A program change that takes effect later (a pump stopped or restarted then)
    # changes the tier's "pump stopped" rule: look again at that moment.
    next_change = next_program_change_at(pump=pump, after=now)
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
    # Reminders and staff alerts follow the stored forecast: reminders subscribes to the
    # signal (reminders/receivers.py), since a lower app never imports a higher one.
    signals.forecast_stored.send(sender=PumpForecast, forecast=stored, now=now)
    return stored


def _risk_inputs(*, pump: Pump, now, projection, appointment, refill, closure="") -> RiskInputs:
    patient: Patient = pump.patient
    open_reports = open_report_kinds(pump=pump)
    today = timezone.localtime(now, patient.clinic.tz).date()
    last_refill_at = refill.performed_at if refill else None
    missed_unanswered = missed_refill_since(pump=pump, since=last_refill_at) and appointment is None
    # The discrepancy that raises the tier: the last one not yet explained with evidence,
    # carried until a later refill reconciles within tolerance (domain §8).
    unexplained = outstanding_discrepancy(pump=pump)
    # A stopped program is the abrupt discontinuation of the boxed warning (domain §3.1).
    program = program_in_effect(pump=pump, at=now)
    stopped = program is not None and (
        program.mode == DosingMode.STOPPED or program.daily_dose_mcg == 0
    )
    no_fill_since, capacity_days = _no_fill(pump, program, refill)
    return RiskInputs(
        now=now,
        today=today,
        conservative_alarm_at=projection.conservative_alarm_at if projection else None,
        empty_at=projection.empty_at if projection else None,
        conservative_empty_at=projection.conservative_empty_at if projection else None,
        refill_by=projection.refill_by if projection else None,
        refill_by_reason=projection.refill_by_reason if projection else RefillByReason.NO_FILL,
        next_refill_appointment_at=appointment.scheduled_start if appointment else None,
        next_refill_appointment_closure=closure,
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
        no_fill_since=no_fill_since,
        no_fill_capacity_days=capacity_days,
    )


def _no_fill(pump: Pump, program, refill) -> tuple[dt.date | None, Decimal | None]:
    """An active pump with no fill on record: its implant date, and how many days a full
    reservoir lasts at the program in effect (None without a delivering program)."""
    if refill is not None or pump.status != PumpStatus.ACTIVE:
        return None, None
    capacity_days = None
    if program is not None and program.daily_dose_mcg and program.concentration_mcg_per_ml:
        daily_ml = Decimal(program.daily_dose_mcg) / Decimal(program.concentration_mcg_per_ml)
        capacity_days = Decimal(pump.model.reservoir_capacity_ml) / daily_ml
    return pump.implanted_on, capacity_days


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
