"""Celery tasks: thin, ids in, a service does the work. Logs carry ids only."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import beat_init, worker_ready
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from reminders.delivery import notification_send, notifications_recover

logger = logging.getLogger(__name__)

# A database restart must not throw send tasks away: retry them after 1, 2, 4, 8, 16, 16 s
# (with jitter), about 45 s in all. The claim is a conditional UPDATE, so a retry after an
# error at any point sends at most once; a row left "sending" by an error after its claim
# goes back through the stuck-send recovery and a provider lookup.
DATABASE_ERRORS = (OperationalError, InterfaceError)


@shared_task(
    name="reminders.tasks.send_notification",
    acks_late=True,
    ignore_result=True,
    autoretry_for=DATABASE_ERRORS,
    retry_backoff=1,
    retry_backoff_max=16,
    retry_jitter=True,
    max_retries=6,
)
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


def _sweep_limits() -> dict:
    return {
        "soft_time_limit": getattr(settings, "CELERY_SWEEP_SOFT_TIME_LIMIT", 300),
        "time_limit": getattr(settings, "CELERY_SWEEP_TIME_LIMIT", 360),
    }


@shared_task(name="reminders.tasks.sweep", acks_late=True, ignore_result=True, **_sweep_limits())
def sweep() -> dict:
    from reminders.sweep import sweep_run

    report = sweep_run()
    return {"ok": report.ok, "created": report.messages_created, "published": report.dispatched}


@shared_task(
    name="reminders.tasks.reconcile", acks_late=True, ignore_result=True, **_sweep_limits()
)
def reconcile() -> dict:
    """Hourly: a sweep that also repairs plans for appointments written around the services."""
    from reminders.sweep import sweep_run

    report = sweep_run(reconcile=True)
    return {"ok": report.ok, "reconciled": report.plans_reconciled}


@worker_ready.connect
def recover_after_restart(**kwargs) -> None:
    """A worker (re)started on this host: rows its dead predecessor held go back at once."""
    try:
        notifications_recover(now=timezone.now())
    except Exception:
        logger.warning("could not recover the sends of a dead worker at start", exc_info=True)


@beat_init.connect
def sweep_when_beat_returns(sender=None, **kwargs) -> None:
    """Beat starts: if the last sweep is older than one interval, run one now, not later."""
    from reminders.sweep import sweep_now_if_late

    try:
        sweep_now_if_late()
    except Exception:
        logger.warning("could not check the sweep's age at beat start", exc_info=True)
