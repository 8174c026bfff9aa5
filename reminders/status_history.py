"""Status changes made to many messages at once, each with its row in the status history.

A bulk .update() writes no NotificationEvent by itself; a message cancelled or
suppressed that way would show only "Queued" on its page. These helpers append the
history rows in the same transaction as the change.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from reminders.models import Notification, NotificationEvent, NotificationStatus


def cancel_pending(pending: QuerySet[Notification], *, reason: str, now=None) -> int:
    """Cancel the still-pending messages of `pending` with `reason`; returns how many."""
    now = now or timezone.now()
    reason = reason[:200]
    with transaction.atomic():
        ids = list(
            pending.filter(status=NotificationStatus.PENDING)
            # Lock the messages only: PostgreSQL cannot lock the nullable side of the outer
            # join a filter such as Q(appointment__pump=...) | Q(key__startswith=...) makes.
            .select_for_update(of=("self",))
            .values_list("pk", flat=True)
        )
        if not ids:
            return 0
        done = Notification.objects.filter(pk__in=ids).update(
            status=NotificationStatus.CANCELLED,
            suppressed_reason=reason,
            status_changed_at=now,
        )
        NotificationEvent.objects.bulk_create(
            NotificationEvent(
                notification_id=pk, status=NotificationStatus.CANCELLED, at=now, detail=reason
            )
            for pk in ids
        )
    return done


def record_created_suppressed(keys: list[str], *, now) -> None:
    """History rows for messages created already "not sent" (no channel to send by)."""
    if not keys:
        return
    rows = Notification.objects.filter(
        key__in=keys, status=NotificationStatus.SUPPRESSED, events__isnull=True
    ).values_list("pk", "suppressed_reason")
    NotificationEvent.objects.bulk_create(
        NotificationEvent(
            notification_id=pk, status=NotificationStatus.SUPPRESSED, at=now, detail=reason
        )
        for pk, reason in rows
    )
