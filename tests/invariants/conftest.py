"""Helpers for the invariant suite (issue 8): fresh worlds, snapshots and the checks.

Every hypothesis example runs in its own ``rolled_back()`` block on a frozen clock, so
examples never see each other's rows. Every person here is invented.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

import time_machine
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Role
from dashboard.selectors.open_items import build_open_items, tier_holders
from patients.models import Patient, Pump
from refills.models import (
    Appointment,
    DrugProgram,
    FlexStep,
    Override,
    PumpForecast,
    PumpReport,
    Refill,
)
from refills.risk import Tier
from reminders.alerts.rules import REFILL_SUPPLY_KINDS
from reminders.models import Alert, AlertState, Notification, NotificationKind
from tests.factories import ClinicFactory, PatientFactory, PumpFactory, staff

# Clinic zones: no DST, northern and southern DST, a 30-minute shift (Lord Howe) and a
# zone whose change lands at midnight (Santiago).
ZONES = (
    "UTC",
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kolkata",
    "Pacific/Auckland",
)
DAY = dt.timedelta(days=1)


class _Rollback(Exception):
    pass


@contextlib.contextmanager
def rolled_back():
    """Everything written inside is undone at the end, whatever happens."""
    with contextlib.suppress(_Rollback), transaction.atomic():
        yield
        raise _Rollback


@contextlib.contextmanager
def frozen(at: dt.datetime):
    with time_machine.travel(at, tick=False) as traveller:
        yield traveller


@dataclass
class World:
    clinic: object
    patient: Patient
    pump: Pump
    nurse: object
    physician: object

    @property
    def zone(self) -> ZoneInfo:
        return self.clinic.tz


def new_world(zone: str, *, implanted_days_ago: int = 400, **patient_fields) -> World:
    clinic = ClinicFactory(timezone=zone)
    patient = PatientFactory(clinic=clinic, **patient_fields)
    pump = PumpFactory(
        patient=patient,
        implanted_on=timezone.localdate(timezone=ZoneInfo(zone))
        - dt.timedelta(days=implanted_days_ago),
    )
    return World(
        clinic=clinic,
        patient=patient,
        pump=pump,
        nurse=staff(clinic, Role.NURSE),
        physician=staff(clinic, Role.PHYSICIAN),
    )


def stored(pump) -> PumpForecast | None:
    return PumpForecast.objects.filter(pump=pump).first()


# --------------------------------------------------------------------------- snapshots


def snapshot(pump) -> dict:
    """Every row a save on this pump could touch, as comparable values."""
    patient_id = pump.patient_id

    def rows(qs):
        return sorted(map(repr, qs.values()))

    return {
        "pump": rows(Pump.objects.filter(patient_id=patient_id)),
        "patient": rows(Patient.objects.filter(pk=patient_id)),
        "programs": rows(DrugProgram.objects.filter(pump__patient_id=patient_id)),
        "flex": rows(FlexStep.objects.filter(program__pump__patient_id=patient_id)),
        "refills": rows(Refill.objects.filter(pump__patient_id=patient_id)),
        "appointments": rows(Appointment.objects.filter(patient_id=patient_id)),
        "reports": rows(PumpReport.objects.filter(pump__patient_id=patient_id)),
        "overrides": rows(Override.objects.filter(pump__patient_id=patient_id)),
        "forecast": rows(PumpForecast.objects.filter(pump__patient_id=patient_id)),
        "alerts": rows(Alert.objects.filter(patient_id=patient_id)),
        "messages": rows(Notification.objects.filter(patient_id=patient_id)),
    }


# --------------------------------------------------------------------------- invariants

# Families of invariants; a test names the families it checks, so a property broken by a
# known defect can be split out and marked xfail without silencing the others.
ORDER = "order"  # conservative alarm <= nominal alarm <= empty
MARGIN = "margin"  # refill-by <= conservative alarm - margin (calendar days)
STABILITY = "stability"  # refill-by <= last fill date + 180 days
REPLACEMENT = "replacement"  # refill-by <= planned replacement (when before EOS)
END_OF_SERVICE = "end-of-service"  # refill-by <= end of service
REASONS = "reasons"  # the tier has at least one reason
ALERTS = "alerts"  # open alerts agree with the tier
WORK_QUEUE = "work-queue"  # DTA <= 21 days and nothing booked => an alert is open
DEVICE = "device"  # EOS near without a valid plan => CRITICAL / alert
MESSAGES = "messages"  # what a sent message says agrees with the record at send time
STOPPED = "stopped"  # a stopped program in effect => tier at least HIGH, with the reason
# Issue 12 #6: the tier is explained by an open item of the patient's list, and no item =>
# not held up; one problem (the refill not secured) is at most one open alert.
OPEN_ITEMS = "open-items"

ALL = frozenset(
    {
        ORDER,
        MARGIN,
        STABILITY,
        REPLACEMENT,
        END_OF_SERVICE,
        REASONS,
        ALERTS,
        WORK_QUEUE,
        DEVICE,
        MESSAGES,
        STOPPED,
        OPEN_ITEMS,
    }
)


def _policy(name):
    return settings.PUMPTRACK_POLICY[name]


def margin_days(patient: Patient) -> int:
    """The margin domain.md §7.1 #6 asks for: 3 days, 7 with a risk or transport flag."""
    at_risk = bool(
        patient.label_risk_factors or patient.other_risk_factors or patient.transport_barrier
    )
    return max(
        patient.clinic.default_refill_margin_days,
        _policy("MARGIN_DAYS_AT_RISK") if at_risk else _policy("MARGIN_DAYS"),
    )


def violations(pump, *, now: dt.datetime, families=ALL) -> list[str]:
    """What is wrong with the pump's stored forecast, tier and alerts at ``now``."""
    pump = Pump.objects.select_related("model", "patient__clinic").get(pk=pump.pk)
    if pump.status != "active":
        return []
    forecast = stored(pump)
    found: list[str] = []
    if forecast is None:
        return found
    zone = pump.patient.clinic.tz
    today = now.astimezone(zone).date()

    def local(moment):
        return moment.astimezone(zone).date()

    cons, alarm, empty, refill_by = (
        forecast.conservative_alarm_at,
        forecast.alarm_at,
        forecast.empty_at,
        forecast.refill_by,
    )
    if ORDER in families and cons and alarm and empty and not (cons <= alarm <= empty):
        found.append(f"order: conservative {cons} / nominal {alarm} / empty {empty}")
    cons_empty = forecast.conservative_empty_at
    if ORDER in families and empty and not (cons_empty and cons_empty <= empty):
        found.append(f"order: conservative empty {cons_empty} not on or before empty {empty}")
    if ORDER in families and cons and cons_empty and not cons <= cons_empty:
        found.append(f"order: conservative alarm {cons} after conservative empty {cons_empty}")
    if STOPPED in families:
        program = (
            DrugProgram.objects.filter(pump=pump, effective_from__lte=now)
            .order_by("-effective_from")
            .first()
        )
        if program is not None and program.daily_dose_mcg == 0:
            codes = {reason["code"] for reason in forecast.risk_reasons}
            if forecast.risk_tier < Tier.HIGH or "pump-stopped" not in codes:
                found.append(
                    f"stopped: the program in effect is stopped, tier {forecast.risk_tier} "
                    f"({sorted(codes)})"
                )
    if MARGIN in families and cons and refill_by:
        limit = local(cons) - dt.timedelta(days=margin_days(pump.patient))
        if refill_by > limit:
            found.append(
                f"margin: refill-by {refill_by} after conservative alarm {local(cons)} "
                f"({cons.astimezone(zone)}) - {margin_days(pump.patient)} days = {limit}"
            )
    last = Refill.objects.filter(pump=pump).order_by("-performed_at").first()
    if STABILITY in families and last and refill_by:
        limit = local(last.performed_at) + dt.timedelta(days=_policy("STABILITY_DAYS"))
        if refill_by > limit:
            found.append(
                f"stability: refill-by {refill_by} after fill {last.performed_at.astimezone(zone)}"
                f" + {_policy('STABILITY_DAYS')} days = {limit}"
            )
    eos = pump.end_of_service_on
    planned = pump.planned_replacement_on
    counts = planned is not None and (eos is None or planned <= eos)
    if REPLACEMENT in families and refill_by and counts and refill_by > planned:
        found.append(f"replacement: refill-by {refill_by} after planned replacement {planned}")
    if END_OF_SERVICE in families and refill_by and eos and refill_by > eos:
        found.append(f"end-of-service: refill-by {refill_by} after end of service {eos}")
    if REASONS in families and not forecast.risk_reasons:
        found.append(f"reasons: tier {forecast.risk_tier} has no reason")
    open_alerts = list(Alert.objects.filter(pump=pump).exclude(state=AlertState.RESOLVED))
    if ALERTS in families:
        for alert in open_alerts:
            if not alert.reasons:
                found.append(f"alerts: open {alert.kind} alert without a reason")
            if (
                alert.severity >= Tier.CRITICAL
                and forecast.risk_tier == Tier.LOW
                and alert.kind != "pocket-fill"
            ):
                found.append(
                    f"alerts: open CRITICAL {alert.kind} alert ({alert.reasons}) on a LOW "
                    f"patient ({forecast.risk_reasons})"
                )
    if OPEN_ITEMS in families:
        found += open_items_violations(pump, forecast, open_alerts)
    if WORK_QUEUE in families and cons and not forecast.booked_before_refill_by:
        if cons - now <= dt.timedelta(days=21) and not open_alerts:
            found.append(
                f"work-queue: conservative alarm {cons.astimezone(zone)} within 21 days, "
                "nothing booked, no alert"
            )
        if forecast.risk_tier >= Tier.HIGH and not open_alerts:
            found.append(f"work-queue: tier {forecast.risk_tier} and no open alert")
    if DEVICE in families and eos and not counts:
        booked_replacement = Appointment.objects.filter(
            pump=pump, kind="replacement", status="scheduled", scheduled_start__date__lte=eos
        ).exists()
        near = (eos - today).days <= 30
        if near and not booked_replacement and forecast.risk_tier < Tier.CRITICAL:
            found.append(
                f"device: end of service {eos} within 30 days, no valid plan "
                f"(planned {planned}), tier {forecast.risk_tier}"
            )
    return found


# --------------------------------------------------------------------------- messages


def open_items_violations(pump, forecast: PumpForecast, open_alerts: list[Alert]) -> list[str]:
    """The patient page's open-items list against the tier shown and the open alerts."""
    found = []
    reports = list(PumpReport.objects.filter(pump=pump, resolved_at__isnull=True))
    items = build_open_items(
        patient=pump.patient,
        pump=pump,
        forecast=forecast,
        alerts=open_alerts,
        open_reports=reports,
    )
    tier = int(forecast.risk_tier)
    holders = tier_holders(items, tier)
    if tier > Tier.LOW and not any(item.tier == tier for item in holders):
        found.append(
            f"open-items: tier {tier} explained by no open item "
            f"({[(i.key, i.tier) for i in items]}, reasons {forecast.risk_reasons})"
        )
    if tier > Tier.LOW and not [item for item in items if item.holds_tier]:
        found.append(f"open-items: no open item, yet held at tier {tier}")
    for alert in open_alerts:
        if not any(alert in item.alerts for item in items):
            found.append(f"open-items: open {alert.kind} alert missing from the list")
    supply = [a.kind for a in open_alerts if a.kind in REFILL_SUPPLY_KINDS]
    if len(supply) > 1:
        found.append(f"open-items: one problem, several open alerts: {supply}")
    for report in reports:
        if not any(report in item.reports for item in items):
            found.append(f"open-items: open report {report.kind} missing from the list")
    return found


_DATE = re.compile(
    r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (\d{1,2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4})\b"
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def dates_in(text: str) -> list[dt.date]:
    return [
        dt.date(int(year), _MONTHS.index(month) + 1, int(day))
        for day, month, year in _DATE.findall(text)
    ]


def message_violations(notification: Notification, *, now: dt.datetime) -> list[str]:
    """A patient message that went out at ``now``: its dates against the current record."""
    if not notification.is_patient_facing:
        return []
    zone = (
        ZoneInfo(str(notification.caregiver.timezone))
        if notification.caregiver_id and notification.caregiver.timezone
        else notification.patient.tz
    )
    today = now.astimezone(zone).date()
    said = dates_in(notification.subject + "\n" + notification.body)
    found = []
    kind = notification.kind
    if kind == NotificationKind.MISSED_APPOINTMENT:
        appointment = notification.appointment
        expected = {appointment.scheduled_start.astimezone(zone).date()}
        if appointment.status != "missed":
            found.append(f"message: missed-visit text sent for a {appointment.status} visit")
    else:
        for day in said:
            if day < today:
                found.append(f"message: {kind} sent on {today} names the past date {day}")
        if kind == NotificationKind.OVERDUE_CALL:
            # "Call the clinic today" names no date at all, and goes out only when the
            # refill is due now: refill-by reached, or the conservative alarm passed.
            expected = set()
            forecast = PumpForecast.objects.filter(
                pump__patient_id=notification.patient_id, pump__status="active"
            ).first()
            due_now = forecast is not None and (
                (forecast.refill_by is not None and forecast.refill_by <= today)
                or (
                    forecast.conservative_alarm_at is not None
                    and forecast.conservative_alarm_at <= now
                )
            )
            if not due_now:
                found.append(f"message: call-today sent on {today} but the refill is not due")
        elif kind == NotificationKind.UNBOOKED_NUDGE:
            forecast = PumpForecast.objects.filter(
                pump__patient_id=notification.patient_id, pump__status="active"
            ).first()
            expected = {forecast.refill_by} if forecast and forecast.refill_by else set()
        else:
            appointment = notification.appointment
            expected = {appointment.scheduled_start.astimezone(zone).date()}
            if appointment.status != "scheduled":
                found.append(f"message: {kind} sent for a {appointment.status} visit")
    for day in said:
        if day not in expected:
            found.append(
                f"message: {kind} names {day}, the record says {sorted(expected)}: "
                f"{notification.body!r}"
            )
    return found


def as_decimal(value) -> Decimal:
    return Decimal(str(value))
