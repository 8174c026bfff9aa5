"""Reads for pages and the health check: sized for a page, a few queries each."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.access import scoped
from patients.models import Clinic, Patient
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
    return rows.select_related("clinic", "patient", "caregiver", "staff_user").order_by(
        "-created_at", "-id"
    )


def template_overrides(*, clinics) -> dict[tuple[int, str, str], MessageTemplate]:
    """The clinics' own message texts by (clinic id, kind, channel) (one query)."""
    return {
        (t.clinic_id, t.kind, t.channel): t
        for t in MessageTemplate.objects.filter(clinic__in=clinics).select_related("updated_by")
    }


def template_override(*, clinic, kind: str, channel: str) -> MessageTemplate | None:
    return MessageTemplate.objects.filter(clinic=clinic, kind=kind, channel=channel).first()
