"""Celery tasks of the reports: thin, ids in, a service does the work."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.utils import timezone

from reports.services import tier_snapshot_take, tier_snapshots_due


@shared_task(name="reports.tasks.tier_snapshots_schedule", ignore_result=True)
def tier_snapshots_schedule() -> int:
    """Hourly (beat): queue the snapshot of each clinic whose day has come, in its zone."""
    due = tier_snapshots_due(now=timezone.now())
    for clinic_id, day in due:
        tier_snapshot.delay(clinic_id, day.isoformat())
    return len(due)


@shared_task(name="reports.tasks.tier_snapshot", acks_late=True, ignore_result=True)
def tier_snapshot(clinic_id: int, day: str) -> int:
    snapshot = tier_snapshot_take(
        clinic_id=int(clinic_id), day=dt.date.fromisoformat(day), now=timezone.now()
    )
    return snapshot.pk
