"""Writes for pump reports (alarms, symptoms) that staff record and resolve."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from patients.models import Pump
from refills.models import PumpReport
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


def pump_report_resolve(*, report: PumpReport, by, resolution: str) -> PumpReport:
    if not resolution.strip():
        raise ValidationError({"resolution": "Say how the report was resolved."})
    with transaction.atomic():
        report.resolved_at = timezone.now()
        report.resolution = resolution.strip()
        report.save(update_fields=["resolved_at", "resolution"])
        forecast_refresh(pump=report.pump)
    return report
