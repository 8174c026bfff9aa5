"""Reads for the refills app: the program in effect, the fill a forecast starts from.

The one place for each of these reads; services and pages call them instead of
writing the query again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

from django.utils import timezone

from patients.models import Clinic, ClinicClosure, Pump
from refills.forecast import Fill, ProgramChange
from refills.models import (
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    DrugProduct,
    DrugProgram,
    PumpForecast,
    PumpReport,
    Refill,
)
from refills.policy import policy_value
from refills.scheduling import Busy, ClinicHours, Closure, Diary, Proposals, propose_slots


def program_in_effect(*, pump: Pump, at: dt.datetime) -> DrugProgram | None:
    """The program the pump runs at ``at`` (with its drug): the one place for this read."""
    return (
        DrugProgram.objects.filter(pump=pump, effective_from__lte=at)
        .select_related("drug_product")
        .order_by("-effective_from")
        .first()
    )


def next_program_change_at(*, pump: Pump, after: dt.datetime) -> dt.datetime | None:
    """When the next program already entered for later takes effect (a pump stopped or
    restarted then), or None."""
    return (
        DrugProgram.objects.filter(pump=pump, effective_from__gt=after)
        .order_by("effective_from")
        .values_list("effective_from", flat=True)
        .first()
    )


def programs_in_window(*, pump: Pump, start: dt.datetime, end: dt.datetime) -> list[DrugProgram]:
    """The programs in effect at any moment from ``start`` to ``end``, oldest first.

    The program in effect at ``start`` (if any) and every program that took effect
    after it up to and including ``end``: what a dose change at ``end`` is measured
    against (domain.md §7.2 #4, #9).
    """
    programs = list(
        DrugProgram.objects.filter(
            pump=pump, effective_from__gt=start, effective_from__lte=end
        ).order_by("effective_from", "pk")
    )
    at_start = program_in_effect(pump=pump, at=start)
    return ([at_start] if at_start is not None else []) + programs


def catalogue_strengths() -> list[Decimal]:
    """The strengths of the active catalogue products, custom dilutions aside."""
    return list(
        DrugProduct.objects.filter(is_active=True, is_custom_dilution=False).values_list(
            "concentration_mcg_per_ml", flat=True
        )
    )


def stored_forecast(*, pump: Pump) -> PumpForecast | None:
    """The pump's stored forecast (refills.services.forecast writes it), or None."""
    return PumpForecast.objects.filter(pump=pump).first()


def latest_refill(*, pump: Pump, before: dt.datetime | None = None) -> Refill | None:
    qs = Refill.objects.filter(pump=pump)
    if before is not None:
        qs = qs.filter(performed_at__lt=before)
    return qs.select_related("program").order_by("-performed_at").first()


def fill_from_refill(
    refill: Refill, *, empty_volume_ml: Decimal, tz, alarm_volume_ml: Decimal | None = None
) -> Fill:
    """The fill a refill made. ``alarm_volume_ml`` overrides the alarm set at the refill
    (the pump's alarm may have been reprogrammed since, e.g. raised to 4 mL)."""
    # In the clinic's zone, so calendar dates (refill-by) are the clinic's dates.
    return Fill(
        filled_at=refill.performed_at.astimezone(tz),
        volume_ml=refill.volume_in_reservoir_ml,
        concentration_mcg_per_ml=refill.concentration_mcg_per_ml,
        daily_dose_mcg=refill.program.daily_dose_mcg,
        alarm_volume_ml=(
            alarm_volume_ml if alarm_volume_ml is not None else refill.alarm_volume_ml
        ),
        oneoff_ml=refill.bridge_bolus_ml or Decimal(0),
        empty_volume_ml=empty_volume_ml,
    )


def current_fill(*, pump: Pump, at: dt.datetime | None = None) -> tuple[Fill | None, Refill | None]:
    """The last refill (before ``at``) with its program history, and the refill behind it.

    A program change between refills (a dose change at a clinic visit) adds no
    drug: it is a new rate segment of the same fill. The projection runs through
    every segment, so the fast-pump allowance covers everything delivered since
    the refill (domain §7.1 #6).
    """
    refill = latest_refill(pump=pump, before=at)
    if refill is None:
        return None, None
    tz = pump.patient.clinic.tz
    # The alarm sounds at the volume the pump is programmed with now, not at the refill.
    fill = fill_from_refill(
        refill,
        empty_volume_ml=pump.model.empty_volume_ml,
        tz=tz,
        alarm_volume_ml=pump.alarm_volume_ml,
    )
    changes = DrugProgram.objects.filter(pump=pump, effective_from__gt=refill.performed_at)
    if at is not None:
        changes = changes.filter(effective_from__lte=at)
    history = tuple(
        ProgramChange(at=change.effective_from.astimezone(tz), daily_dose_mcg=change.daily_dose_mcg)
        for change in changes.order_by("effective_from")
    )
    if history:
        fill = replace(fill, program_changes=history)
    return fill, refill


def next_refill_appointment(*, pump: Pump, after: dt.datetime | None = None) -> Appointment | None:
    qs = Appointment.objects.filter(
        pump=pump, kind=AppointmentKind.REFILL, status=AppointmentStatus.SCHEDULED
    )
    if after is not None:
        qs = qs.filter(scheduled_start__gte=after)
    return qs.order_by("scheduled_start").first()


def other_scheduled_refills(*, pump: Pump, exclude_id: int | None = None) -> list[Appointment]:
    """The pump's scheduled refill appointments, soonest first (``exclude_id`` left out)."""
    qs = Appointment.objects.filter(
        pump=pump, kind=AppointmentKind.REFILL, status=AppointmentStatus.SCHEDULED
    )
    if exclude_id is not None:
        qs = qs.exclude(pk=exclude_id)
    return list(qs.order_by("scheduled_start"))


def missed_refill_since(*, pump: Pump, since: dt.datetime | None) -> bool:
    """A refill appointment was missed after ``since`` (the last refill; None: ever)."""
    missed = Appointment.objects.filter(
        pump=pump, kind=AppointmentKind.REFILL, status=AppointmentStatus.MISSED
    )
    if since is not None:
        missed = missed.filter(scheduled_start__gt=since)
    return missed.exists()


def open_report_kinds(*, pump: Pump) -> set[str]:
    """The kinds of the pump's reports (alarms, symptoms) not yet resolved."""
    return set(
        PumpReport.objects.filter(pump=pump, resolved_at__isnull=True).values_list(
            "kind", flat=True
        )
    )


def replacement_dates(*, pump: Pump) -> tuple[dt.date, ...]:
    """Every planned replacement date: the pump's own, and each scheduled replacement
    appointment's day in the clinic zone. refills.risk.replacement_plan says which count."""
    tz = pump.patient.clinic.tz
    dates = {
        start.astimezone(tz).date()
        for start in Appointment.objects.filter(
            pump=pump, kind=AppointmentKind.REPLACEMENT, status=AppointmentStatus.SCHEDULED
        ).values_list("scheduled_start", flat=True)
    }
    if pump.planned_replacement_on:
        dates.add(pump.planned_replacement_on)
    return tuple(sorted(dates))


# How far back an unexplained discrepancy is looked for across refills without a
# reconciliation (a first fill, a refill after a gap): enough for years of refills.
DISCREPANCY_LOOKBACK_REFILLS = 24


def outstanding_discrepancy(*, pump: Pump) -> Refill | None:
    """The refill whose flagged discrepancy is still unexplained, if any (domain §8).

    Newest first: a refill that reconciled within tolerance, or whose discrepancy
    was explained with its evidence, settles it; a flagged one that was not
    explained (work-up ordered, "observe at the next refill"...) is outstanding.
    A refill with no reconciliation (no expected residual) says nothing either way,
    so the flag carries across it.
    """
    refills = Refill.objects.filter(pump=pump).order_by("-performed_at")[
        :DISCREPANCY_LOOKBACK_REFILLS
    ]
    for refill in refills:
        if refill.discrepancy_flagged:
            return None if refill.discrepancy_explained else refill
        if refill.expected_residual_ml is not None or refill.discrepancy_ml is not None:
            return None
    return None


# --------------------------------------------------------------------------- the clinic's diary
# What the booking rules (refills/scheduling.py, pure) need from the database: the clinic's
# closures and the slots already taken. Services and pages call these, never the query.

# The longest appointment a form accepts: a booking that started this long before a
# window can still run into it.
LONGEST_APPOINTMENT = dt.timedelta(minutes=480)


def clinic_closures(*, clinic: Clinic, from_day: dt.date | None = None) -> list[ClinicClosure]:
    """The clinic's closures, in date order; only those not over by ``from_day`` if given."""
    closures = ClinicClosure.objects.filter(clinic=clinic).order_by("first_day")
    if from_day is not None:
        closures = closures.filter(last_day__gte=from_day)
    return list(closures)


def closure_reason_on(*, clinic: Clinic, day: dt.date) -> str:
    """The reason of the clinic's closure covering ``day``, or "" when none does."""
    closure = ClinicClosure.objects.filter(
        clinic=clinic, first_day__lte=day, last_day__gte=day
    ).first()
    return closure.reason if closure is not None else ""


def clinic_hours(*, clinic: Clinic, from_day: dt.date) -> ClinicHours:
    """The clinic's working days, opening hours and its closures from ``from_day`` on."""
    closures = tuple(
        Closure(first_day=c.first_day, last_day=c.last_day, reason=c.reason)
        for c in clinic_closures(clinic=clinic, from_day=from_day)
    )
    return ClinicHours.of(clinic, closures=closures)


def occupied_slots(
    *,
    clinic: Clinic,
    start: dt.datetime,
    end: dt.datetime,
    exclude_appointment_id: int | None = None,
) -> list[Busy]:
    """Scheduled appointments of the clinic's patients that overlap [start, end), as
    (start, end) instants: every kind counts, as each takes a room and a nurse."""
    rows = Appointment.objects.filter(
        patient__clinic=clinic,
        status=AppointmentStatus.SCHEDULED,
        scheduled_start__lt=end,
        scheduled_start__gt=start - LONGEST_APPOINTMENT,
    )
    if exclude_appointment_id is not None:
        rows = rows.exclude(pk=exclude_appointment_id)
    taken = []
    for begins, minutes in rows.values_list("scheduled_start", "duration_minutes"):
        ends = begins + dt.timedelta(minutes=minutes)
        if ends > start:
            taken.append(Busy(begins, ends))
    return taken


def scheduled_on_days(*, clinic: Clinic, first_day: dt.date, last_day: dt.date) -> int:
    """How many scheduled appointments of the clinic fall on these days (clinic calendar)."""
    zone = clinic.tz
    start = dt.datetime.combine(first_day, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    return Appointment.objects.filter(
        patient__clinic=clinic,
        status=AppointmentStatus.SCHEDULED,
        scheduled_start__gte=start,
        scheduled_start__lt=end,
    ).count()


def clinic_flags(*, clinic: Clinic, appointments: list[Appointment]) -> dict[int, str]:
    """Why each booked visit no longer fits the clinic, by appointment id: a closure on
    its day (it must be rebooked), or a weekday or hours the clinic no longer keeps (its
    settings changed since). One query for the closures, however many visits (none too,
    so a page's query count does not move)."""
    zone = clinic.tz
    first = min(
        (timezone.localtime(a.scheduled_start, zone).date() for a in appointments),
        default=timezone.localdate(timezone=zone),
    )
    hours = clinic_hours(clinic=clinic, from_day=first)
    flags = {}
    for appointment in appointments:
        local = timezone.localtime(appointment.scheduled_start, zone)
        closure = hours.closure_on(local.date())
        if closure is not None:
            flags[appointment.pk] = f"Booked on a closed day ({closure.reason}): rebook."
        elif not hours.works_on_weekday(local.date()) or not hours.fits_in_hours(
            local, appointment.duration_minutes
        ):
            flags[appointment.pk] = (
                "Outside the clinic's working days or hours (the settings changed since it "
                "was booked, or it was booked with a reason): check with the patient."
            )
    return flags


def scheduled_outside_hours(*, clinic: Clinic, now: dt.datetime) -> list[Appointment]:
    """The clinic's scheduled appointments still ahead that fall on a weekday it does not
    work, or do not fit inside its opening hours (a closure is counted on its own). Soonest
    first. A loop over the clinic's future bookings, not over its patients."""
    today = timezone.localtime(now, clinic.tz).date()
    hours = clinic_hours(clinic=clinic, from_day=today)
    found = []
    for appointment in Appointment.objects.filter(
        patient__clinic=clinic, status=AppointmentStatus.SCHEDULED, scheduled_start__gte=now
    ).order_by("scheduled_start"):
        local = timezone.localtime(appointment.scheduled_start, clinic.tz)
        if not hours.works_on_weekday(local.date()) or not hours.fits_in_hours(
            local, appointment.duration_minutes
        ):
            found.append(appointment)
    return found


def clinic_diary(
    *,
    clinic: Clinic,
    start: dt.datetime,
    end: dt.datetime,
    exclude_appointment_id: int | None = None,
) -> Diary:
    """The slots taken between ``start`` and ``end``, with the policy's capacity and visit
    length (PUMPTRACK_POLICY BOOKING_CONCURRENT_APPOINTMENTS, APPOINTMENT_MINUTES)."""
    return Diary(
        taken=tuple(
            occupied_slots(
                clinic=clinic, start=start, end=end, exclude_appointment_id=exclude_appointment_id
            )
        ),
        capacity=int(policy_value("BOOKING_CONCURRENT_APPOINTMENTS")),
        minutes=int(policy_value("APPOINTMENT_MINUTES")),
    )


# How far past the refill-by date the proposal reads the diary: when nothing is free
# before it, the earliest free slot after it is proposed instead.
PROPOSAL_LOOKAHEAD = dt.timedelta(days=62)


def refill_proposals(*, clinic: Clinic, refill_by: dt.date, now: dt.datetime) -> Proposals:
    """The refill appointments to propose (refills.scheduling.propose_slots) for this
    clinic's hours, closures and booked slots."""
    zone = clinic.tz
    today = now.astimezone(zone).date()
    horizon = dt.datetime.combine(max(refill_by, today), dt.time.min, tzinfo=zone)
    return propose_slots(
        refill_by=refill_by,
        now=now,
        zone=zone,
        hours=clinic_hours(clinic=clinic, from_day=today),
        diary=clinic_diary(clinic=clinic, start=now, end=horizon + PROPOSAL_LOOKAHEAD),
        buffer_days=int(policy_value("PROPOSAL_BUFFER_DAYS")),
        earlier_count=int(policy_value("PROPOSAL_EARLIER_OPTIONS")),
    )
