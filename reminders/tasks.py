"""Celery tasks: thin, ids in, a service does the work. Logs carry ids only."""

from __future__ import annotations

import logging

from celery import shared_task

from reminders.delivery import notification_send

logger = logging.getLogger(__name__)


@shared_task(name="reminders.tasks.send_notification", acks_late=True, ignore_result=True)
def send_notification(notification_id: int) -> str:
    outcome = notification_send(notification_id=int(notification_id))
    if outcome.retry_in is not None:
        try:
            # Seconds to minutes, always below the broker's visibility timeout. If this
            # message is lost the sweep publishes the row again.
            send_notification.apply_async(args=[notification_id], countdown=outcome.retry_in)
        except Exception:
            logger.warning("could not queue the retry of notification %s", notification_id)
    return outcome.outcome


@shared_task(name="reminders.tasks.sweep", acks_late=True, ignore_result=True)
def sweep() -> dict:
    from reminders.sweep import sweep_run

    report = sweep_run()
    return {"ok": report.ok, "created": report.messages_created, "published": report.dispatched}


@shared_task(name="reminders.tasks.reconcile", acks_late=True, ignore_result=True)
def reconcile() -> dict:
    """Hourly: a sweep that also repairs plans for appointments written around the services."""
    from reminders.sweep import sweep_run

    report = sweep_run(reconcile=True)
    return {"ok": report.ok, "reconciled": report.plans_reconciled}
