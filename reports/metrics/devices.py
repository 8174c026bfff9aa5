"""Report 6, device lifecycle: active pumps with an ERI recorded, pumps reaching their
end of service (ERI + the model's grace, or the automatic shut-down at the model's
maximum age) within 6 and 12 months, and whether a replacement is planned in time (at
least REPLACEMENT_MIN_DAYS_BEFORE_EOS before it). Dates are computed in SQL."""

from __future__ import annotations

import datetime as dt

from django.db.models import BooleanField, Count, ExpressionWrapper, F, Q, Value
from django.db.models.functions import Coalesce, Least, TruncMonth

from patients.models import Pump, PumpStatus
from refills.policy import policy_value
from reports.charts import BarChart, Series
from reports.metrics.common import (
    AddDays,
    Report,
    Scope,
    Table,
    as_day,
    day_text,
    month_label,
    month_starts,
    patient_name,
)

ROWS_SHOWN = 300


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later (the month's last day when it is shorter)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, d)
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover


def pumps_with_end_of_service(scope: Scope):
    lead = int(policy_value("REPLACEMENT_MIN_DAYS_BEFORE_EOS"))
    shutdown = AddDays(F("implanted_on"), F("model__max_service_life_days"))
    after_eri = AddDays(F("eri_on"), F("model__eri_to_eos_days"))
    return (
        Pump.objects.filter(
            status=PumpStatus.ACTIVE,
            patient__clinic_id__in=scope.clinic_ids,
            patient__is_active=True,
        )
        .annotate(shutdown=shutdown, after_eri=after_eri)
        .annotate(eos=Least(Coalesce("shutdown", "after_eri"), Coalesce("after_eri", "shutdown")))
        .annotate(latest_in_time=AddDays(F("eos"), Value(-lead)))
    )


def devices_report(*, scope: Scope) -> Report:
    lead = int(policy_value("REPLACEMENT_MIN_DAYS_BEFORE_EOS"))
    six, twelve = add_months(scope.today, 6), add_months(scope.today, 12)
    pumps = pumps_with_end_of_service(scope)
    in_time = Q(
        planned_replacement_on__isnull=False, planned_replacement_on__lte=F("latest_in_time")
    )
    totals = pumps.aggregate(
        active=Count("pk"),
        eri=Count("pk", filter=Q(eri_on__isnull=False)),
        within6=Count("pk", filter=Q(eos__lte=six)),
        within12=Count("pk", filter=Q(eos__lte=twelve)),
        planned6=Count("pk", filter=Q(eos__lte=six) & in_time),
        planned12=Count("pk", filter=Q(eos__lte=twelve) & in_time),
    )
    per_month = {
        as_day(r["month"]): r
        for r in pumps.filter(eos__lte=twelve)
        .annotate(month=TruncMonth("eos"))
        .values("month")
        .annotate(n=Count("pk"), planned=Count("pk", filter=in_time))
        .order_by()
    }
    months = month_starts(scope.today, twelve)
    overdue = sum(r["n"] for m, r in per_month.items() if m < months[0])
    table = _soon_table(pumps, in_time, twelve)
    return Report(
        key="devices",
        ahead=(scope.today, twelve),
        ahead_name="the 12 months from today",
        title="Device lifecycle",
        scope=scope,
        figures=[
            ("Active pumps", totals["active"]),
            ("ERI recorded", totals["eri"]),
            ("End of service within 6 months", totals["within6"]),
            ("… with a replacement planned in time", totals["planned6"]),
            ("End of service within 12 months", totals["within12"]),
            ("… with a replacement planned in time", totals["planned12"]),
        ],
        chart=BarChart(
            title="Pumps reaching end of service, by month",
            labels=tuple(month_label(m, scope.today, twelve) for m in months),
            series=(
                Series(
                    "Replacement planned in time",
                    tuple(per_month.get(m, {}).get("planned", 0) for m in months),
                    "s1",
                ),
                Series(
                    "Not planned in time",
                    tuple(
                        per_month.get(m, {}).get("n", 0) - per_month.get(m, {}).get("planned", 0)
                        for m in months
                    ),
                    "s4",
                ),
            ),
        ),
        tables=[
            table,
        ],
        notes=[
            f"End of service: the earlier of the model's automatic shut-down (implant date + "
            f"maximum service life) and the ERI date + the model's ERI-to-end-of-service days. "
            f"In time: a replacement planned at least {lead} days before it. Counted from today "
            f"({day_text(scope.today)}); the period filter does not apply to this report."
            + (f" {overdue} pump(s) are already past their end of service." if overdue else "")
        ],
    )


def _date(value) -> dt.date:
    # SQLite returns the computed date as text.
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _soon_table(pumps, in_time: Q, twelve: dt.date) -> Table:
    """Every pump with an ERI recorded or an end of service within 12 months, by name."""
    soon = pumps.filter(Q(eos__lte=twelve) | Q(eri_on__isnull=False))
    count = soon.count()
    rows = (
        soon.annotate(planned_in_time=ExpressionWrapper(in_time, output_field=BooleanField()))
        .order_by("eos")
        .values(
            "serial_number",
            "model__name",
            "implanted_on",
            "eri_on",
            "eos",
            "planned_replacement_on",
            "planned_in_time",
            "patient__id",
            "patient__family_name",
            "patient__given_name",
        )[:ROWS_SHOWN]
    )
    return Table(
        f"Pumps with an ERI or end of service within 12 months ({count})",
        [
            "Patient",
            "Pump",
            "Serial",
            "Implanted",
            "ERI",
            "End of service",
            "Replacement planned",
            "In time",
        ],
        [
            [
                patient_name(r, "patient__"),
                r["model__name"],
                r["serial_number"],
                day_text(r["implanted_on"]),
                day_text(r["eri_on"]) if r["eri_on"] else "—",
                day_text(_date(r["eos"])) if r["eos"] else "—",
                day_text(r["planned_replacement_on"])
                if r["planned_replacement_on"]
                else "not planned",
                "yes" if r["planned_in_time"] else "NO",
            ]
            for r in rows
        ],
        note=f"First {ROWS_SHOWN} of {count} shown." if count > ROWS_SHOWN else "",
    )
