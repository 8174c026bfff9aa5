"""Acting on alerts: staff acknowledge, assign and resolve them."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.access import PERMISSIONS, can
from accounts.models import Membership
from pumptrack.limits import check_free_text
from reminders.alerts.escalate import cancel_pending_escalations
from reminders.models import Alert, AlertState


def _require_actor(alert: Alert, by) -> None:
    if by is None or not can(by, "act_on_alerts", alert.clinic):
        raise PermissionDenied("You cannot act on this clinic's alerts.")


def _locked(alert: Alert) -> Alert:
    # A row lock on PostgreSQL; SQLite's IMMEDIATE transactions already serialize writers.
    return Alert.objects.select_for_update().select_related("clinic").get(pk=alert.pk)


def alert_acknowledge(*, alert: Alert, by, now: dt.datetime | None = None) -> Alert:
    """Someone has seen it and is acting: escalation stops. Idempotent."""
    _require_actor(alert, by)
    now = now or timezone.now()
    with transaction.atomic():
        row = _locked(alert)
        if row.state == AlertState.RESOLVED:
            raise ValidationError("This alert is already resolved.")
        if row.state == AlertState.OPEN:
            row.state = AlertState.ACKNOWLEDGED
            row.acknowledged_by = by
            row.acknowledged_at = now
            row.next_escalation_at = None
            row.updated_at = now
            row.save(
                update_fields=[
                    "state",
                    "acknowledged_by",
                    "acknowledged_at",
                    "next_escalation_at",
                    "updated_at",
                ]
            )
            cancel_pending_escalations(row, reason="The alert was acknowledged")
    return row


def alert_assign(*, alert: Alert, by, assignee, now: dt.datetime | None = None) -> Alert:
    """Give the alert to a colleague at the same clinic (None to unassign)."""
    _require_actor(alert, by)
    if (
        assignee is not None
        and not Membership.objects.filter(
            user=assignee,
            user__is_active=True,
            clinic_id=alert.clinic_id,
            role__in=PERMISSIONS["act_on_alerts"],
        ).exists()
    ):
        raise ValidationError(
            {"assignee": "Assign the alert to someone at this clinic whose role acts on alerts."}
        )
    with transaction.atomic():
        row = _locked(alert)
        row.assignee = assignee
        row.updated_at = now or timezone.now()
        row.save(update_fields=["assignee", "updated_at"])
    return row


def alert_resolve(*, alert: Alert, by, note: str, now: dt.datetime | None = None) -> Alert:
    """Close the alert with what was done. Needed for discrepancies and failed deliveries."""
    _require_actor(alert, by)
    if not note.strip():
        raise ValidationError({"note": "Say what was done, so the next person knows."})
    check_free_text(note=note)
    now = now or timezone.now()
    with transaction.atomic():
        row = _locked(alert)
        if row.state == AlertState.RESOLVED:
            raise ValidationError("This alert is already resolved.")
        row.state = AlertState.RESOLVED
        row.resolved_by = by
        row.resolved_at = now
        row.resolution_note = note.strip()
        row.next_escalation_at = None
        row.updated_at = now
        row.save(
            update_fields=[
                "state",
                "resolved_by",
                "resolved_at",
                "resolution_note",
                "next_escalation_at",
                "updated_at",
            ]
        )
        cancel_pending_escalations(row, reason="The alert was resolved")
    return row
