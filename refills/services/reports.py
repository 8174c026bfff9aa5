"""Writes for pump reports (alarms, symptoms) that staff record and resolve."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Role
from patients.models import Pump
from refills.models import PumpReport, ReportKind
from refills.services.forecast import forecast_refresh


def pump_report_record(
    *, pump: Pump, by, kind: str, reported_at: dt.datetime | None = None, details: str = ""
) -> PumpReport:
    with transaction.atomic():
        report = PumpReport(
            pump=pump,
            kind=kind,
            reported_at=reported_at or timezone.now(),
            details=details,
            recorded_by=by,
        )
        report.full_clean()
        report.save()
        forecast_refresh(pump=pump)
    return report


# A CRITICAL report (two-tone alarm: empty reservoir, end of service, motor stall) is
# resolved with a chosen outcome and a note of a few words. Outcomes that do not remove
# the cause themselves need a physician (nurse review, item 3; a clinical choice).
CRITICAL_OUTCOMES = {
    "refilled": ("Refilled", False),
    "pump-replaced": ("Pump replaced or explanted", False),
    "interrogated": ("Pump interrogated: alarm explained", True),
    "physician-reviewed": ("Physician reviewed", True),
}
CRITICAL_NOTE_MIN_WORDS = 3


def _critical_resolution(*, report: PumpReport, by, outcome: str, note: str) -> str:
    """The stored resolution of a CRITICAL report ("Outcome: note"), or a nurse-readable
    error naming what is missing."""
    errors = {}
    if outcome not in CRITICAL_OUTCOMES:
        errors["outcome"] = "Choose the outcome: a critical pump alarm needs one."
    if len(note.split()) < CRITICAL_NOTE_MIN_WORDS:
        errors["resolution"] = (
            f"Say in at least {CRITICAL_NOTE_MIN_WORDS} words what was found and done."
        )
    if errors:
        raise ValidationError(errors)
    label, needs_physician = CRITICAL_OUTCOMES[outcome]
    if needs_physician and not by.has_role(report.pump.patient.clinic, Role.PHYSICIAN):
        raise ValidationError(
            {
                "outcome": f"Only a physician can resolve a critical alarm as "
                f'"{label}": the cause is not fixed by it. Ask a physician, or choose '
                '"Refilled" or "Pump replaced or explanted" if that was done.'
            }
        )
    return f"{label}: {note}"


def pump_report_resolve(
    *, report: PumpReport, by, resolution: str, outcome: str = ""
) -> PumpReport:
    resolution = resolution.strip()
    if not resolution:
        raise ValidationError({"resolution": "Say how the report was resolved."})
    if report.kind == ReportKind.CRITICAL_ALARM:
        resolution = _critical_resolution(report=report, by=by, outcome=outcome, note=resolution)
    with transaction.atomic():
        report.resolved_at = timezone.now()
        report.resolution = resolution
        report.save(update_fields=["resolved_at", "resolution"])
        forecast_refresh(pump=report.pump)
    return report
