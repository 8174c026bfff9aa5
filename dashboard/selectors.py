"""Reads sized for the staff pages.

Every clinical row is reached through accounts.access (patients_for / scoped),
so another clinic's row is never returned. Lists read the stored forecast
columns; the only forecast maths at read time is the refresh of the few rows
whose ``reassess_at`` has passed (the sweep would have done it) and the one
patient's chart.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Case, CharField, Count, F, Q, QuerySet, Value, When
from django.utils import timezone

from accounts.access import PERMISSIONS, clinics_for, role_in, scoped
from accounts.models import Membership, User
from patients.models import Caregiver, Clinic, Patient, Pump, PumpModel, PumpStatus
from pumptrack.history import changed_fields
from refills.clock import ClockChange, clock_change_near
from refills.forecast import conservative_volume_ml, projected_volume_ml
from refills.models import (
    Appointment,
    AppointmentStatus,
    DosingMode,
    DrugProgram,
    PumpForecast,
    PumpReport,
    Refill,
)
from refills.policy import flow_accuracy_for, policy_value
from refills.selectors import current_fill
from refills.services import forecast_refresh
from refills.validation import fmt

from . import alerts as alert_source
from .chart import Marker, ReservoirChart, ResidualMark, render_svg
from .dates import ShownDates, shown_dates

logger = logging.getLogger(__name__)

# How many stale tiers one page view may recompute before it says the sweep is behind.
STALE_REFRESH_LIMIT = 100


# --------------------------------------------------------------------------- access


def allowed_actions(user: User, clinic: Clinic) -> frozenset[str]:
    """Every action of accounts.access.PERMISSIONS the user may take at the clinic (1 query)."""
    role = role_in(user, clinic)
    if role is None:
        return frozenset()
    return frozenset(action for action, roles in PERMISSIONS.items() if role in roles)


def user_clinics(user: User) -> list[Clinic]:
    return list(clinics_for(user).order_by("name"))


def clinic_today(clinic: Clinic, now: dt.datetime | None = None) -> dt.date:
    return timezone.localtime(now or timezone.now(), clinic.tz).date()


def clinic_staff(clinic: Clinic, *roles: str) -> QuerySet[User]:
    """Active staff of the clinic, optionally only those whose role AT THIS CLINIC is one of
    `roles`. One Membership query: chaining .filter() over the multi-valued memberships
    relation would let a role held at another clinic qualify a user here."""
    memberships = Membership.objects.filter(clinic=clinic)
    if roles:
        memberships = memberships.filter(role__in=roles)
    return User.objects.filter(is_active=True, pk__in=memberships.values("user_id")).order_by(
        "last_name", "first_name", "username"
    )


# --------------------------------------------------------------------------- the board

GROUPS: tuple[tuple[str, str], ...] = (
    ("overdue", "Refill overdue"),
    ("7", "Due within 7 days"),
    ("14", "Due within 14 days"),
    ("30", "Due within 30 days"),
    ("later", "Due later"),
    ("nofill", "No fill recorded"),
)
GROUP_LABELS = dict(GROUPS)
# For the narrow board column; the chips and the filter use the long labels.
GROUP_SHORT_LABELS = {
    "overdue": "Overdue",
    "7": "Due ≤ 7 days",
    "14": "Due ≤ 14 days",
    "30": "Due ≤ 30 days",
    "later": "Due later",
    "nofill": "No fill",
}
# Upper bounds (days from the clinic's today to the refill-by date) of the dated groups.
GROUP_BOUNDS = (("7", 7), ("14", 14), ("30", 30))

BOOKED_CHOICES = (
    ("in-time", "Booked before refill-by"),
    ("late", "Booked after refill-by"),
    ("none", "Not booked"),
)


@dataclass(frozen=True)
class BoardFilters:
    tier: int | None = None
    group: str = ""
    pump_model: int | None = None
    booked: str = ""
    q: str = ""


def _group_case(clinics: list[Clinic], now: dt.datetime) -> Case:
    """The days-left group, computed in SQL from each clinic's own today.

    One WHEN per clinic and group: a user works for a handful of clinics, and
    each clinic's calendar date differs when they sit in different zones.
    """
    whens = []
    for clinic in clinics:
        today = clinic_today(clinic, now)
        at_clinic = Q(pump__patient__clinic_id=clinic.pk)
        whens.append(When(at_clinic & Q(refill_by__isnull=True), then=Value("nofill")))
        whens.append(When(at_clinic & Q(refill_by__lt=today), then=Value("overdue")))
        for name, days in GROUP_BOUNDS:
            whens.append(
                When(
                    at_clinic & Q(refill_by__lte=today + dt.timedelta(days=days)),
                    then=Value(name),
                )
            )
    return Case(*whens, default=Value("later"), output_field=CharField())


def board_refresh_stale(user: User, *, now: dt.datetime | None = None) -> tuple[list[int], int]:
    """Re-tier the user's pumps whose reassess moment has passed (or that have no forecast).

    The sweep normally does this; when the worker or beat is down the board
    must not show yesterday's tier. Returns the refreshed pump ids and how many
    stale rows were left for lack of time (a sign the sweep is far behind).
    """
    now = now or timezone.now()
    active = scoped(user, Pump.objects.filter(status=PumpStatus.ACTIVE), "patient__clinic")
    stale = list(
        active.filter(Q(forecast__reassess_at__lte=now) | Q(forecast__isnull=True))
        .order_by("pk")
        .values_list("pk", flat=True)[: STALE_REFRESH_LIMIT + 1]
    )
    left = max(0, len(stale) - STALE_REFRESH_LIMIT)
    refreshed = stale[:STALE_REFRESH_LIMIT]
    for pump_id in refreshed:
        forecast_refresh(pump=Pump(pk=pump_id), now=now)
    if refreshed:
        logger.info("board re-tiered %d stale forecasts: pump ids %s", len(refreshed), refreshed)
    return refreshed, left


def board_queryset(
    user: User, filters: BoardFilters, *, clinics: list[Clinic], now: dt.datetime | None = None
) -> QuerySet[PumpForecast]:
    """Every active pump the user may see, with its stored forecast, ready to page."""
    now = now or timezone.now()
    qs = scoped(
        user,
        PumpForecast.objects.filter(pump__status=PumpStatus.ACTIVE),
        "pump__patient__clinic",
    )
    qs = qs.select_related(
        "pump__patient__clinic", "pump__model", "next_refill_appointment"
    ).annotate(due_group=_group_case(clinics, now))
    qs = alert_source.annotate_open_alerts(qs, pump_path="pump")
    qs = _apply_search(qs, filters.q)
    if filters.tier:
        qs = qs.filter(risk_tier=filters.tier)
    if filters.pump_model:
        qs = qs.filter(pump__model_id=filters.pump_model)
    if filters.booked == "in-time":
        qs = qs.filter(booked_before_refill_by=True)
    elif filters.booked == "late":
        qs = qs.filter(next_refill_appointment__isnull=False, booked_before_refill_by=False)
    elif filters.booked == "none":
        qs = qs.filter(next_refill_appointment__isnull=True)
    if filters.group:
        qs = qs.filter(due_group=filters.group)
    return qs.order_by(
        "-risk_tier", F("conservative_alarm_at").asc(nulls_last=True), "pump__patient__family_name"
    )


def _apply_search(qs: QuerySet, text: str) -> QuerySet:
    """Every word must match the MRN, the first name or the last name."""
    for word in text.split()[:5]:
        qs = qs.filter(
            Q(pump__patient__mrn__istartswith=word)
            | Q(pump__patient__given_name__icontains=word)
            | Q(pump__patient__family_name__icontains=word)
        )
    return qs


def board_group_counts(qs: QuerySet[PumpForecast]) -> dict[str, int]:
    """Rows per days-left group for the filter chips (one query)."""
    counts = dict.fromkeys(GROUP_LABELS, 0)
    for row in qs.order_by().values("due_group").annotate(n=Count("pk")):
        counts[row["due_group"]] = row["n"]
    return counts


def pump_models() -> list[PumpModel]:
    return list(PumpModel.objects.order_by("manufacturer", "model_number"))


# --------------------------------------------------------------------------- the patient page


@dataclass
class HistoryEntry:
    at: dt.datetime
    what: str
    action: str
    by: str
    changes: list[str] = field(default_factory=list)


HISTORY_LIMIT = 40
HISTORY_SKIP_FIELDS = {"id", "created_at", "updated_at", "status_changed_at"}


def _history_entries(records, label: str) -> list[HistoryEntry]:
    """Turn simple-history rows of one model into readable entries (no extra queries)."""
    entries: list[HistoryEntry] = []
    previous: dict[int, object] = {}
    for record in sorted(records, key=lambda r: (r.history_date, r.history_id)):
        before = previous.get(record.id)
        changes: list[str] = []
        if record.history_type == "~" and before is not None:
            changed = changed_fields(record, before, skip=HISTORY_SKIP_FIELDS)
            changes = [str(model_field.verbose_name) for model_field in changed]
        action = {"+": "created", "~": "changed", "-": "deleted"}.get(record.history_type, "")
        user = record.history_user
        entries.append(
            HistoryEntry(
                at=record.history_date,
                what=label,
                action=action,
                by=(user.get_full_name() or user.get_username()) if user else "system",
                changes=changes,
            )
        )
        previous[record.id] = record
    return entries


def patient_history(patient: Patient, pump_ids: list[int]) -> list[HistoryEntry]:
    """The patient's change history from the simple-history tables (one query per table)."""
    sources = [
        (Patient.history.filter(id=patient.pk), "Patient details"),
        (Caregiver.history.filter(patient_id=patient.pk), "Caregiver"),
        (Pump.history.filter(patient_id=patient.pk), "Pump"),
        (DrugProgram.history.filter(pump_id__in=pump_ids), "Drug program"),
        (Refill.history.filter(pump_id__in=pump_ids), "Refill"),
        (Appointment.history.filter(patient_id=patient.pk), "Appointment"),
        (PumpReport.history.filter(pump_id__in=pump_ids), "Pump report"),
    ]
    entries: list[HistoryEntry] = []
    for queryset, label in sources:
        rows = list(queryset.select_related("history_user").order_by("-history_date")[:200])
        entries += _history_entries(rows, label)
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:HISTORY_LIMIT]


@dataclass
class PatientPage:
    patient: Patient
    caregivers: list[Caregiver]
    pumps: list[Pump]
    pump: Pump | None
    forecast: PumpForecast | None
    program: DrugProgram | None
    refills: list[Refill]
    upcoming: list[Appointment]
    past_appointments: list[Appointment]
    alerts: list
    notifications: list
    history: list[HistoryEntry]
    clock_change: ClockChange | None = None
    # Each date shown, flagged when passed in the clinic's today or beyond end of service.
    dates: ShownDates | None = None


REFILL_HISTORY_LIMIT = 12


def patient_page(patient: Patient, *, now: dt.datetime | None = None) -> PatientPage:
    now = now or timezone.now()
    caregivers = list(patient.caregivers.all())
    pumps = list(patient.pumps.select_related("model", "forecast").order_by("-implanted_on"))
    pump = next((p for p in pumps if p.status == PumpStatus.ACTIVE), None)
    forecast = getattr(pump, "forecast", None) if pump else None
    if (
        pump is not None
        and forecast is not None
        and forecast.reassess_at
        and (forecast.reassess_at <= now)
    ):
        # The worker is behind: the page tells today's truth, not the stored one.
        forecast = forecast_refresh(pump=pump, now=now)
    program = None
    if pump is not None:
        program = (
            DrugProgram.objects.filter(pump=pump, effective_from__lte=now)
            .select_related("drug_product")
            .order_by("-effective_from")
            .first()
        )
    pump_ids = [p.pk for p in pumps]
    refills = list(
        Refill.objects.filter(pump_id__in=pump_ids)
        .select_related("drug_product", "performed_by", "program")
        .order_by("-performed_at")[:REFILL_HISTORY_LIMIT]
    )
    appointments = list(
        Appointment.objects.filter(patient=patient)
        .select_related("booked_by")
        .order_by("-scheduled_start")[:60]
    )
    upcoming = sorted(
        (a for a in appointments if a.status == AppointmentStatus.SCHEDULED),
        key=lambda a: a.scheduled_start,
    )
    past = [a for a in appointments if a.status != AppointmentStatus.SCHEDULED][:20]
    return PatientPage(
        patient=patient,
        caregivers=caregivers,
        pumps=pumps,
        pump=pump,
        forecast=forecast,
        program=program,
        refills=refills,
        upcoming=upcoming,
        past_appointments=past,
        alerts=alert_source.alerts_for_patient(patient),
        notifications=alert_source.notifications_for_patient(patient),
        history=patient_history(patient, pump_ids),
        clock_change=clock_change_notice(pump, program, now=now) if pump else None,
        dates=pump_dates(pump, forecast, now=now) if pump else None,
    )


def pump_dates(pump: Pump, forecast: PumpForecast | None, *, now: dt.datetime) -> ShownDates:
    """The pump's projected and device-life dates, flagged for the clinic's today (no query
    beyond the pump's model and clinic)."""
    return shown_dates(
        now=now,
        zone=pump.patient.clinic.tz,
        refill_by=forecast.refill_by if forecast else None,
        conservative_alarm_at=forecast.conservative_alarm_at if forecast else None,
        alarm_at=forecast.alarm_at if forecast else None,
        # The earlier, fast-pump empty date: "may be empty" must not come days late.
        # Forecasts stored before it existed fall back to the nominal one.
        empty_at=(forecast.conservative_empty_at or forecast.empty_at) if forecast else None,
        next_refill_at=forecast.next_refill_at if forecast else None,
        eri_on=pump.eri_on,
        eri_to_eos_days=pump.model.eri_to_eos_days,
        shutdown_on=pump.shutdown_on,
    )


def clock_change_notice(
    pump: Pump, program: DrugProgram | None, *, now: dt.datetime | None = None
) -> ClockChange | None:
    """A daylight-saving change near today in the pump clock's zone, when the program
    doses by the clock (flex steps or scheduled boluses): staff check the pump clock.
    """
    if program is None:
        return None
    if program.mode != DosingMode.FLEX and not program.boluses_per_day:
        return None
    return clock_change_near(
        pump.clock_tz,
        now or timezone.now(),
        days_before=policy_value("CLOCK_CHANGE_NOTICE_DAYS_BEFORE"),
        days_after=policy_value("CLOCK_CHANGE_NOTICE_DAYS_AFTER"),
    )


def active_pump(patient: Patient) -> Pump | None:
    return (
        patient.pumps.filter(status=PumpStatus.ACTIVE)
        .select_related("model", "patient__clinic")
        .first()
    )


def current_program(pump: Pump, *, at: dt.datetime | None = None) -> DrugProgram | None:
    return (
        DrugProgram.objects.filter(pump=pump, effective_from__lte=at or timezone.now())
        .select_related("drug_product")
        .order_by("-effective_from")
        .first()
    )


def stored_forecast(pump: Pump) -> PumpForecast | None:
    return PumpForecast.objects.filter(pump=pump).first()


# --------------------------------------------------------------------------- calendar


def appointments_between(
    user: User, start: dt.datetime, end: dt.datetime, *, clinic: Clinic
) -> list[Appointment]:
    qs = scoped(user, Appointment.objects.all(), "patient__clinic").filter(
        patient__clinic=clinic, scheduled_start__gte=start, scheduled_start__lt=end
    )
    return list(
        qs.exclude(status=AppointmentStatus.CANCELLED)
        .select_related("patient", "pump__model", "pump__forecast")
        .order_by("scheduled_start")
    )


@dataclass(frozen=True)
class WeekDue:
    start: dt.date
    end: dt.date
    due: int
    unbooked: int


def refills_due_by_week(
    user: User, *, clinic: Clinic, today: dt.date, weeks: int = 12
) -> tuple[int, list[WeekDue]]:
    """Active pumps whose refill-by date falls in each of the next weeks (one query).

    Returns the overdue count (refill-by before today) and one row per week
    starting on today's Monday.
    """
    monday = today - dt.timedelta(days=today.weekday())
    qs = scoped(
        user,
        PumpForecast.objects.filter(pump__status=PumpStatus.ACTIVE, pump__patient__clinic=clinic),
        "pump__patient__clinic",
    )
    aggregates = {"overdue": Count("pk", filter=Q(refill_by__lt=today))}
    for week in range(weeks):
        start = monday + dt.timedelta(weeks=week)
        end = start + dt.timedelta(days=6)
        in_week = Q(refill_by__gte=max(start, today), refill_by__lte=end)
        aggregates[f"due_{week}"] = Count("pk", filter=in_week)
        aggregates[f"unbooked_{week}"] = Count(
            "pk", filter=in_week & Q(booked_before_refill_by=False)
        )
    totals = qs.aggregate(**aggregates)
    rows = [
        WeekDue(
            start=monday + dt.timedelta(weeks=week),
            end=monday + dt.timedelta(weeks=week, days=6),
            due=totals[f"due_{week}"],
            unbooked=totals[f"unbooked_{week}"],
        )
        for week in range(weeks)
    ]
    return totals["overdue"], rows


# --------------------------------------------------------------------------- emergency card

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


# --------------------------------------------------------------------------- alerts


def members_for_assignment(clinic: Clinic) -> QuerySet[User]:
    """Colleagues an alert can be given to: those whose role may act on alerts."""
    return clinic_staff(clinic, *PERMISSIONS["act_on_alerts"])


# --------------------------------------------------------------------------- the chart

CHART_SAMPLES = 48
CHART_MAX_DAYS = 220


def reservoir_chart(
    pump: Pump,
    forecast: PumpForecast | None,
    refills: list[Refill],
    appointments: list[Appointment],
    *,
    now: dt.datetime | None = None,
) -> str | None:
    """The patient's reservoir chart as SVG, or None before the first fill.

    This is the one place the dashboard runs forecast maths at read time: one
    pump, for a picture. The stored forecast still supplies every date shown.
    """
    now = now or timezone.now()
    if forecast is None or forecast.anchor_at is None:
        return None
    fill, _ = current_fill(pump=pump)
    if fill is None:
        return None
    zone = pump.patient.clinic.tz
    own = sorted((r for r in refills if r.pump_id == pump.pk), key=lambda r: r.performed_at)[-4:]
    start = min([fill.filled_at, *(r.performed_at for r in own)]) - dt.timedelta(days=3)
    refill_by_at = (
        dt.datetime.combine(forecast.refill_by, dt.time(12), tzinfo=zone)
        if forecast.refill_by
        else None
    )
    horizon = [now, *(a.scheduled_start for a in appointments)]
    horizon += [x for x in (forecast.empty_at, forecast.alarm_at, refill_by_at) if x]
    end = max(horizon) + dt.timedelta(days=7)
    end = min(end, fill.filled_at + dt.timedelta(days=CHART_MAX_DAYS))
    end = max(end, now + dt.timedelta(days=3))

    step = (end - fill.filled_at) / CHART_SAMPLES
    instants = sorted(
        {fill.filled_at + step * i for i in range(CHART_SAMPLES + 1)}
        | {
            x
            for x in (
                forecast.alarm_at,
                forecast.conservative_alarm_at,
                forecast.empty_at,
                forecast.conservative_empty_at,
            )
            if x and fill.filled_at <= x <= end
        }
    )
    accuracy = flow_accuracy_for(pump.model)
    projection = tuple((t, projected_volume_ml(fill, t)) for t in instants)
    # The fast-pump allowance over everything since the refill, across program changes.
    conservative = tuple((t, conservative_volume_ml(fill, t, accuracy=accuracy)) for t in instants)

    segments = []
    residuals = []
    for earlier, later in zip(own, own[1:], strict=False):
        if later.expected_residual_ml is not None:
            segments.append(
                (
                    (earlier.performed_at, earlier.resulting_volume_ml),
                    (later.performed_at, later.expected_residual_ml),
                )
            )
    for refill in own:
        if refill.expected_residual_ml is None:
            continue
        residuals.append(
            ResidualMark(
                at=refill.performed_at,
                actual_ml=refill.actual_residual_ml + refill.residual_left_ml,
                expected_ml=refill.expected_residual_ml,
                flagged=refill.discrepancy_flagged,
            )
        )
    markers = [Marker(at=now, label="today", kind="today")]
    if refill_by_at:
        markers.append(Marker(at=refill_by_at, label="refill by", kind="refill-by"))
    for appointment in appointments:
        markers.append(
            Marker(
                at=appointment.scheduled_start,
                label=appointment.get_kind_display().lower(),
                kind="appointment",
            )
        )
    chart = ReservoirChart(
        start=start,
        end=end,
        capacity_ml=pump.model.reservoir_capacity_ml,
        alarm_ml=pump.alarm_volume_ml,
        empty_ml=pump.model.empty_volume_ml,
        zone=zone,
        projection=projection,
        conservative=conservative,
        past_segments=tuple(segments),
        residuals=tuple(residuals),
        markers=tuple(markers),
        alarm_at=forecast.alarm_at,
        conservative_alarm_at=forecast.conservative_alarm_at,
        empty_at=forecast.empty_at,
        conservative_empty_at=forecast.conservative_empty_at,
        title=f"Reservoir volume of the {pump.model.name} (mL)",
    )
    return render_svg(chart)


# --------------------------------------------------------------------------- pump reports


@dataclass
class PatientReports:
    open: list[PumpReport]
    resolved: list[PumpReport]


RESOLVED_REPORTS_SHOWN = 5


def patient_reports(patient: Patient) -> PatientReports:
    """The patient's open alarm and symptom reports, and the latest resolved (2 queries)."""
    reports = PumpReport.objects.filter(pump__patient=patient).select_related("recorded_by")
    return PatientReports(
        open=list(reports.filter(resolved_at__isnull=True).order_by("-reported_at")),
        resolved=list(
            reports.filter(resolved_at__isnull=False).order_by("-resolved_at")[
                :RESOLVED_REPORTS_SHOWN
            ]
        ),
    )
