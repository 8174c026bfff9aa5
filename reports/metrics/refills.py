"""Report 1, refill activity: refills per week and month, the median interval between a
pump's refills, the share done on or before the refill-by date in force, the late ones."""

from __future__ import annotations

from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import TruncMonth, TruncWeek

from patients.models import PumpStatus
from refills.models import PumpForecast, Refill
from reports.charts import BarChart, Series
from reports.metrics.common import (
    Report,
    Scope,
    Table,
    as_day,
    day_text,
    days_text,
    local_day,
    median,
    month_label,
    month_starts,
    patient_name,
    percent,
    week_label,
    week_starts,
)

LATE_ROWS_SHOWN = 200


def _refills(scope: Scope):
    return Refill.objects.filter(
        pump__patient__clinic_id__in=scope.clinic_ids,
        performed_at__gte=scope.start,
        performed_at__lt=scope.end,
    )


def median_interval_days(scope: Scope) -> float | None:
    """Median days between a refill in the period and the same pump's refill before it
    (which may fall before the period: a pump refilled once in the period still counts).
    The previous refill is one index probe per row on (pump, -performed_at)."""
    previous = (
        Refill.objects.filter(
            pump_id=OuterRef("pump_id"), performed_at__lt=OuterRef("performed_at")
        )
        .order_by("-performed_at")
        .values("performed_at")[:1]
    )
    intervals = _refills(scope).annotate(previous=Subquery(previous))
    return median(intervals, F("performed_at") - F("previous"))


def overdue_now(scope: Scope) -> int:
    """Active pumps past their refill-by date today with no refill since: their interval
    is still running, so the median interval cannot see them."""
    return PumpForecast.objects.filter(
        pump__status=PumpStatus.ACTIVE,
        pump__patient__clinic_id__in=scope.clinic_ids,
        pump__patient__is_active=True,
        refill_by__lt=scope.today,
    ).count()


def refill_activity(*, scope: Scope) -> Report:
    refills = _refills(scope)
    tz = scope.tz
    weekly = {
        as_day(r["week"]): r["n"]
        for r in refills.annotate(week=TruncWeek("performed_at", tzinfo=tz))
        .values("week")
        .annotate(n=Count("id"))
        .order_by()
    }
    monthly = {
        as_day(r["month"]): r
        for r in refills.annotate(month=TruncMonth("performed_at", tzinfo=tz))
        .values("month")
        .annotate(
            n=Count("id"),
            with_due=Count("id", filter=Q(due_by__isnull=False)),
            on_time=Count("id", filter=Q(due_by__isnull=False, performed_on_time=True)),
        )
        .order_by()
    }
    weeks = week_starts(scope.since, scope.until)
    months = month_starts(scope.since, scope.until)
    total = sum(r["n"] for r in monthly.values())
    with_due = sum(r["with_due"] for r in monthly.values())
    on_time = sum(r["on_time"] for r in monthly.values())
    late = _late(scope)
    return Report(
        key="refills",
        title="Refill activity",
        scope=scope,
        figures=[
            ("Refills", total),
            ("Median interval between refills", days_text(median_interval_days(scope))),
            ("Pumps past their refill-by date today (not in the median)", overdue_now(scope)),
            ("Done on or before the refill-by date", percent(on_time, with_due)),
            ("Late refills", with_due - on_time),
        ],
        chart=BarChart(
            title="Refills per week",
            labels=tuple(week_label(w, scope.since, scope.until, short=True) for w in weeks),
            series=(Series("Refills", tuple(weekly.get(w, 0) for w in weeks)),),
        ),
        tables=[
            Table(
                "Per month",
                ["Month", "Refills", "With a refill-by date", "On or before it", "Share on time"],
                [
                    [
                        month_label(m, scope.since, scope.until),
                        monthly.get(m, {}).get("n", 0),
                        monthly.get(m, {}).get("with_due", 0),
                        monthly.get(m, {}).get("on_time", 0),
                        percent(
                            monthly.get(m, {}).get("on_time", 0),
                            monthly.get(m, {}).get("with_due", 0),
                        ),
                    ]
                    for m in months
                ],
            ),
            late,
            Table(
                "Per week",
                ["Week of (Monday)", "Refills"],
                [[week_label(w, scope.since, scope.until), weekly.get(w, 0)] for w in weeks],
            ),
        ],
        notes=[
            "A refill is on time when done on or before the refill-by date in force when it "
            "was done (the clinic's calendar). Refills with no refill-by date (the first "
            "fill after an implant) are not in the share."
        ],
    )


def _late(scope: Scope) -> Table:
    late = _refills(scope).filter(performed_on_time=False, due_by__isnull=False)
    count = late.count()
    rows = late.order_by("-performed_at").values(
        "performed_at",
        "due_by",
        "pump__serial_number",
        "pump__patient__id",
        "pump__patient__family_name",
        "pump__patient__given_name",
    )[:LATE_ROWS_SHOWN]
    table_rows = []
    for r in rows:
        done = local_day(r["performed_at"], scope.tz)
        table_rows.append(
            [
                patient_name(r, "pump__patient__"),
                day_text(done),
                day_text(r["due_by"]),
                (done - r["due_by"]).days,
            ]
        )
    note = f"First {LATE_ROWS_SHOWN} of {count} shown." if count > LATE_ROWS_SHOWN else ""
    return Table(
        f"Late refills ({count})",
        ["Patient", "Refilled on", "Refill-by date", "Days late"],
        table_rows,
        note=note,
    )
