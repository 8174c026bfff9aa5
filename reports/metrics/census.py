"""Report 5, risk census: active pumps per tier now and day by day (the stored daily
snapshots), patients with the label's risk factors, and the patients due within the
work-queue window with nothing booked, by name."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q, Sum

from patients.models import Patient, PumpStatus
from refills.models import PumpForecast, RiskTier
from refills.policy import work_queue_dta_days
from reports.charts import BarChart, Series
from reports.metrics.common import (
    Report,
    Scope,
    Table,
    day_text,
    patient_name,
    short_day,
)
from reports.models import TierSnapshot

UNBOOKED_ROWS_SHOWN = 300
TIERS = tuple(reversed(RiskTier))
TIER_CSS = {
    RiskTier.CRITICAL: "s4",
    RiskTier.HIGH: "s3",
    RiskTier.MODERATE: "s2",
    RiskTier.LOW: "s1",
}
FIELD = {
    RiskTier.LOW: "low",
    RiskTier.MODERATE: "moderate",
    RiskTier.HIGH: "high",
    RiskTier.CRITICAL: "critical",
}
# The label's named risk factors (Gablofen §5.5), then the other documented ones.
FACTORS = (
    "sci_t6_or_above",
    "communication_difficulty",
    "prior_withdrawal",
    "cognitive_impairment",
    "hearing_impairment",
    "transport_barrier",
    "prior_prealarm_symptoms",
)


def _active_forecasts(scope: Scope):
    return PumpForecast.objects.filter(
        pump__status=PumpStatus.ACTIVE,
        pump__patient__clinic_id__in=scope.clinic_ids,
        pump__patient__is_active=True,
    )


def _unbooked(scope: Scope, window: int):
    return _active_forecasts(scope).filter(
        booked_before_refill_by=False, refill_by__lte=scope.today + dt.timedelta(days=window)
    )


def _history(scope: Scope) -> list[dict]:
    """The daily snapshots of the period, summed over the clinics by day."""
    return list(
        TierSnapshot.objects.filter(
            clinic_id__in=scope.clinic_ids, day__gte=scope.since, day__lte=scope.until
        )
        .values("day")
        .annotate(**{f"n_{f}": Sum(f) for f in [*FIELD.values(), "unbooked_within_window"]})
        .order_by("day")
    )


def _factors(scope: Scope) -> dict:
    return Patient.objects.filter(
        clinic_id__in=scope.clinic_ids, is_active=True, pumps__status=PumpStatus.ACTIVE
    ).aggregate(
        **{f"n_{f}": Count("pk", filter=Q(**{f: True})) for f in FACTORS},
        any_label=Count(
            "pk",
            filter=Q(sci_t6_or_above=True)
            | Q(communication_difficulty=True)
            | Q(prior_withdrawal=True),
        ),
    )


def _unbooked_table(scope: Scope, window: int) -> tuple[Table, int]:
    unbooked = _unbooked(scope, window)
    count = unbooked.count()
    rows = unbooked.order_by("refill_by", "-risk_tier").values(
        "refill_by",
        "risk_tier",
        "next_refill_at",
        "pump__patient__id",
        "pump__patient__family_name",
        "pump__patient__given_name",
    )[:UNBOOKED_ROWS_SHOWN]
    labels = dict(RiskTier.choices)
    table = Table(
        f"Due within {window} days with nothing booked in time ({count})",
        ["Patient", "Refill by", "Tier", "Next refill booked"],
        [
            [
                patient_name(r, "pump__patient__"),
                day_text(r["refill_by"]) if r["refill_by"] else "—",
                labels.get(r["risk_tier"], ""),
                "after the refill-by date" if r["next_refill_at"] else "nothing booked",
            ]
            for r in rows
        ],
        note=f"First {UNBOOKED_ROWS_SHOWN} of {count} shown."
        if count > UNBOOKED_ROWS_SHOWN
        else "",
    )
    return table, count


def census_report(*, scope: Scope) -> Report:
    window = work_queue_dta_days()
    now = _active_forecasts(scope).aggregate(
        **{FIELD[t]: Count("pk", filter=Q(risk_tier=int(t))) for t in TIERS}
    )
    history = _history(scope)
    factors = _factors(scope)
    unbooked, count = _unbooked_table(scope, window)
    return Report(
        key="census",
        title="Risk census",
        scope=scope,
        figures=[
            *[(f"{t.label} now", now[FIELD[t]]) for t in TIERS],
            ("Patients with a label risk factor", factors["any_label"]),
            (f"Due within {window} days, nothing booked in time", count),
        ],
        chart=BarChart(
            title="Active pumps per tier, day by day (daily snapshots)",
            labels=tuple(short_day(h["day"]) for h in history),
            series=tuple(
                Series(t.label, tuple(h["n_" + FIELD[t]] for h in history), TIER_CSS[t])
                for t in TIERS
            ),
        ),
        tables=[
            unbooked,
            Table(
                "Tiers now",
                ["Tier", "Active pumps"],
                [[t.label, now[FIELD[t]]] for t in TIERS],
            ),
            Table(
                "Risk factors (active patients with an active pump)",
                ["Risk factor", "Patients"],
                [[_label(f), factors[f"n_{f}"]] for f in FACTORS],
            ),
            Table(
                "Daily snapshots",
                ["Day", *[t.label for t in TIERS], f"Unbooked within {window} days"],
                [
                    [
                        day_text(h["day"]),
                        *[h["n_" + FIELD[t]] for t in TIERS],
                        h["n_unbooked_within_window"],
                    ]
                    for h in history
                ],
            ),
        ],
        notes=[
            "Tiers now are read from the stored forecasts; the day-by-day counts from the "
            "snapshot taken each morning in the clinic's zone (none before the first one)."
        ],
    )


def _label(name: str) -> str:
    text = str(Patient._meta.get_field(name).verbose_name)
    return text[:1].upper() + text[1:]
