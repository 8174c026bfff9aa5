"""The appointment calendar and the refills due week by week."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Prefetch, Q

from accounts.access import scoped
from accounts.models import User
from patients.models import Clinic, PumpStatus
from refills.models import (
    Appointment,
    AppointmentStatus,
    Override,
    PumpForecast,
)


def appointments_between(
    user: User, start: dt.datetime, end: dt.datetime, *, clinic: Clinic
) -> list[Appointment]:
    qs = scoped(user, Appointment.objects.all(), "patient__clinic").filter(
        patient__clinic=clinic, scheduled_start__gte=start, scheduled_start__lt=end
    )
    return list(
        qs.exclude(status=AppointmentStatus.CANCELLED)
        .select_related("patient", "pump__model", "pump__forecast")
        .prefetch_related(
            Prefetch("overrides", queryset=Override.objects.select_related("overridden_by"))
        )
        .order_by("scheduled_start")
    )


@dataclass(frozen=True)
class WeekDue:
    start: dt.date
    end: dt.date
    due: int
    unbooked: int
    # The first day counted: today in the current week (earlier days are "overdue").
    first: dt.date | None = None

    @property
    def from_(self) -> dt.date:
        return self.first or self.start


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
            first=max(monday + dt.timedelta(weeks=week), today),
        )
        for week in range(weeks)
    ]
    return totals["overdue"], rows
