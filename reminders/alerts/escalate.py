"""Escalation: unacknowledged HIGH/CRITICAL alerts go to the clinic's escalation contacts."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import NoReverseMatch, reverse

from accounts.models import Membership, Role
from patients.models import Channel
from patients.validators import normalize_phone
from refills.risk import Tier
from reminders import conf
from reminders.messages import format_when
from reminders.models import Alert, AlertState, Notification, NotificationKind
from reminders.outbox import Draft, Recipient, draft_for, notifications_insert
from reminders.status_history import cancel_pending

logger = logging.getLogger(__name__)


def escalation_start(severity: int, now: dt.datetime) -> dt.datetime | None:
    """When a newly (or again) HIGH alert is first escalated; None below HIGH."""
    if severity >= Tier.HIGH:
        return now + conf.minutes("ESCALATION_DELAY_MINUTES")
    return None


def cancel_pending_escalations(alert: Alert, *, reason: str) -> None:
    cancel_pending(Notification.objects.filter(alert=alert), reason=reason)


def alert_url(alert: Alert) -> str:
    base = (settings.REMINDERS.get("PUBLIC_BASE_URL") or "http://127.0.0.1:8000").rstrip("/")
    # The staff alert inbox, at this alert's card: every role that receives escalations can
    # open it (the Django admin is for platform operators only).
    try:
        return base + reverse("dashboard:alerts") + f"#alert-{alert.pk}"
    except NoReverseMatch:
        return base


def escalation_contacts(clinic_id: int) -> list[Membership]:
    """The clinic's escalation contacts; its managers when nobody is named."""
    memberships = Membership.objects.filter(
        clinic_id=clinic_id, user__is_active=True
    ).select_related("user")
    contacts = [m for m in memberships if m.receives_escalations]
    return contacts or [m for m in memberships if m.role == Role.MANAGER]


def _escalation_context(alert: Alert, user, number: int) -> dict[str, str]:
    return {
        "first_name": user.first_name or user.username,
        "clinic_name": alert.clinic.name,
        "alert_id": str(alert.pk),
        "alert_kind": alert.get_kind_display(),
        "severity": alert.severity_label.upper(),
        "alert_url": alert_url(alert),
        "escalation_number": str(number),
        "raised_at": format_when(alert.raised_at, alert.clinic.tz),
    }


def staff_addresses(user) -> list[tuple[str, str]]:
    """The user's email and text-message addresses, those that are usable (the alert
    escalations and the watchdog's warnings reach staff the same way)."""
    addresses = []
    if user.email:
        addresses.append((Channel.EMAIL, user.email))
    try:
        phone = normalize_phone(user.phone)
    except ValidationError:
        phone = ""
    if phone:
        addresses.append((Channel.SMS, phone))
    return addresses


def _staff_drafts(alert: Alert, number: int, now: dt.datetime) -> list[Draft]:
    drafts = []
    clinic = alert.clinic
    zone = clinic.tz
    for membership in escalation_contacts(alert.clinic_id):
        user = membership.user
        context = _escalation_context(alert, user, number)
        for channel, address in staff_addresses(user):
            recipient = Recipient(
                kind="user",
                id=user.pk,
                first_name=context["first_name"],
                channel=channel,
                address=address,
                zone=zone,
                staff_user_id=user.pk,
                patient_id=alert.patient_id,
            )
            drafts.append(
                draft_for(
                    key=f"alert:{alert.pk}:escalation-{number}:user:{user.pk}:{channel}",
                    kind=NotificationKind.STAFF_ESCALATION,
                    stage=f"escalation-{number}",
                    recipient=recipient,
                    clinic=clinic,
                    context=context,
                    now=now,
                    # Escalation contacts asked for these; a CRITICAL alert cannot wait for 8 am.
                    quiet_hours=False,
                    alert_id=alert.pk,
                )
            )
    return drafts


def alert_escalate(alert: Alert, *, now: dt.datetime) -> bool:
    """Send notice number escalation_count + 1, if no overlapping sweep sent it first."""
    number = alert.escalation_count + 1
    drafts = _staff_drafts(alert, number, now)
    with transaction.atomic():
        # Only the sweep that moves the counter sends; the keys would de-duplicate anyway.
        won = Alert.objects.filter(
            pk=alert.pk, state=AlertState.OPEN, escalation_count=alert.escalation_count
        ).update(
            escalation_count=number,
            last_escalated_at=now,
            next_escalation_at=now + conf.minutes("ESCALATION_REPEAT_MINUTES"),
        )
        if won:
            alert.refresh_from_db()
            Alert.history.bulk_history_create([alert], update=True, default_date=now)
            notifications_insert(drafts, now=now)
            if not drafts:
                logger.warning("alert %s: clinic %s has nobody to tell", alert.pk, alert.clinic_id)
    return bool(won)


def alerts_escalate_due(*, now: dt.datetime, limit: int = 500) -> int:
    """Send unacknowledged HIGH/CRITICAL alerts to the escalation contacts, again until acked."""
    due = (
        Alert.objects.filter(
            state=AlertState.OPEN, next_escalation_at__lte=now, severity__gte=Tier.HIGH
        )
        .select_related("clinic")
        .order_by("next_escalation_at")[:limit]
    )
    return sum(alert_escalate(alert, now=now) for alert in due)
