"""Reads for pages and the health check: sized for a page, a few queries each."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Case, Count, IntegerField, OuterRef, Q, QuerySet, Subquery, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.access import scoped
from patients.models import Clinic, Patient
from refills.models import RiskTier
from reminders import conf
from reminders.models import (
    Alert,
    AlertState,
    MessageTemplate,
    Notification,
    NotificationStatus,
    SweepHeartbeat,
)


def last_sweep(*, ok_only: bool = True) -> SweepHeartbeat | None:
    rows = SweepHeartbeat.objects.all()
    if ok_only:
        rows = rows.filter(ok=True)
    return rows.order_by("-finished_at").first()


def sweep_age(*, now: dt.datetime | None = None) -> dt.timedelta | None:
    last = last_sweep()
    if last is None:
        return None
    return (now or timezone.now()) - last.finished_at


def sweep_is_stale(*, now: dt.datetime | None = None) -> bool:
    """True when no complete sweep finished within two intervals (the dashboard banner)."""
    age = sweep_age(now=now)
    return age is None or age > conf.stale_after()


def clinics_of_phone(phone: str) -> set[Clinic]:
    """The clinics of every patient with this phone number (the SMS auto-reply names one
    clinic only when there is exactly one)."""
    return {p.clinic for p in Patient.objects.filter(phone=phone).select_related("clinic")}


def notifications_for_patient(*, patient_id: int, limit: int = 100) -> QuerySet[Notification]:
    """Every message about a patient, newest first: recipient, channel, status, why."""
    return (
        Notification.objects.filter(patient_id=patient_id)
        .select_related("caregiver", "staff_user", "patient")
        .prefetch_related("events")
        .order_by("-created_at", "-id")[:limit]
    )


def alerts_unresolved(*, clinic_ids) -> QuerySet[Alert]:
    """The clinic work queue: most severe first, oldest first within a severity."""
    return (
        Alert.objects.filter(clinic_id__in=clinic_ids)
        .exclude(state=AlertState.RESOLVED)
        .select_related("patient", "pump", "assignee", "acknowledged_by")
        .order_by("-severity", "raised_at")
    )


# The outbox's "problems" filter: failed or suppressed, or sent more than once.
PROBLEMS = Q(status__in=[NotificationStatus.FAILED, NotificationStatus.SUPPRESSED]) | Q(
    possible_duplicates__gt=0
)


def outbox(
    user,
    *,
    status: str | None = None,
    channel: str | None = None,
    kind: str | None = None,
    problems: bool = False,
) -> QuerySet[Notification]:
    """Every message of the user's clinics, newest first, ready to page."""
    rows = scoped(user, Notification.objects.all(), "clinic")
    for field, value in (("status", status), ("channel", channel), ("kind", kind)):
        if value:
            rows = rows.filter(**{field: value})
    if problems:
        rows = rows.filter(PROBLEMS)
    return (
        rows.select_related("clinic", "patient", "caregiver", "staff_user")
        .prefetch_related("events")
        .order_by("-created_at", "-id")
    )


def template_overrides(*, clinics) -> dict[tuple[int, str, str], MessageTemplate]:
    """The clinics' own message texts by (clinic id, kind, channel) (one query)."""
    return {
        (t.clinic_id, t.kind, t.channel): t
        for t in MessageTemplate.objects.filter(clinic__in=clinics).select_related("updated_by")
    }


def template_override(*, clinic, kind: str, channel: str) -> MessageTemplate | None:
    return MessageTemplate.objects.filter(clinic=clinic, kind=kind, channel=channel).first()


# --------------------------------------------------------------------------- staff alerts
# The reads of staff alerts that pages (and any API) show, here beside the alerts'
# rules rather than in the page layer; every user-facing read goes through the access gate.

OPEN_ALERT_STATES = (AlertState.OPEN, AlertState.ACKNOWLEDGED)

# An alert with what its pages show, for the access gate (accounts.decorators.rows).
ALERTS_FOR_PAGES = Alert.objects.select_related("clinic", "patient", "pump", "assignee")


def annotate_open_alerts(qs: QuerySet, *, pump_path: str) -> QuerySet:
    """Add ``open_alerts``: the pump's unresolved alerts, as one correlated subquery."""
    counts = (
        Alert.objects.filter(pump=OuterRef(pump_path), state__in=OPEN_ALERT_STATES)
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


def open_alerts(user) -> QuerySet[Alert]:
    return scoped(user, Alert.objects.filter(state__in=OPEN_ALERT_STATES), "clinic")


def critical_alerts_for(user) -> list[Alert]:
    """Open CRITICAL alerts of the user's clinics, for the strip on every page (1 query)."""
    return list(
        open_alerts(user)
        .filter(severity=RiskTier.CRITICAL)
        .select_related("patient")
        .order_by("raised_at")[:20]
    )


@dataclass(frozen=True)
class SeverityCount:
    tier: int
    label: str
    count: int


def open_alert_counts(user) -> list[SeverityCount]:
    """Open (and acknowledged) alerts of the user's clinics by severity, most severe first
    (one query): the nav badge shows every severity, not only CRITICAL."""
    rows = (
        open_alerts(user)
        .order_by()
        .values("severity")
        .annotate(n=Count("pk"))
        .order_by("-severity")
    )
    return [SeverityCount(r["severity"], RiskTier(r["severity"]).label, r["n"]) for r in rows]


def last_sweep_at() -> dt.datetime | None:
    last = last_sweep()
    return last.finished_at if last else None


@dataclass
class SeverityGroup:
    tier: int
    label: str
    alerts: list[Alert]


def alert_inbox(user, *, show: str = "open", limit: int = 200) -> list[SeverityGroup]:
    """The user's clinics' alerts grouped by severity, most severe first (one query)."""
    qs = scoped(user, Alert.objects.all(), "clinic").select_related(
        "patient", "pump__forecast", "assignee", "acknowledged_by", "clinic"
    )
    if show == "resolved":
        qs = qs.filter(state=AlertState.RESOLVED).order_by("-resolved_at")
    else:
        qs = qs.filter(state__in=OPEN_ALERT_STATES).order_by("-severity", "raised_at")
    groups: dict[int, SeverityGroup] = {}
    for alert in qs[:limit]:
        group = groups.get(alert.severity)
        if group is None:
            group = groups[alert.severity] = SeverityGroup(
                tier=alert.severity, label=RiskTier(alert.severity).label, alerts=[]
            )
        group.alerts.append(alert)
    return sorted(groups.values(), key=lambda g: -g.tier)
