"""Report 2, appointments: booked, completed, missed and cancelled per month, the
no-show rate, and the time from each missed appointment to the refill that followed."""

from __future__ import annotations

from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import TruncMonth

from refills.models import Appointment, AppointmentStatus, Refill
from reports.charts import BarChart, Series
from reports.metrics.common import (
    Report,
    Scope,
    Table,
    as_day,
    days_text,
    local_day,
    median,
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
        ],
        chart=BarChart(
            title="Appointments per month",
            labels=tuple(f"{m:%b %Y}" for m in months),
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
                        f"{m:%b %Y}",
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
    rows = missed.order_by("-scheduled_start").values(
        "scheduled_start",
        "next_refill",
        "kind",
        "patient__id",
        "patient__family_name",
        "patient__given_name",
    )[:MISSED_ROWS_SHOWN]
    out = []
    for r in rows:
        refill = r["next_refill"]
        out.append(
            [
                patient_name(r, "patient__"),
                f"{local_day(r['scheduled_start'], scope.tz):%a %d %b %Y}",
                f"{local_day(refill, scope.tz):%a %d %b %Y}" if refill else "none yet",
                round((refill - r["scheduled_start"]).total_seconds() / 86400, 1) if refill else "",
            ]
        )
    return Table(
        f"Missed appointments ({count})",
        ["Patient", "Missed on", "Next refill", "Days to the refill"],
        out,
        note=f"First {MISSED_ROWS_SHOWN} of {count} shown." if count > MISSED_ROWS_SHOWN else "",
    )
