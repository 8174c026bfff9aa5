"""The send-time check: is this queued message still true, and what exactly should it say?

A row is written when its occasion comes up, but it may wait in the outbox (quiet
hours, retries, a sweep that was down). Just before each send the occasion is
looked up again in the current state:

- withdrawn, with the reason, when the occasion is gone (appointment cancelled,
  completed or moved; a refill recorded or booked; the pump explanted; the patient
  discharged; a missed-appointment message that is no longer same-day);
- replaced when a routine "please book before <date>" would now name today or a
  past day: the patient is asked to call the clinic today instead;
- otherwise rendered again for the recipient as of now (a moved refill-by date,
  "tomorrow" that became "today", a new time zone), so the stored body is exactly
  what is sent. A rewrite keeps the first text and says why.

Pure reads; the caller (reminders/delivery.py) writes the outcome conditionally.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from patients.models import Channel, Pump
from refills.models import Appointment, AppointmentKind, AppointmentStatus, PumpForecast, Refill
from reminders.messages import format_date, render, template_for
from reminders.models import Notification, NotificationKind
from reminders.outbox import (
    Draft,
    Recipient,
    caregiver_recipient,
    draft_for,
    patient_context,
    patient_recipient,
)
from reminders.plans import (
    BOOKED,
    MISSED_MESSAGE_MAX_AGE,
    NO_ACTIVE_PUMP,
    NUDGE_KINDS,
    _nudge_not_needed,
    appointment_context,
    nudge_moments,
    refill_due_now,
    start_tag,
)

SEND = "send"
WITHDRAW = "withdraw"
REPLACE = "replace"

_NUDGE_KEY = re.compile(r"^pump:(?P<pump>\d+):(?P<stage>[a-z0-9-]+):(?P<day>\d{4}-\d{2}-\d{2}):")


@dataclass
class Recheck:
    action: str
    reason: str = ""
    subject: str = ""
    body: str = ""
    replacement: list[Draft] = field(default_factory=list)

    def changes(self, notification: Notification) -> bool:
        return self.action == SEND and (
            self.body != notification.body or self.subject != notification.subject
        )


def _withdraw(reason: str) -> Recheck:
    return Recheck(WITHDRAW, reason=reason)


def _recipient(notification: Notification) -> Recipient | None:
    patient = notification.patient
    if notification.caregiver_id:
        return caregiver_recipient(notification.caregiver, patient)
    if ":caregiver:" in notification.key:
        return None  # the caregiver was deleted: consent checks suppress it
    return patient_recipient(patient)


def _rendered(
    notification: Notification, context: dict[str, str], cache: dict | None, kind: str = ""
) -> tuple[str, str]:
    channel = notification.channel if notification.channel != Channel.NONE else Channel.SMS
    text = template_for(
        clinic_id=notification.clinic_id,
        kind=kind or notification.kind,
        channel=channel,
        cache=cache,
    )
    subject = render(text.subject, context) if notification.channel == Channel.EMAIL else ""
    return subject, render(text.body, context)


def _send(notification, context, cache, reason="") -> Recheck:
    subject, body = _rendered(notification, context, cache)
    return Recheck(SEND, reason=reason, subject=subject[:200], body=body)


def _appointment(notification: Notification, now: dt.datetime, cache) -> Recheck:
    appointment = notification.appointment
    kind = notification.kind
    if kind in (NotificationKind.BOOKING_CONFIRMATION, NotificationKind.APPOINTMENT_REMINDER):
        if appointment.status != AppointmentStatus.SCHEDULED:
            return _withdraw(f"The appointment is {appointment.get_status_display().lower()}")
        if f":{start_tag(appointment.scheduled_start)}:" not in notification.key:
            return _withdraw("The appointment was moved; a new reminder replaces this one")
        if now >= appointment.scheduled_start:
            return _withdraw("The appointment time has passed")
    else:  # missed appointment
        if appointment.status != AppointmentStatus.MISSED:
            return _withdraw("The appointment was rebooked or completed")
        if now - appointment.scheduled_start > MISSED_MESSAGE_MAX_AGE:
            return _withdraw("Too late for a same-day message; staff follow the miss up")
        later = Appointment.objects.filter(
            pump_id=appointment.pump_id,
            kind=AppointmentKind.REFILL,
            status__in=[AppointmentStatus.SCHEDULED, AppointmentStatus.COMPLETED],
            scheduled_start__gt=appointment.scheduled_start,
        )
        if (
            later.exists()
            or Refill.objects.filter(
                pump_id=appointment.pump_id, performed_at__gt=appointment.scheduled_start
            ).exists()
        ):
            return _withdraw("A new appointment was booked or a refill recorded since the miss")
    if not notification.patient.is_active:
        return _withdraw("The patient is no longer under the clinic's care")
    recipient = _recipient(notification)
    if recipient is None:
        return Recheck(SEND, subject=notification.subject, body=notification.body)
    return _send(notification, appointment_context(appointment, recipient, now), cache)


def _nudge(notification: Notification, now: dt.datetime, cache) -> Recheck:
    match = _NUDGE_KEY.match(notification.key)
    if match is None:
        return Recheck(SEND, subject=notification.subject, body=notification.body)
    pump = Pump.objects.select_related("patient__clinic").filter(pk=int(match["pump"])).first()
    forecast = PumpForecast.objects.filter(pump_id=pump.pk).first() if pump else None
    why = _nudge_not_needed(pump, forecast)
    if why:
        return _withdraw(why)
    recipient = _recipient(notification)
    if recipient is None:
        return Recheck(SEND, subject=notification.subject, body=notification.body)
    patient = pump.patient
    clinic = patient.clinic
    written_for = dt.date.fromisoformat(match["day"])
    # Only a refill that is now the pump's latest fill changes the occasion. An older refill
    # entered late (a back-dated record from the paper chart) moves no date: counting it
    # withdrew "call the clinic today" from a patient who was still overdue.
    latest_refill = Refill.objects.filter(pump=pump).order_by("-performed_at").first()
    refilled = latest_refill is not None and latest_refill.created_at > notification.created_at
    due_now = refill_due_now(forecast, now=now, zones=[clinic.tz, recipient.zone])
    context = patient_context(recipient, patient, clinic)

    if notification.kind == NotificationKind.OVERDUE_CALL:
        if refilled:
            return _withdraw("A refill was recorded after this was written")
        if not due_now:
            return _withdraw("The refill is no longer due now (the refill-by date moved later)")
        return _send(notification, context, cache)

    # A routine "please book before <refill-by>".
    if refilled:
        return _withdraw("A refill was recorded after this was written")
    if due_now:
        draft = draft_for(
            key=f"pump:{pump.pk}:overdue:{forecast.refill_by.isoformat()}:{recipient.tag}",
            kind=NotificationKind.OVERDUE_CALL,
            stage="overdue",
            recipient=recipient,
            clinic=clinic,
            context=context,
            now=now,
            cache=cache,
        )
        return Recheck(
            REPLACE,
            reason="Replaced by a call-today message: the refill-by date has come",
            replacement=[draft],
        )
    reason = ""
    if forecast.refill_by != written_for:
        if not any(at <= now for _, at in nudge_moments(forecast, clinic.tz)):
            return _withdraw("The refill-by date moved later; a new nudge comes when it is due")
        reason = (
            f"The refill-by date moved from {format_date(written_for)} to "
            f"{format_date(forecast.refill_by)} before sending"
        )
    context["refill_by"] = format_date(forecast.refill_by)
    return _send(notification, context, cache, reason=reason)


def notification_recheck(
    notification: Notification, *, now: dt.datetime, cache: dict | None = None
) -> Recheck:
    """What to do with a pending row at `now`: send (with the current text), withdraw, replace."""
    kind = notification.kind
    if kind == NotificationKind.STAFF_ESCALATION and notification.alert.state != "open":
        return _withdraw(f"The alert was {notification.alert.state}")
    if notification.appointment_id and kind in (
        NotificationKind.BOOKING_CONFIRMATION,
        NotificationKind.APPOINTMENT_REMINDER,
        NotificationKind.MISSED_APPOINTMENT,
    ):
        return _appointment(notification, now, cache)
    if kind in NUDGE_KINDS:
        if not notification.patient.is_active:
            return _withdraw("The patient is no longer under the clinic's care")
        return _nudge(notification, now, cache)
    if notification.is_patient_facing and not notification.patient.is_active:
        return _withdraw("The patient is no longer under the clinic's care")
    return Recheck(SEND, subject=notification.subject, body=notification.body)


__all__ = ["BOOKED", "NO_ACTIVE_PUMP", "REPLACE", "SEND", "WITHDRAW", "notification_recheck"]
