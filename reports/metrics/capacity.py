"""Report 7, capacity: refills due per week for the next weeks, from the stored
refill-by dates of active pumps, against each clinic's refill slots (slots per day x its
working days that week, less its closures); the weeks with more refills due than slots
are marked."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count
from django.db.models.functions import TruncWeek

from patients.models import Clinic, ClinicClosure, PumpStatus
from refills.models import PumpForecast
from reports.charts import BarChart, Series
from reports.metrics.common import (
    Report,
    Scope,
    Table,
    as_day,
    week_label,
)

WEEKS = 12


def week_slots(
    *,
    slots_per_day: int,
    working_days: frozenset[int],
    week: dt.date,
    first: dt.date,
    closed: frozenset[dt.date] = frozenset(),
) -> int:
    """Slots in the week starting Monday `week`, counting only days from `first` on and
    leaving out the days the clinic is closed."""
    days = [week + dt.timedelta(days=k) for k in range(7)]
    return slots_per_day * sum(
        1 for d in days if d >= first and d.weekday() in working_days and d not in closed
    )


def _slots(*, scope: Scope, weeks: list[dt.date], today: dt.date, last: dt.date) -> list[int]:
    """Each week's refill slots over the scope's clinics, closures subtracted (one query
    for the clinics, one for their closures; the loops run over weeks and closures)."""
    closed: dict[int, set[dt.date]] = {}
    for row in ClinicClosure.objects.filter(
        clinic_id__in=scope.clinic_ids, last_day__gte=today, first_day__lte=last
    ).values("clinic_id", "first_day", "last_day"):
        day = max(row["first_day"], today)
        while day <= min(row["last_day"], last):
            closed.setdefault(row["clinic_id"], set()).add(day)
            day += dt.timedelta(days=1)
    clinics = list(
        Clinic.objects.filter(pk__in=scope.clinic_ids).values(
            "pk", "refill_slots_per_day", "working_days"
        )
    )
    return [
        sum(
            week_slots(
                slots_per_day=c["refill_slots_per_day"],
                working_days=frozenset(int(d) for d in c["working_days"]),
                week=w,
                first=today,
                closed=frozenset(closed.get(c["pk"], ())),
            )
            for c in clinics
        )
        for w in weeks
    ]


def capacity_report(*, scope: Scope) -> Report:
    today = scope.today
    monday = today - dt.timedelta(days=today.weekday())
    weeks = [monday + dt.timedelta(days=7 * k) for k in range(WEEKS)]
    last = weeks[-1] + dt.timedelta(days=6)
    forecasts = PumpForecast.objects.filter(
        pump__status=PumpStatus.ACTIVE,
        pump__patient__clinic_id__in=scope.clinic_ids,
        pump__patient__is_active=True,
        refill_by__isnull=False,
        refill_by__lte=last,
    )
    overdue = forecasts.filter(refill_by__lt=today).count()
    due = {
        as_day(r["week"]): r["n"]
        for r in forecasts.filter(refill_by__gte=today)
        .annotate(week=TruncWeek("refill_by"))
        .values("week")
        .annotate(n=Count("pk"))
        .order_by()
    }
    slots = _slots(scope=scope, weeks=weeks, today=today, last=last)
    # Refills already past their refill-by date are due now: they land in this week.
    counts = [due.get(w, 0) + (overdue if i == 0 else 0) for i, w in enumerate(weeks)]
    over = frozenset(i for i, (n, s) in enumerate(zip(counts, slots, strict=True)) if n > s)
    return Report(
        key="capacity",
        ahead=(today, last),
        ahead_name=f"the {WEEKS} weeks from today",
        title="Capacity",
        scope=scope,
        figures=[
            ("Refills due in the next 12 weeks", sum(counts)),
            ("Already past the refill-by date (in this week)", overdue),
            ("Refill slots in the next 12 weeks", sum(slots)),
            ("Weeks over capacity", len(over)),
        ],
        chart=BarChart(
            title="Refills due per week against refill slots",
            labels=tuple(week_label(w, today, last, short=True) for w in weeks),
            series=(Series("Refills due", tuple(counts), "s2"),),
            limits=tuple(slots),
            limit_name="Refill slots",
            flagged=over,
        ),
        tables=[
            Table(
                "Per week",
                ["Week of (Monday)", "Refills due", "Refill slots", "Over capacity by"],
                [
                    [week_label(w, today, last), n, s, (n - s) if n > s else ""]
                    for w, n, s in zip(weeks, counts, slots, strict=True)
                ],
                marked=over,
            )
        ],
        notes=[
            "Refills due: active pumps by their stored refill-by date; this week's row also "
            "holds the ones already past it. Slots: each clinic's refill slots per day times "
            "its working days (from today on), less the days it is closed. Counted from today; "
            "the period filter does not apply. Booked appointments are not subtracted: a "
            "refill due is a slot needed."
        ],
    )
