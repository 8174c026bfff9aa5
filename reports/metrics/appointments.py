"""Report 2, appointments: booked, completed, missed and cancelled per month, the
no-show rate, and the time from each missed appointment to the refill that followed."""

from __future__ import annotations

from django.db.models import Case, Count, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import TruncMonth

from refills.models import Appointment, AppointmentStatus, Refill
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
)

MISSED_ROWS_SHOWN = 200
S = AppointmentStatus


def _appointments(scope: Scope):
    return Appointment.objects.filter(
        patient__clinic_id__in=scope.clinic_ids,
        scheduled_start__gte=scope.start,
        scheduled_start__lt=scope.end,
    )


def _missed_with_next_refill(scope: Scope):
    """Missed appointments of the period with the first refill of the pump after them."""
    next_refill = (
        Refill.objects.filter(
            pump_id=OuterRef("pump_id"), performed_at__gt=OuterRef("scheduled_start")
        )
        .order_by("performed_at")
        .values("performed_at")[:1]
    )
    return _appointments(scope).filter(status=S.MISSED).annotate(next_refill=Subquery(next_refill))


def appointments_report(*, scope: Scope) -> Report:
    counts = {
        as_day(r["month"]): r
        for r in _appointments(scope)
        .annotate(month=TruncMonth("scheduled_start", tzinfo=scope.tz))
        .values("month")
        .annotate(
            booked=Count("id"),
            completed=Count("id", filter=Q(status=S.COMPLETED)),
            missed=Count("id", filter=Q(status=S.MISSED)),
            cancelled=Count("id", filter=Q(status=S.CANCELLED)),
        )
        .order_by()
    }
    months = month_starts(scope.since, scope.until)
    zero = {"booked": 0, "completed": 0, "missed": 0, "cancelled": 0}
    per = [counts.get(m, zero) for m in months]
    total = {k: sum(p[k] for p in per) for k in zero}
    missed = _missed_with_next_refill(scope)
    gap = median(missed, F("next_refill") - F("scheduled_start"))
    # The median only sees the missed visits a refill followed; the open ones sit beside it.
    no_refill = missed.filter(next_refill__isnull=True).count()
    return Report(
        key="appointments",
        title="Appointments",
        scope=scope,
        figures=[
            ("Booked", total["booked"]),
            ("Completed", total["completed"]),
            ("Missed", total["missed"]),
            ("Cancelled", total["cancelled"]),
            ("No-show rate", percent(total["missed"], total["missed"] + total["completed"])),
            ("Median time from a missed appointment to the next refill", days_text(gap)),
            ("Missed appointments with no refill since (not in the median)", no_refill),
        ],
        chart=BarChart(
            title="Appointments per month",
            labels=tuple(month_label(m, scope.since, scope.until) for m in months),
            series=(
                Series("Completed", tuple(p["completed"] for p in per), "s1"),
                Series("Missed", tuple(p["missed"] for p in per), "s4"),
                Series("Cancelled", tuple(p["cancelled"] for p in per), "s3"),
            ),
        ),
        tables=[
            Table(
                "Per month",
                ["Month", "Booked", "Completed", "Missed", "Cancelled", "No-show rate"],
                [
                    [
                        month_label(m, scope.since, scope.until),
                        p["booked"],
                        p["completed"],
                        p["missed"],
                        p["cancelled"],
                        percent(p["missed"], p["missed"] + p["completed"]),
                    ]
                    for m, p in zip(months, per, strict=True)
                ],
            ),
            _missed_table(missed, scope),
        ],
        notes=[
            "Every kind of appointment, by the month it was booked for (clinic time). "
            "No-show rate: missed ÷ (completed + missed); cancelled ones are not no-shows. "
            "Booked counts every appointment of the month, whatever its status now."
        ],
    )


def _missed_table(missed, scope: Scope) -> Table:
    count = missed.count()
    # The ones with no refill since first: they are the patients at risk now.
    open_first = Case(When(next_refill__isnull=True, then=Value(0)), default=Value(1))
    rows = missed.order_by(open_first, "-scheduled_start").values(
        "scheduled_start",
        "next_refill",
        "kind",
        "patient__id",
        "patient__family_name",
        "patient__given_name",
    )[:MISSED_ROWS_SHOWN]
    out, open_rows = [], set()
    for i, r in enumerate(rows):
        if r["next_refill"] is None:
            open_rows.add(i)
        refill = r["next_refill"]
        out.append(
            [
                patient_name(r, "patient__"),
                day_text(local_day(r["scheduled_start"], scope.tz)),
                day_text(local_day(refill, scope.tz)) if refill else "none yet",
                round((refill - r["scheduled_start"]).total_seconds() / 86400, 1) if refill else "",
            ]
        )
    return Table(
        f"Missed appointments ({count})",
        ["Patient", "Missed on", "Next refill", "Days to the refill"],
        out,
        note=(
            "Marked: no refill since the missed appointment (listed first). "
            + (f"First {MISSED_ROWS_SHOWN} of {count} shown." if count > MISSED_ROWS_SHOWN else "")
        ).strip(),
        marked=frozenset(open_rows),
    )
