"""Patient and caregiver messages about appointments and unbooked refills.

Appointment reminders: each appointment has a ReminderPlan whose `next_due_at` says
when the sweep must look again. At that moment the plan fires only the latest
stage that is due (booking confirmation, then 14/7/2/1 days before), so a late
booking or a sweep that was down for hours sends one message, not a burst, and
never skips the one that matters. The stage's key carries the appointment time,
so a rescheduled appointment gets fresh reminders and stale ones are cancelled.

Offsets are wall-clock days in the clinic's zone: the 7-day reminder for a 9:00
appointment is due at 9:00 a week earlier, across a daylight-saving change.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import F, Q

from patients.models import Pump, PumpStatus
from refills.models import Appointment, AppointmentStatus, PumpForecast
from reminders import conf
from reminders.messages import days_ahead_text, format_date, format_time, format_when
from reminders.models import Notification, NotificationKind, NotificationStatus, ReminderPlan
from reminders.outbox import (
    Draft,
    Recipient,
    draft_for,
    notifications_insert,
    patient_and_caregivers,
    patient_context,
)
from reminders.status_history import cancel_pending

logger = logging.getLogger(__name__)

# A missed-appointment message is for the same day; a miss found much later is a staff matter.
MISSED_MESSAGE_MAX_AGE = dt.timedelta(days=2)
# Do not nudge the same patient about booking more often than this (refill-by may shift).
NUDGE_MIN_GAP = dt.timedelta(days=3)


def start_tag(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%MZ")


def offset_due_at(scheduled_start: dt.datetime, days: int, zone: ZoneInfo) -> dt.datetime:
    """`days` calendar days before the appointment, same wall-clock time, in `zone`."""
    local = scheduled_start.astimezone(zone)
    wall = dt.datetime.combine(local.date() - dt.timedelta(days=days), local.time(), tzinfo=zone)
    return wall.astimezone(dt.UTC)


@dataclass(frozen=True)
class Stage:
    name: str  # "booked" or "reminder-7d"
    due_at: dt.datetime

    @property
    def kind(self) -> str:
        if self.name == "booked":
            return NotificationKind.BOOKING_CONFIRMATION
        return NotificationKind.APPOINTMENT_REMINDER


def stages(plan: ReminderPlan, zone: ZoneInfo) -> list[Stage]:
    """The confirmation at booking, then each offset that falls after the booking."""
    found = [Stage("booked", plan.booked_at)]
    for days in sorted(set(conf.value("OFFSETS_DAYS")), reverse=True):
        due = offset_due_at(plan.scheduled_start, days, zone)
        if plan.booked_at < due < plan.scheduled_start:
            found.append(Stage(f"reminder-{days}d", due))
    return sorted(found, key=lambda s: s.due_at)


def appointment_context(
    appointment: Appointment, recipient: Recipient, now: dt.datetime
) -> dict[str, str]:
    """Everything an appointment message may say, for one recipient, as of `now`."""
    patient = appointment.patient
    context = patient_context(recipient, patient, patient.clinic)
    context.update(
        when=format_when(appointment.scheduled_start, recipient.zone),
        date=format_date(appointment.scheduled_start.astimezone(recipient.zone).date()),
        time=format_time(appointment.scheduled_start.astimezone(recipient.zone)),
        days_ahead=days_ahead_text(appointment.scheduled_start, now, recipient.zone),
    )
    return context


def _appointment_drafts(
    appointment: Appointment, stage_name: str, kind: str, now: dt.datetime, cache: dict
) -> list[Draft]:
    patient = appointment.patient
    clinic = patient.clinic
    if not patient.is_active:
        return []
    drafts = []
    for recipient in patient_and_caregivers(patient, patient.caregivers.all()):
        drafts.append(
            draft_for(
                key=(
                    f"appt:{appointment.pk}:{stage_name}:{start_tag(appointment.scheduled_start)}"
                    f":{recipient.tag}"
                ),
                kind=kind,
                stage=stage_name,
                recipient=recipient,
                clinic=clinic,
                context=appointment_context(appointment, recipient, now),
                now=now,
                cache=cache,
                appointment_id=appointment.pk,
            )
        )
    return drafts


def plan_evaluate(
    plan: ReminderPlan, appointment: Appointment, *, now: dt.datetime, cache: dict
) -> tuple[list[Draft], dt.datetime | None]:
    """The messages due for this appointment now, and when to look again."""
    if appointment.scheduled_start != plan.scheduled_start:
        return [], None  # out of date: plans_process syncs it first
    zone = appointment.patient.clinic.tz
    if appointment.status == AppointmentStatus.SCHEDULED:
        if now >= appointment.scheduled_start:
            return [], None  # too late to remind; the sweep marks it missed after the grace
        plan_stages = stages(plan, zone)
        due = [s for s in plan_stages if s.due_at <= now]
        drafts = []
        if due:
            latest = due[-1]
            drafts = _appointment_drafts(appointment, latest.name, latest.kind, now, cache)
        upcoming = [s.due_at for s in plan_stages if s.due_at > now]
        return drafts, (min(upcoming) if upcoming else None)
    recent = now - appointment.scheduled_start <= MISSED_MESSAGE_MAX_AGE
    if appointment.status == AppointmentStatus.MISSED and recent:
        drafts = _appointment_drafts(
            appointment, "missed", NotificationKind.MISSED_APPOINTMENT, now, cache
        )
        return drafts, None
    return [], None


def _booked_at(appointment: Appointment, now: dt.datetime) -> dt.datetime:
    return min(now, appointment.status_changed_at or appointment.created_at or now)


def plan_sync(*, appointment: Appointment, now: dt.datetime) -> ReminderPlan:
    """Bring the appointment's plan in line after a booking, reschedule or status change."""
    plan = ReminderPlan.objects.filter(appointment=appointment).first()
    if plan is None:
        plan = ReminderPlan(
            appointment=appointment,
            scheduled_start=appointment.scheduled_start,
            appointment_status=appointment.status,
            booked_at=_booked_at(appointment, now),
            next_due_at=now,
        )
        try:
            with transaction.atomic():
                plan.save()
            return plan
        except IntegrityError:
            plan = ReminderPlan.objects.get(appointment=appointment)
    moved = plan.scheduled_start != appointment.scheduled_start
    status_changed = plan.appointment_status != appointment.status
    if not (moved or status_changed):
        return plan
    updates = {
        "scheduled_start": appointment.scheduled_start,
        "appointment_status": appointment.status,
        "next_due_at": now,
        "version": F("version") + 1,
    }
    if appointment.status == AppointmentStatus.SCHEDULED and (moved or status_changed):
        updates["booked_at"] = now  # a new date: confirm it, then remind afresh
    ReminderPlan.objects.filter(pk=plan.pk).update(**updates)
    plan.refresh_from_db()
    _cancel_stale(appointment)
    return plan


def _cancel_stale(appointment: Appointment) -> None:
    """Pending messages about an old time or a cancelled/completed appointment are moot."""
    pending = Notification.objects.filter(
        appointment=appointment, status=NotificationStatus.PENDING
    )
    if appointment.status == AppointmentStatus.SCHEDULED:
        pending = pending.exclude(key__contains=f":{start_tag(appointment.scheduled_start)}:")
    elif appointment.status == AppointmentStatus.MISSED:
        pending = pending.exclude(kind=NotificationKind.MISSED_APPOINTMENT)
    cancel_pending(pending, reason="The appointment changed before this was sent")


def plans_process(
    plans: Iterable[ReminderPlan], *, now: dt.datetime, cache: dict | None = None
) -> int:
    """Create the due messages for these plans and move each plan to its next moment."""
    cache = {} if cache is None else cache
    drafts: list[Draft] = []
    moves = []
    for plan in plans:
        appointment = plan.appointment
        if (
            plan.scheduled_start != appointment.scheduled_start
            or plan.appointment_status != appointment.status
        ):
            # Changed without the services (an import, the admin): treat it as a reschedule.
            plan = plan_sync(appointment=appointment, now=now)
        new, next_due = plan_evaluate(plan, appointment, now=now, cache=cache)
        drafts += new
        moves.append((plan.pk, plan.version, next_due))
    with transaction.atomic():
        created = notifications_insert(drafts, now=now)
        for pk, version, next_due in moves:
            # A concurrent plan_sync (reschedule) wins: its plan is looked at again.
            ReminderPlan.objects.filter(pk=pk, version=version).update(
                next_due_at=next_due, version=F("version") + 1
            )
    return created


def plans_due(*, now: dt.datetime, limit: int):
    return (
        ReminderPlan.objects.filter(next_due_at__lte=now)
        .select_related("appointment__patient__clinic")
        .prefetch_related("appointment__patient__caregivers")
        .order_by("next_due_at", "pk")[:limit]
    )


def plans_sync_for_pump(*, pump: Pump, now: dt.datetime, cache: dict | None = None) -> int:
    """After any change to the pump's appointments: sync their plans, send what is due now."""
    appointments = Appointment.objects.filter(pump=pump).filter(
        Q(status__in=[AppointmentStatus.SCHEDULED, AppointmentStatus.MISSED])
        | (Q(reminder_plan__isnull=False) & ~Q(reminder_plan__appointment_status=F("status")))
        | Q(reminder_plan__scheduled_start__lt=F("scheduled_start"))
        | Q(reminder_plan__scheduled_start__gt=F("scheduled_start"))
    )
    due = []
    for appointment in appointments.select_related("patient__clinic"):
        plan = plan_sync(appointment=appointment, now=now)
        if plan.next_due_at is not None and plan.next_due_at <= now:
            plan.appointment = appointment
            due.append(plan)
    return plans_process(due, now=now, cache=cache) if due else 0


def plans_reconcile(*, now: dt.datetime, batch: int = 1000) -> int:
    """Safety net (hourly): plans for appointments written without the services (imports)."""
    fixed = 0
    missing = Appointment.objects.filter(
        status__in=[AppointmentStatus.SCHEDULED, AppointmentStatus.MISSED],
        reminder_plan__isnull=True,
        scheduled_start__gte=now - MISSED_MESSAGE_MAX_AGE,
    ).order_by("pk")
    while True:
        chunk = list(missing.values("pk", "scheduled_start", "status", "created_at")[:batch])
        if not chunk:
            break
        ReminderPlan.objects.bulk_create(
            [
                ReminderPlan(
                    appointment_id=row["pk"],
                    scheduled_start=row["scheduled_start"],
                    appointment_status=row["status"],
                    booked_at=min(now, row["created_at"]),
                    next_due_at=now,
                )
                for row in chunk
            ],
            ignore_conflicts=True,
        )
        fixed += len(chunk)
    stale = Appointment.objects.filter(reminder_plan__isnull=False).filter(
        ~Q(reminder_plan__appointment_status=F("status"))
        | ~Q(reminder_plan__scheduled_start=F("scheduled_start"))
    )
    for appointment in stale.select_related("patient__clinic")[:batch]:
        plan_sync(appointment=appointment, now=now)
        fixed += 1
    return fixed


# --------------------------------------------------------------------------- unbooked nudges

NUDGE_KINDS = (NotificationKind.UNBOOKED_NUDGE, NotificationKind.OVERDUE_CALL)
NO_ACTIVE_PUMP = "The patient has no active pump"
BOOKED = "A refill has been booked"


def nudge_moments(forecast: PumpForecast, zone: ZoneInfo) -> list[tuple[int, dt.datetime]]:
    if forecast.refill_by is None:
        return []
    return [
        (
            days,
            dt.datetime.combine(
                forecast.refill_by - dt.timedelta(days=days), dt.time.min, tzinfo=zone
            ).astimezone(dt.UTC),
        )
        for days in sorted(set(conf.value("UNBOOKED_NUDGE_DAYS")))
    ]


def refill_due_now(forecast: PumpForecast, *, now: dt.datetime, zones: Iterable[ZoneInfo]) -> bool:
    """The refill-by day has come in any of these calendars, or the conservative alarm.

    From then on a "please book before <date>" would name today or a past day: the
    patient is asked to call the clinic today instead.
    """
    if forecast.refill_by is None:
        return False
    if any(forecast.refill_by <= now.astimezone(zone).date() for zone in zones):
        return True
    return forecast.conservative_alarm_at is not None and forecast.conservative_alarm_at <= now


def _nudge_not_needed(pump: Pump, forecast: PumpForecast | None) -> str:
    if pump is None or pump.status != PumpStatus.ACTIVE or forecast is None:
        return NO_ACTIVE_PUMP
    if not pump.patient.is_active:
        return "The patient is no longer under the clinic's care"
    if forecast.next_refill_appointment_id is not None:
        return BOOKED
    if forecast.refill_by is None:
        return "No refill-by date (no fill recorded)"
    return ""


def _withdraw_pending_nudges(
    *, pump: Pump, reason: str, now: dt.datetime, keep: Iterable[str] = ()
) -> int:
    """Pending nudges of this pump whose occasion is gone (their keys do not start with `keep`)."""
    pending = Notification.objects.filter(
        patient_id=pump.patient_id,
        kind__in=NUDGE_KINDS,
        status=NotificationStatus.PENDING,
        key__startswith=f"pump:{pump.pk}:",
    )
    for prefix in keep:
        pending = pending.exclude(key__startswith=prefix)
    return cancel_pending(pending, reason=reason, now=now)


def _nudge_drafts(
    *,
    pump: Pump,
    forecast: PumpForecast,
    stage: str,
    kind: str,
    recipients: Iterable[Recipient],
    now: dt.datetime,
    cache: dict | None,
) -> list[Draft]:
    patient = pump.patient
    clinic = patient.clinic
    drafts = []
    for recipient in recipients:
        context = patient_context(recipient, patient, clinic)
        if kind == NotificationKind.UNBOOKED_NUDGE:
            context["refill_by"] = format_date(forecast.refill_by)
        drafts.append(
            draft_for(
                key=f"pump:{pump.pk}:{stage}:{forecast.refill_by.isoformat()}:{recipient.tag}",
                kind=kind,
                stage=stage,
                recipient=recipient,
                clinic=clinic,
                context=context,
                now=now,
                cache=cache,
            )
        )
    return drafts


def nudges_sync(
    *, forecast: PumpForecast, pump: Pump, now: dt.datetime, cache: dict | None = None
) -> list[dt.datetime]:
    """'Please book' to the patient and caregivers when nothing is booked and refill-by nears.

    Once the refill-by day has come (or the conservative alarm), the message is
    "call the clinic today" instead, never a date that is today or past. Pending
    nudges about an occasion that is gone (booked, refilled, date moved) are
    withdrawn with the reason. Returns the future moments a rule switches on
    (folded into the pump's next review by the hook).
    """
    patient = pump.patient
    why = _nudge_not_needed(pump, forecast)
    if why:
        _withdraw_pending_nudges(pump=pump, reason=why, now=now)
        return []
    clinic = patient.clinic
    refill_by = forecast.refill_by
    tag = refill_by.isoformat()
    if refill_due_now(forecast, now=now, zones=[clinic.tz]):
        _withdraw_pending_nudges(
            pump=pump,
            reason="Replaced by a call-today message: the refill is due now",
            now=now,
            keep=[f"pump:{pump.pk}:overdue:{tag}:"],
        )
        drafts = _nudge_drafts(
            pump=pump,
            forecast=forecast,
            stage="overdue",
            kind=NotificationKind.OVERDUE_CALL,
            recipients=patient_and_caregivers(patient, patient.caregivers.all()),
            now=now,
            cache=cache,
        )
        notifications_insert(drafts, now=now)
        return []
    moments = nudge_moments(forecast, clinic.tz)
    due = [(days, at) for days, at in moments if at <= now]
    future = [at for _, at in moments if at > now]
    # The moment the refill becomes due: the call-today message goes then.
    future.append(dt.datetime.combine(refill_by, dt.time.min, tzinfo=clinic.tz).astimezone(dt.UTC))
    if forecast.conservative_alarm_at is not None:
        future.append(forecast.conservative_alarm_at)
    future = [at for at in future if at > now]
    keep = [f"pump:{pump.pk}:unbooked-{days}d:{tag}:" for days, _ in due]
    _withdraw_pending_nudges(
        pump=pump,
        reason="The refill-by date changed before this was sent",
        now=now,
        keep=keep,
    )
    if not due:
        return future
    days = min(d for d, _ in due)  # the latest due nudge only
    if (
        Notification.objects.filter(
            patient=patient,
            kind=NotificationKind.UNBOOKED_NUDGE,
            created_at__gte=now - NUDGE_MIN_GAP,
        )
        .exclude(status=NotificationStatus.CANCELLED)
        .exists()
    ):
        return future
    drafts = _nudge_drafts(
        pump=pump,
        forecast=forecast,
        stage=f"unbooked-{days}d",
        kind=NotificationKind.UNBOOKED_NUDGE,
        recipients=patient_and_caregivers(patient, patient.caregivers.all()),
        now=now,
        cache=cache,
    )
    notifications_insert(drafts, now=now)
    return future
