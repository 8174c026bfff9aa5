"""Writes for appointments: book, reschedule, cancel, mark missed, complete.

Each ends by calling `forecast_refresh` in the same transaction: a booking moves the tier.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from patients.models import Pump, PumpStatus
from pumptrack.dates import date_text
from refills import validation as v
from refills.models import Appointment, AppointmentKind, AppointmentStatus, PumpForecast, Refill
from refills.policy import policy_value
from refills.scheduling import (
    ClinicHours,
    booking_concerns,
    earliest_slot,
    end_of,
    latest_day_without_override,
)
from refills.selectors import (
    clinic_diary,
    clinic_hours,
    other_scheduled_refills,
    stored_forecast,
)
from refills.services.common import _enforce, _record_overrides
from refills.services.forecast import forecast_refresh


def appointment_findings(
    *,
    pump: Pump,
    kind: str,
    scheduled_start: dt.datetime,
    now: dt.datetime,
    duration_minutes: int = 30,
    appointment_id: int | None = None,
) -> list[v.Finding]:
    """Everything to say about booking (or moving ``appointment_id`` to) this time."""
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
    clinic = pump.patient.clinic
    hours = clinic_hours(
        clinic=clinic, from_day=min(now, scheduled_start).astimezone(clinic.tz).date()
    )
    findings += _clinic_findings(
        clinic=clinic,
        hours=hours,
        start=scheduled_start,
        minutes=duration_minutes,
        appointment_id=appointment_id,
    )
    if kind == AppointmentKind.REFILL:
        findings += _second_refill_findings(pump=pump, appointment_id=appointment_id)
    stored = stored_forecast(pump=pump)
    if kind == AppointmentKind.REFILL and stored and stored.refill_by:
        local_day = timezone.localtime(scheduled_start, clinic.tz).date()
        # Never stand between the patient and the soonest visit: when the clinic cannot
        # offer a slot by the refill-by date (it has passed, or the clinic is shut until
        # after it), its earliest slot, and the next working day, need no override.
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


def _second_refill_findings(*, pump: Pump, appointment_id: int | None) -> list[v.Finding]:
    """A second scheduled refill for the same pump is a warning: two confirmation texts
    would go out and one visit would be wasted. Move the existing one instead, or say why."""
    booked = other_scheduled_refills(pump=pump, exclude_id=appointment_id)
    if not booked:
        return []
    zone = pump.patient.clinic.tz
    when = ", ".join(
        date_text(timezone.localtime(a.scheduled_start, zone), "D j M Y, H:i") for a in booked
    )
    return [
        v.Finding(
            "refill_already_booked",
            "scheduled_start",
            f"A refill is already booked for this pump ({when}). Move that appointment "
            "instead (Reschedule on the patient page), or give a reason to book a second one.",
            v.Severity.WARNING,
        )
    ]


def _clinic_findings(
    *, clinic, hours: ClinicHours, start: dt.datetime, minutes: int, appointment_id
) -> list[v.Finding]:
    """Outside hours, a closed day or a slot already taken: a warning each, so the booking
    needs a reason (kept as an Override on the appointment) and is never silent."""
    diary = clinic_diary(
        clinic=clinic,
        start=start,
        end=end_of(start, minutes),
        exclude_appointment_id=appointment_id,
    )
    concerns = booking_concerns(
        start=start,
        minutes=minutes,
        zone=clinic.tz,
        hours=hours,
        taken=diary.taken,
        capacity=diary.capacity,
    )
    return [
        v.Finding(
            concern.code,
            "scheduled_time" if concern.code == "outside_opening_hours" else "scheduled_start",
            concern.message,
            v.Severity.WARNING,
        )
        for concern in concerns
    ]


def _after_refill_by_message(stored: PumpForecast, limit: dt.date, *, now, clinic, hours) -> str:
    set_by = f"set by the {stored.get_refill_by_reason_display().lower()}"
    if limit == stored.refill_by:
        return (
            f"This is after the refill-by date ({date_text(stored.refill_by)}, {set_by}). "
            "The patient could run low before it. Choose an earlier date, or a physician "
            "must override."
        )
    soonest = earliest_slot(now=now, zone=clinic.tz, hours=hours)
    return (
        f"The refill-by date ({date_text(stored.refill_by)}, {set_by}) has passed or comes "
        f"before the clinic's next opening. Book the soonest visit: any day up to "
        f"{date_text(limit)} needs no override (the earliest slot is "
        f"{date_text(soonest, 'D j M Y, H:i')}). A later date needs a physician's override."
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
        pump=pump,
        kind=kind,
        scheduled_start=scheduled_start,
        now=timezone.now(),
        duration_minutes=duration_minutes,
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
        duration_minutes=appointment.duration_minutes,
        appointment_id=appointment.pk,
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


def appointment_record_past(
    *,
    pump: Pump,
    by,
    scheduled_start: dt.datetime,
    status: str = AppointmentStatus.SCHEDULED,
    status_changed_at: dt.datetime | None = None,
    completed_refill: Refill | None = None,
    notes: str = "",
) -> Appointment:
    """Record a refill appointment whose time has already come, as it stands: history
    entered after the fact (the demo clinic's years of visits), never a new booking.

    The booking rules are about the future and do not apply; the clock does: the start
    and the status change cannot be in the future. A completed visit names the refill
    that completed it (recorded first, with refill_record); a missed or still-scheduled
    one moves the forecast like any other, so it is refreshed.
    """
    now = timezone.now()
    if timezone.is_naive(scheduled_start):
        raise ValueError("scheduled_start must be timezone-aware")
    if scheduled_start > now or (status_changed_at is not None and status_changed_at > now):
        raise ValidationError("A past appointment cannot start or change in the future.")
    completed = status == AppointmentStatus.COMPLETED
    if completed != (completed_refill is not None) or (
        completed_refill is not None and completed_refill.pump_id != pump.pk
    ):
        raise ValidationError("A completed refill appointment names this pump's refill.")
    with transaction.atomic():
        appointment = Appointment(
            patient=pump.patient,
            pump=pump,
            kind=AppointmentKind.REFILL,
            scheduled_start=scheduled_start,
            status=status,
            status_changed_at=status_changed_at,
            completed_refill=completed_refill,
            booked_by=by,
            notes=notes,
        )
        appointment.full_clean()
        appointment.save()
        if not completed:
            # A completed visit changes nothing a forecast reads: its refill did.
            forecast_refresh(pump=pump)
    return appointment
