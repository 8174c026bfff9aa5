"""The patient page: the patient, pumps, stored forecast, program, refills,
appointments, alerts, messages, change history and pump reports."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils import timezone

from patients.models import Caregiver, Patient, Pump, PumpStatus
from patients.reachability import patient_is_reachable
from pumptrack.history import changed_fields
from refills.clock import ClockChange, clock_change_near
from refills.models import (
    Appointment,
    AppointmentStatus,
    DosingMode,
    DrugProgram,
    Override,
    PumpForecast,
    PumpReport,
    Refill,
    ReportKind,
)
from refills.policy import policy_value
from refills.selectors import clinic_flags, program_in_effect
from refills.shown_dates import ShownDates, shown_dates
from reminders import selectors as reminder_selectors


def _attach_booking_overrides(patient: Patient, appointments: list[Appointment]) -> None:
    """The reasons given to book outside hours, on a closed day, in a taken slot or after
    the refill-by date, with who gave them, as ``booking_overrides`` on each appointment.
    One query whether or not anything is booked, so the page's count does not move."""
    by_appointment: dict[int, list[Override]] = {}
    for override in (
        Override.objects.filter(appointment__patient=patient)
        .select_related("overridden_by")
        .order_by("overridden_at")
    ):
        by_appointment.setdefault(override.appointment_id, []).append(override)
    for appointment in appointments:
        appointment.booking_overrides = by_appointment.get(appointment.pk, [])


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
    # The stored tier's reassess moment has passed and the sweep has not re-tiered it yet.
    recheck_due: bool = False
    last_sweep_at: dt.datetime | None = None
    # Someone (the patient or a caregiver who receives reminders) has a consented channel.
    reachable: bool = True


REFILL_HISTORY_LIMIT = 12
# Reports that need the pump checked urgently (the resolve page says so).
URGENT_REPORTS = frozenset({ReportKind.CRITICAL_ALARM, ReportKind.WITHDRAWAL_SYMPTOMS})


def patient_page(patient: Patient, *, now: dt.datetime | None = None) -> PatientPage:
    now = now or timezone.now()
    caregivers = list(patient.caregivers.all())
    pumps = list(patient.pumps.select_related("model", "forecast").order_by("-implanted_on"))
    pump = next((p for p in pumps if p.status == PumpStatus.ACTIVE), None)
    forecast = getattr(pump, "forecast", None) if pump else None
    # The sweep re-tiers a forecast once its reassess moment passes; until it has, the
    # page says the tier is due for a re-check (a GET never writes).
    recheck_due = bool(forecast and forecast.reassess_at and forecast.reassess_at <= now)
    program = current_program(pump, at=now) if pump is not None else None
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
    _attach_booking_overrides(patient, appointments)
    upcoming = sorted(
        (a for a in appointments if a.status == AppointmentStatus.SCHEDULED),
        key=lambda a: a.scheduled_start,
    )
    flags = clinic_flags(clinic=patient.clinic, appointments=upcoming)
    for appointment in upcoming:
        appointment.clinic_flag = flags.get(appointment.pk, "")
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
        alerts=reminder_selectors.alerts_for_patient(patient),
        notifications=list(
            reminder_selectors.notifications_for_patient(patient_id=patient.pk, limit=30)
        ),
        history=patient_history(patient, pump_ids),
        clock_change=clock_change_notice(pump, program, now=now) if pump else None,
        dates=pump_dates(pump, forecast, now=now) if pump else None,
        recheck_due=recheck_due,
        last_sweep_at=reminder_selectors.last_sweep_at() if recheck_due else None,
        reachable=patient_is_reachable(patient),
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
    """The program in effect now (or at `at`): refills.selectors' one definition of it."""
    return program_in_effect(pump=pump, at=at or timezone.now())


def stored_forecast(pump: Pump) -> PumpForecast | None:
    return PumpForecast.objects.filter(pump=pump).first()


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
