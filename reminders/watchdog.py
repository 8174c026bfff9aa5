"""The watchdog: a process apart from beat and the worker that notices when sweeps stop.

`manage.py watchdog` calls `watchdog_check` every WATCHDOG_CHECK_SECONDS. When the last
complete sweep is older than WATCHDOG_ALERT_AFTER_SECONDS (two sweep intervals), it
emails and texts every clinic's escalation contacts (reminders.alerts.escalation_contacts)
once for that outage, and once more when sweeps are back. It sends those messages itself
(through the same outbox rows, claim and channels as the worker), because the worker may
be the thing that stopped. `WatchdogState` (one row) remembers which outage was announced,
so a restarted watchdog never alerts twice; the outbox keys make every message unique.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from patients.models import Channel, Clinic
from reminders import conf
from reminders.alerts import escalation_contacts
from reminders.alerts.escalate import staff_addresses
from reminders.delivery import notification_send
from reminders.messages import format_when
from reminders.models import Notification, NotificationKind, NotificationStatus, WatchdogState
from reminders.outbox import Draft, notifications_insert
from reminders.selectors import last_sweep

logger = logging.getLogger(__name__)

KEY_PREFIX = "watchdog:"
STOPPED, RESUMED = "stopped", "resumed"


@dataclass
class WatchdogResult:
    last_sweep_at: dt.datetime | None
    late: bool
    # "announced" (an outage was just reported), "recovered" (its end was), or "".
    event: str = ""
    outage_number: int = 0
    messages_created: int = 0
    outcomes: list[str] = field(default_factory=list)

    def line(self, now: dt.datetime) -> str:
        last = f"{self.last_sweep_at:%Y-%m-%d %H:%M:%S %Z}" if self.last_sweep_at else "never"
        state = "LATE" if self.late else "on time"
        text = f"watchdog {now:%H:%M:%S}: last sweep {last} ({state})"
        if self.event:
            text += f"; outage {self.outage_number} {self.event}, {self.messages_created} messages"
        if self.outcomes:
            text += f"; sent: {', '.join(self.outcomes)}"
        return text


def watchdog_check(*, now: dt.datetime | None = None, deliver: bool = True) -> WatchdogResult:
    """One check: announce a new outage or a recovery (once each), then send what is due."""
    now = now or timezone.now()
    state, _ = WatchdogState.objects.get_or_create(pk=1, defaults={"first_checked_at": now})
    last = last_sweep()
    # Never a sweep: count from when the watchdog first looked (a fresh install).
    since = last.finished_at if last is not None else state.first_checked_at
    late = now - since > conf.seconds("WATCHDOG_ALERT_AFTER_SECONDS")
    result = WatchdogResult(last_sweep_at=last.finished_at if last else None, late=late)
    if late and state.outage_since is None:
        _announce_outage(state, since=since, now=now, result=result)
    elif not late and state.outage_since is not None:
        _announce_recovery(state, now=now, result=result)
    WatchdogState.objects.filter(pk=state.pk).update(checked_at=now)
    if deliver:
        result.outcomes = watchdog_deliver(now=now)
    return result


def _announce_outage(
    state: WatchdogState, *, since: dt.datetime, now: dt.datetime, result: WatchdogResult
) -> None:
    with transaction.atomic():
        # Conditional: two watchdogs (or a restart mid-check) announce an outage once.
        won = WatchdogState.objects.filter(pk=state.pk, outage_since__isnull=True).update(
            outage_since=since, outage_alerted_at=now, outage_number=F("outage_number") + 1
        )
        if not won:
            return
        state.refresh_from_db()
        drafts = _drafts(STOPPED, number=state.outage_number, since=since, now=now)
        result.messages_created = notifications_insert(drafts, now=now)
    result.event, result.outage_number = "announced", state.outage_number
    logger.error(
        "watchdog: no sweep since %s; outage %s announced (%s messages)",
        since.isoformat(),
        state.outage_number,
        result.messages_created,
    )


def _announce_recovery(state: WatchdogState, *, now: dt.datetime, result: WatchdogResult) -> None:
    since = state.outage_since
    with transaction.atomic():
        won = WatchdogState.objects.filter(
            pk=state.pk, outage_since=since, outage_number=state.outage_number
        ).update(outage_since=None, recovered_at=now)
        if not won:
            return
        drafts = _drafts(RESUMED, number=state.outage_number, since=since, now=now)
        result.messages_created = notifications_insert(drafts, now=now)
    result.event, result.outage_number = "recovered", state.outage_number
    logger.warning("watchdog: sweeps are back; outage %s closed", state.outage_number)


def _texts(event: str, *, first_name: str, since: str, minutes: int, now: str) -> dict:
    """Subject, email body and text for one contact: no patient, no health data."""
    if event == STOPPED:
        return {
            "subject": "pumptrack: reminders have stopped",
            "email": (
                f"Hello {first_name},\n\n"
                f"pumptrack's reminder sweep has not run since {since} ({minutes} minutes). "
                "Until it runs again, no reminders, staff alerts or escalations go out.\n\n"
                "Please ask whoever runs pumptrack to check its worker and beat processes. "
                "You will get another message when the reminders are running again.\n"
            ),
            "sms": (
                f"pumptrack: reminders stopped; last run {since} ({minutes} min ago). "
                "Check the worker and beat. You will be told when it recovers."
            ),
        }
    return {
        "subject": "pumptrack: reminders are running again",
        "email": (
            f"Hello {first_name},\n\n"
            f"pumptrack's reminder sweep is running again ({now}). It had not run since "
            f"{since}, {minutes} minutes. Reminders that fell due meanwhile are sent now.\n"
        ),
        "sms": f"pumptrack: reminders running again ({now}); stopped since {since}.",
    }


def _drafts(event: str, *, number: int, since: dt.datetime, now: dt.datetime) -> list[Draft]:
    """One email and one text per escalation contact (once, whatever their clinics)."""
    kind = NotificationKind.SWEEP_STOPPED if event == STOPPED else NotificationKind.SWEEP_RESUMED
    minutes = int((now - since).total_seconds() // 60)
    drafts, seen = [], set()
    for clinic in Clinic.objects.order_by("pk"):
        zone = clinic.tz
        for membership in escalation_contacts(clinic.pk):
            user = membership.user
            if user.pk in seen:
                continue
            seen.add(user.pk)
            texts = _texts(
                event,
                first_name=user.first_name or user.username,
                since=format_when(since, zone),
                minutes=minutes,
                now=format_when(now, zone),
            )
            for channel, address in staff_addresses(user):
                drafts.append(
                    Draft(
                        key=f"{KEY_PREFIX}{number}:{event}:user:{user.pk}:{channel}",
                        kind=kind,
                        stage=f"watchdog-{event}",
                        clinic_id=clinic.pk,
                        channel=channel,
                        to_address=address,
                        subject=texts["subject"] if channel == Channel.EMAIL else "",
                        body=texts["email"] if channel == Channel.EMAIL else texts["sms"],
                        staff_user_id=user.pk,
                        not_before=now,
                    )
                )
    return drafts


def watchdog_deliver(*, now: dt.datetime) -> list[str]:
    """Send the watchdog's own due messages in this process (retries included).

    A row left "sending" by a watchdog that died is freed by notification_send itself
    (its claimer's pid is gone); the sweep, once back, would also pick up the rest.
    """
    due = Notification.objects.filter(
        key__startswith=KEY_PREFIX,
        status__in=[NotificationStatus.PENDING, NotificationStatus.SENDING],
        not_before__lte=now,
    ).order_by("pk")
    return [
        notification_send(notification_id=pk, now=now).outcome
        for pk in due.values_list("pk", flat=True)[:100]
    ]
