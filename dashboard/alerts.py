"""The dashboard's view of the reminders app: staff alerts, messages sent, sweep health.

Kept in one module so the pages do not depend on how the reminders app spells
its fields, and so every alert is reached through the access gate.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Case, Count, IntegerField, OuterRef, QuerySet, Subquery, When
from django.db.models.functions import Coalesce

from accounts.access import scoped
from refills.models import RiskTier
from reminders import selectors as reminder_selectors
from reminders import services as reminder_services
from reminders.models import Alert, AlertState, Notification

OPEN_STATES = (AlertState.OPEN, AlertState.ACKNOWLEDGED)


def annotate_open_alerts(qs: QuerySet, *, pump_path: str) -> QuerySet:
    """Add ``open_alerts``: the pump's unresolved alerts, as one correlated subquery."""
    counts = (
        Alert.objects.filter(pump=OuterRef(pump_path), state__in=OPEN_STATES)
        .order_by()
        .values("pump")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return qs.annotate(open_alerts=Coalesce(Subquery(counts, output_field=IntegerField()), 0))


def alerts_for_patient(patient, *, limit: int = 30) -> list[Alert]:
    """Unresolved first, most severe first, newest first."""
    resolved_last = Case(When(state=AlertState.RESOLVED, then=1), default=0)
    return list(
        Alert.objects.filter(patient=patient)
        .select_related("assignee")
        .order_by(resolved_last, "-severity", "-raised_at")[:limit]
    )


def notifications_for_patient(patient, *, limit: int = 30) -> list[Notification]:
    return list(reminder_selectors.notifications_for_patient(patient_id=patient.pk, limit=limit))


def open_alerts(user) -> QuerySet[Alert]:
    return scoped(user, Alert.objects.filter(state__in=OPEN_STATES), "clinic")


def critical_alerts_for(user) -> list[Alert]:
    """Open CRITICAL alerts of the user's clinics, for the strip on every page (1 query)."""
    return list(
        open_alerts(user)
        .filter(severity=RiskTier.CRITICAL)
        .select_related("patient")
        .order_by("raised_at")[:20]
    )


# An alert with what its pages show, for the access gate (accounts.decorators.rows).
ALERTS = Alert.objects.select_related("clinic", "patient", "pump", "assignee")


def acknowledge(alert: Alert, *, by) -> None:
    reminder_services.alert_acknowledge(alert=alert, by=by)


def assign(alert: Alert, *, by, assignee) -> None:
    reminder_services.alert_assign(alert=alert, by=by, assignee=assignee)


def resolve(alert: Alert, *, by, note: str) -> None:
    reminder_services.alert_resolve(alert=alert, by=by, note=note)


def sweep_is_stale() -> bool:
    """True when the reminder sweep has missed two intervals (the banner on every page)."""
    return reminder_selectors.sweep_is_stale()


def last_sweep_at():
    last = reminder_selectors.last_sweep()
    return last.finished_at if last else None


@dataclass
class SeverityGroup:
    tier: int
    label: str
    alerts: list[Alert]


def inbox(user, *, show: str = "open", limit: int = 200) -> list[SeverityGroup]:
    """Alerts grouped by severity, most severe first (one query)."""
    qs = scoped(user, Alert.objects.all(), "clinic").select_related(
        "patient", "pump__forecast", "assignee", "acknowledged_by", "clinic"
    )
    if show == "resolved":
        qs = qs.filter(state=AlertState.RESOLVED).order_by("-resolved_at")
    else:
        qs = qs.filter(state__in=OPEN_STATES).order_by("-severity", "raised_at")
    groups: dict[int, SeverityGroup] = {}
    for alert in qs[:limit]:
        group = groups.get(alert.severity)
        if group is None:
            group = groups[alert.severity] = SeverityGroup(
                tier=alert.severity, label=RiskTier(alert.severity).label, alerts=[]
            )
        group.alerts.append(alert)
    return sorted(groups.values(), key=lambda g: -g.tier)
