"""The reports' only writes: the daily tier snapshot (keyword-only, ids in)."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q

from patients.models import Clinic, PumpStatus
from refills.models import PumpForecast, RiskTier
from refills.policy import work_queue_dta_days
from reports.models import TierSnapshot

logger = logging.getLogger(__name__)


def _snapshot_hour() -> int:
    return int(settings.PUMPTRACK_REPORTS["TIER_SNAPSHOT_HOUR"])


def tier_snapshot_counts(*, clinic_id: int, day: dt.date) -> dict[str, int]:
    """Active pumps per tier and the unbooked ones due within the window: one query."""
    window_end = day + dt.timedelta(days=work_queue_dta_days())
    return PumpForecast.objects.filter(
        pump__status=PumpStatus.ACTIVE,
        pump__patient__clinic_id=clinic_id,
        pump__patient__is_active=True,
    ).aggregate(
        low=Count("pk", filter=Q(risk_tier=RiskTier.LOW)),
        moderate=Count("pk", filter=Q(risk_tier=RiskTier.MODERATE)),
        high=Count("pk", filter=Q(risk_tier=RiskTier.HIGH)),
        critical=Count("pk", filter=Q(risk_tier=RiskTier.CRITICAL)),
        unbooked_within_window=Count(
            "pk", filter=Q(booked_before_refill_by=False, refill_by__lte=window_end)
        ),
    )


def tier_snapshot_take(*, clinic_id: int, day: dt.date, now: dt.datetime) -> TierSnapshot:
    """The clinic's snapshot for `day`; taken once: a second call (a repeated or
    overlapping task) returns the first one unchanged."""
    existing = TierSnapshot.objects.filter(clinic_id=clinic_id, day=day).first()
    if existing is not None:
        return existing
    counts = tier_snapshot_counts(clinic_id=clinic_id, day=day)
    try:
        with transaction.atomic():
            snapshot = TierSnapshot.objects.create(
                clinic_id=clinic_id, day=day, taken_at=now, **counts
            )
    except IntegrityError:
        return TierSnapshot.objects.get(clinic_id=clinic_id, day=day)
    logger.info("tier snapshot %s taken (clinic %s)", snapshot.pk, clinic_id)
    return snapshot


def tier_snapshots_due(*, now: dt.datetime) -> list[tuple[int, dt.date]]:
    """(clinic id, its calendar day) for each clinic whose day has reached the snapshot
    hour in its own zone and has no snapshot yet. Reads only: the caller takes them."""
    due = []
    taken = set(
        TierSnapshot.objects.filter(
            day__gte=(now - dt.timedelta(days=1)).date(),
            day__lte=(now + dt.timedelta(days=1)).date(),
        ).values_list("clinic_id", "day")
    )
    for clinic_id, zone in Clinic.objects.values_list("pk", "timezone"):
        local = now.astimezone(Clinic(timezone=zone).tz)
        if local.hour >= _snapshot_hour() and (clinic_id, local.date()) not in taken:
            due.append((clinic_id, local.date()))
    return due
