"""The sweep: one pass over what is due now, read from the database.

Run every minute by beat (reminders.tasks.sweep) or by `python manage.py sweep`.
Every step selects only due rows through an index (reassess_at, appointment
status and start, ReminderPlan.next_due_at, Alert.next_escalation_at, pending
and sending outbox rows), so the cost follows the work due. Every write is keyed
or conditional, so sweeps may repeat, run late or overlap without creating
anything twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from django.db import transaction
from django.utils import timezone

from accounts.models import Membership, Role
from patients.models import Channel
from refills.models import Appointment, AppointmentStatus
from refills.services import appointment_mark_missed, forecast_reassess_due
from reminders import conf
from reminders.alerts import alerts_clear_for_inactive, alerts_escalate_due
from reminders.delivery import notifications_dispatch, notifications_recover
from reminders.hooks import pumps_review_due
from reminders.messages import format_when
from reminders.models import NotificationKind, SweepHeartbeat
from reminders.outbox import Recipient, draft_for, notifications_insert
from reminders.plans import plans_due, plans_process, plans_reconcile

logger = logging.getLogger(__name__)

HEARTBEAT_KEEP = dt.timedelta(days=7)


@dataclass
class SweepReport:
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    forecasts_reassessed: int = 0
    appointments_marked_missed: int = 0
    reminder_plans_due: int = 0
    messages_created: int = 0
    alerts_escalated: int = 0
    sends_recovered: int = 0
    dispatched: int = 0
    redispatched: int = 0
    plans_reconciled: int = 0
    resumed_after_stale: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return data

    def lines(self) -> list[str]:
        took = (self.finished_at - self.started_at).total_seconds() if self.finished_at else 0
        lines = [
            f"Sweep at {self.started_at:%Y-%m-%d %H:%M:%S %Z} ({took:.2f} s)",
            f"  forecasts reassessed:        {self.forecasts_reassessed}",
            f"  appointments marked missed:  {self.appointments_marked_missed}",
            f"  reminder plans due:          {self.reminder_plans_due}",
            f"  messages created:            {self.messages_created}",
            f"  alerts escalated:            {self.alerts_escalated}",
            f"  sends recovered after crash: {self.sends_recovered}",
            f"  send tasks published:        {self.dispatched} ({self.redispatched} again)",
        ]
        if self.plans_reconciled:
            lines.append(f"  plans reconciled:            {self.plans_reconciled}")
        if self.resumed_after_stale:
            lines.append("  the sweep had been stale: managers were emailed")
        lines += [f"  ERROR in {error}" for error in self.errors]
        return lines


def _publish(pk: int) -> None:
    from reminders.tasks import send_notification

    # Fail fast when the broker is down: the row stays pending and the next sweep retries.
    send_notification.apply_async(
        args=[pk], retry=True, retry_policy={"max_retries": 1, "interval_start": 0.2}
    )


def sweep_run(
    *,
    now: dt.datetime | None = None,
    publish: Callable[[int], None] | None = None,
    reconcile: bool = False,
) -> SweepReport:
    """One sweep. `publish(id)` queues a send task (default: the Celery task)."""
    now = now or timezone.now()
    publish = _publish if publish is None else publish
    report = SweepReport(started_at=now)
    batch = int(conf.value("SWEEP_BATCH"))
    max_rows = int(conf.value("SWEEP_MAX_ROWS"))

    def step(name: str, function: Callable[[], None]) -> None:
        # One broken step must not stop the others (dispatch above all).
        try:
            function()
        except Exception:
            logger.exception("sweep step %s failed", name)
            report.errors.append(name)

    def resumed() -> None:
        previous = SweepHeartbeat.objects.filter(ok=True).order_by("-finished_at").first()
        if previous is not None and now - previous.finished_at > conf.stale_after():
            report.resumed_after_stale = True
            report.messages_created += _notify_managers_resumed(previous, now)

    def reassess() -> None:
        # Pumps whose risk tier can change now, then those whose alert/nudge rule switches on.
        for due_now in (forecast_reassess_due, pumps_review_due):
            for _ in range(max(1, max_rows // batch)):
                done = due_now(now=now, limit=batch)
                report.forecasts_reassessed += done
                if done < batch:
                    break

    def mark_missed() -> None:
        grace = conf.minutes("MISSED_GRACE_MINUTES")
        overdue = Appointment.objects.filter(
            status=AppointmentStatus.SCHEDULED, scheduled_start__lte=now - grace
        ).order_by("scheduled_start")
        for appointment in overdue.select_related("pump")[:batch]:
            # Marks it, refreshes the forecast; the hook raises the alert and the message.
            if appointment_mark_missed(appointment=appointment, now=now):
                report.appointments_marked_missed += 1

    def plans() -> None:
        cache: dict = {}
        while report.reminder_plans_due < max_rows:
            due = list(plans_due(now=now, limit=batch))
            if not due:
                break
            report.reminder_plans_due += len(due)
            report.messages_created += plans_process(due, now=now, cache=cache)
            if len(due) < batch:
                break

    def escalate() -> None:
        alerts_clear_for_inactive(now=now, limit=batch)
        report.alerts_escalated += alerts_escalate_due(now=now, limit=batch)

    def recover() -> None:
        report.sends_recovered += notifications_recover(now=now, limit=batch)

    def dispatch() -> None:
        report.dispatched, report.redispatched = notifications_dispatch(
            now=now, publish=publish, batch=batch, max_rows=max_rows
        )

    def reconcile_plans() -> None:
        report.plans_reconciled = plans_reconcile(now=now)

    step("resumed", resumed)
    step("reassess", reassess)
    step("mark-missed", mark_missed)
    if reconcile:
        step("reconcile", reconcile_plans)
    step("plans", plans)
    step("escalate", escalate)
    step("recover", recover)
    step("dispatch", dispatch)

    report.finished_at = max(timezone.now(), now)
    try:
        SweepHeartbeat.objects.create(
            started_at=report.started_at,
            finished_at=report.finished_at,
            ok=report.ok,
            report=report.as_dict(),
            worker=f"{socket.gethostname()}:{os.getpid()}"[:100],
        )
        SweepHeartbeat.objects.filter(finished_at__lt=now - HEARTBEAT_KEEP).delete()
    except Exception:
        logger.exception("could not record the sweep heartbeat")
        report.errors.append("heartbeat")
    logger.info(
        "sweep: %s messages created, %s published, %s recovered, %s errors",
        report.messages_created,
        report.dispatched,
        report.sends_recovered,
        len(report.errors),
    )
    return report


def _notify_managers_resumed(previous: SweepHeartbeat, now: dt.datetime) -> int:
    drafts = []
    seen = set()
    memberships = Membership.objects.filter(role=Role.MANAGER, user__is_active=True).select_related(
        "user", "clinic"
    )
    for membership in memberships.order_by("user_id", "clinic_id"):
        user = membership.user
        if user.pk in seen or not user.email:
            continue
        seen.add(user.pk)
        zone = membership.clinic.tz
        context = {
            "first_name": user.first_name or user.username,
            "last_sweep_at": format_when(previous.finished_at, zone),
            "resumed_at": format_when(now, zone),
            "stale_minutes": str(int((now - previous.finished_at).total_seconds() // 60)),
        }
        recipient = Recipient(
            kind="user",
            id=user.pk,
            first_name=context["first_name"],
            channel=Channel.EMAIL,
            address=user.email,
            zone=zone,
            staff_user_id=user.pk,
        )
        drafts.append(
            draft_for(
                key=f"sweep-resumed:{previous.pk}:user:{user.pk}:email",
                kind=NotificationKind.SWEEP_RESUMED,
                stage="",
                recipient=recipient,
                clinic=membership.clinic,
                context=context,
                now=now,
                quiet_hours=False,
            )
        )
    with transaction.atomic():
        return notifications_insert(drafts, now=now)
