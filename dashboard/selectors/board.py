"""The run-out board: every active pump the user may see, with its stored forecast.

Reads never write: where a stored forecast's ``reassess_at`` has passed, the row says
its tier is due for a re-check (the sweep re-tiers it) instead of refreshing it here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import BooleanField, Case, CharField, Count, F, Q, QuerySet, Value, When
from django.utils import timezone

from accounts.access import scoped
from accounts.models import User
from patients.models import Clinic, PumpModel, PumpStatus
from patients.reachability import annotate_reachable
from refills.models import (
    PumpForecast,
)
from reminders.selectors import annotate_open_alerts

from .clinics import clinic_today

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
    ("not-in-time", "Not booked in time"),
)


@dataclass(frozen=True)
class BoardFilters:
    tier: int | None = None
    group: str = ""
    pump_model: int | None = None
    booked: str = ""
    q: str = ""
    # The calendar's "refills due per week" links: one clinic, refill-by dates in a window.
    clinic: int | None = None
    due_from: dt.date | None = None
    due_to: dt.date | None = None


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


def _recheck_due(now: dt.datetime) -> Case:
    """True where the stored tier's reassess moment has passed: the sweep has not yet
    re-tiered it, and the page says so rather than refreshing it on a GET."""
    return Case(
        When(reassess_at__lte=now, then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )


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
    ).annotate(due_group=_group_case(clinics, now), recheck_due=_recheck_due(now))
    qs = annotate_open_alerts(qs, pump_path="pump")
    qs = annotate_reachable(qs, patient_path="pump__patient")
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
    elif filters.booked == "not-in-time":
        qs = qs.filter(booked_before_refill_by=False)
    if filters.clinic:
        qs = qs.filter(pump__patient__clinic_id=filters.clinic)
    if filters.due_from:
        qs = qs.filter(refill_by__gte=filters.due_from)
    if filters.due_to:
        qs = qs.filter(refill_by__lte=filters.due_to)
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


def board_recheck_due_count(qs: QuerySet[PumpForecast]) -> int:
    """How many of the board's rows show a tier whose reassess moment has passed (one query)."""
    return qs.order_by().filter(recheck_due=True).count()


def pump_models() -> list[PumpModel]:
    return list(PumpModel.objects.order_by("manufacturer", "model_number"))
