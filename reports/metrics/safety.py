"""Report 3, safety events: flagged volume discrepancies by direction, staff alerts by
kind and severity, the median time to acknowledge and to resolve, the CRITICAL alerts.

Alerts raised while a whole history was loading (the demo's back-dated records) are left
out by their stored flag, Alert.raised_during_history_load: they stood for intermediate
states nobody had to act on."""

from __future__ import annotations

from django.db.models import Count, F, Q

from refills.models import Refill, RiskTier
from reminders.models import Alert, AlertKind, AlertState
from reports.charts import BarChart, Series
from reports.metrics.common import (
    Report,
    Scope,
    Table,
    day_text,
    days_text,
    local_day,
    median,
    patient_name,
)

CRITICAL_ROWS_SHOWN = 200
SEVERITIES = tuple(reversed(RiskTier))  # critical first
SEVERITY_CSS = {
    RiskTier.CRITICAL: "s4",
    RiskTier.HIGH: "s3",
    RiskTier.MODERATE: "s2",
    RiskTier.LOW: "s1",
}


def alerts_in(scope: Scope):
    return Alert.objects.filter(
        clinic_id__in=scope.clinic_ids,
        raised_at__gte=scope.start,
        raised_at__lt=scope.end,
        raised_during_history_load=False,
    )


def _discrepancies(scope: Scope) -> dict[str, int]:
    return Refill.objects.filter(
        pump__patient__clinic_id__in=scope.clinic_ids,
        performed_at__gte=scope.start,
        performed_at__lt=scope.end,
        discrepancy_flagged=True,
    ).aggregate(
        # discrepancy = actual - expected residual (refills/forecast.py).
        more_left=Count("id", filter=Q(discrepancy_ml__gt=0)),
        less_left=Count("id", filter=Q(discrepancy_ml__lt=0)),
        pocket_fill=Count("id", filter=Q(pocket_fill_suspected=True)),
    )


def safety_report(*, scope: Scope) -> Report:
    alerts = alerts_in(scope)
    by_kind = {
        (r["kind"], r["severity"]): r["n"]
        for r in alerts.values("kind", "severity").annotate(n=Count("id")).order_by()
    }
    kinds = [k for k in AlertKind if any((k.value, int(s)) in by_kind for s in SEVERITIES)]
    disc = _discrepancies(scope)
    to_ack = median(alerts, F("acknowledged_at") - F("raised_at"))
    to_resolve = median(alerts.filter(resolved_by__isnull=False), F("resolved_at") - F("raised_at"))
    total = sum(by_kind.values())
    # The medians only see the alerts acknowledged or resolved; the open ones sit beside them.
    still = alerts.aggregate(
        unacknowledged=Count("id", filter=Q(acknowledged_at__isnull=True, state=AlertState.OPEN)),
        unresolved=Count("id", filter=~Q(state=AlertState.RESOLVED)),
    )
    return Report(
        key="safety",
        title="Safety events",
        scope=scope,
        figures=[
            ("Flagged discrepancies: more left than expected", disc["more_left"]),
            ("Flagged discrepancies: less left than expected", disc["less_left"]),
            ("Possible pocket fills", disc["pocket_fill"]),
            ("Staff alerts raised", total),
            ("Median time to acknowledge", days_text(to_ack)),
            ("Alerts not yet acknowledged (not in the median)", still["unacknowledged"]),
            ("Median time to resolve (by staff)", days_text(to_resolve)),
            ("Alerts not yet resolved (not in the median)", still["unresolved"]),
        ],
        chart=BarChart(
            title="Staff alerts by kind and severity",
            labels=tuple(k.label for k in kinds),
            series=tuple(
                Series(
                    s.label,
                    tuple(by_kind.get((k.value, int(s)), 0) for k in kinds),
                    SEVERITY_CSS[s],
                )
                for s in SEVERITIES
            ),
        ),
        tables=[
            Table(
                "Alerts by kind and severity",
                ["Kind", *[s.label for s in SEVERITIES], "All"],
                [
                    [
                        k.label,
                        *[by_kind.get((k.value, int(s)), 0) for s in SEVERITIES],
                        sum(by_kind.get((k.value, int(s)), 0) for s in SEVERITIES),
                    ]
                    for k in kinds
                ],
            ),
            _critical(alerts, scope),
        ],
        notes=[
            "Alerts are counted by the day they were raised (clinic time), at their "
            "severity now. Time to resolve counts alerts a person resolved; alerts that "
            "cleared by themselves are not in it. Alerts raised while a history was being "
            "loaded (demo data) are left out. A discrepancy is the residual found minus the "
            "residual expected: more left means the pump delivered less than programmed."
        ],
    )


def _critical(alerts, scope: Scope) -> Table:
    critical = alerts.filter(severity=int(RiskTier.CRITICAL))
    count = critical.count()
    rows = critical.order_by("-raised_at").values(
        "kind",
        "state",
        "raised_at",
        "acknowledged_at",
        "resolved_at",
        "patient__id",
        "patient__family_name",
        "patient__given_name",
    )[:CRITICAL_ROWS_SHOWN]
    labels = dict(AlertKind.choices)

    def day(value):
        found = local_day(value, scope.tz)
        return day_text(found) if found else "—"

    return Table(
        f"Critical alerts ({count})",
        ["Patient", "Kind", "Raised", "Acknowledged", "Resolved", "State"],
        [
            [
                patient_name(r, "patient__"),
                labels.get(r["kind"], r["kind"]),
                day(r["raised_at"]),
                day(r["acknowledged_at"]),
                day(r["resolved_at"]),
                r["state"],
            ]
            for r in rows
        ],
        note=f"First {CRITICAL_ROWS_SHOWN} of {count} shown."
        if count > CRITICAL_ROWS_SHOWN
        else "",
    )
