"""The reports 1-7 as selectors: each takes a Scope and returns a Report (reads only)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reports.metrics.appointments import appointments_report
from reports.metrics.capacity import capacity_report
from reports.metrics.census import census_report
from reports.metrics.common import PatientRef, Report, Scope, Table
from reports.metrics.delivery import delivery_report
from reports.metrics.devices import devices_report
from reports.metrics.refills import refill_activity
from reports.metrics.safety import safety_report


@dataclass(frozen=True)
class ReportKind:
    key: str
    title: str
    summary: str
    build: Callable[..., Report]
    # Whether the period filter applies (capacity and devices look ahead from today).
    uses_period: bool = True


CATALOGUE: tuple[ReportKind, ...] = (
    ReportKind(
        "refills",
        "Refill activity",
        "Refills per week and month, median interval, share on time, the late ones.",
        refill_activity,
    ),
    ReportKind(
        "appointments",
        "Appointments",
        "Booked, completed, missed, cancelled; no-show rate; from a missed visit to the refill.",
        appointments_report,
    ),
    ReportKind(
        "safety",
        "Safety events",
        "Discrepancies, staff alerts by kind and severity, time to acknowledge and resolve.",
        safety_report,
    ),
    ReportKind(
        "delivery",
        "Reminder delivery",
        "Messages by channel and status, delivery rate, failures, opt-outs, unreachable patients.",
        delivery_report,
    ),
    ReportKind(
        "census",
        "Risk census",
        "Patients per tier now and day by day, risk factors, due soon with nothing booked.",
        census_report,
    ),
    ReportKind(
        "devices",
        "Device lifecycle",
        "ERI, end of service within 6 and 12 months, replacements planned in time.",
        devices_report,
        uses_period=False,
    ),
    ReportKind(
        "capacity",
        "Capacity",
        "Refills due per week for 12 weeks against the clinic's refill slots.",
        capacity_report,
        uses_period=False,
    ),
)
BY_KEY = {kind.key: kind for kind in CATALOGUE}

__all__ = ["BY_KEY", "CATALOGUE", "PatientRef", "Report", "ReportKind", "Scope", "Table"]
