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
import json
import logging
import os
import socket
import urllib.request
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
from reminders.delivery import notification_send, notifications_dispatch, notifications_recover
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


def _send_here(pk: int) -> None:
    """Cron mode: send in this process. A retry stays a due row for the next sweep --send."""
    notification_send(notification_id=pk)


def sweep_run(
    *,
    now: dt.datetime | None = None,
    publish: Callable[[int], None] | None = None,
    reconcile: bool = False,
    cron: bool = False,
) -> SweepReport:
    """One sweep. `publish(id)` queues a send task (default: the Celery task).

    `cron=True` (manage.py sweep --send, no worker): every due row is sent in this process,
    including rows whose earlier attempt asked for a retry, and nothing goes to the broker.
    """
    now = now or timezone.now()
    if cron:
        publish = _send_here if publish is None else publish
    run = _SweepRun(
        now=now,
        publish=_publish if publish is None else publish,
        # Cron mode has no broker holding a task for a dispatched row: every run takes all.
        redispatch_after=dt.timedelta(0) if cron else conf.seconds("REDISPATCH_AFTER_SECONDS"),
    )
    run.step("resumed", run.resumed)
    run.step("reassess", run.reassess)
    run.step("mark-missed", run.mark_missed)
    if reconcile:
        run.step("reconcile", run.reconcile_plans)
    run.step("plans", run.plans)
    run.step("escalate", run.escalate)
    run.step("recover", run.recover)
    run.step("dispatch", run.dispatch)
    report = run.report
    report.finished_at = max(timezone.now(), now)
    _record_heartbeat(report, now=now)
    if report.ok:
        ping_heartbeat_url(report)
    logger.info(
        "sweep: %s messages created, %s published, %s recovered, %s errors",
        report.messages_created,
        report.dispatched,
        report.sends_recovered,
        len(report.errors),
    )
    return report


class _SweepRun:
    """The steps of one sweep, in order; each reads only what is due at `now`."""

    def __init__(
        self, *, now: dt.datetime, publish: Callable[[int], None], redispatch_after: dt.timedelta
    ):
        self.now = now
        self.publish = publish
        self.redispatch_after = redispatch_after
        self.report = SweepReport(started_at=now)
        self.batch = int(conf.value("SWEEP_BATCH"))
        self.max_rows = int(conf.value("SWEEP_MAX_ROWS"))

    def step(self, name: str, function: Callable[[], None]) -> None:
        # One broken step must not stop the others (dispatch above all).
        try:
            function()
        except Exception:
            logger.exception("sweep step %s failed", name)
            self.report.errors.append(name)

    def resumed(self) -> None:
        previous = SweepHeartbeat.objects.filter(ok=True).order_by("-finished_at").first()
        if previous is not None and self.now - previous.finished_at > conf.stale_after():
            self.report.resumed_after_stale = True
            self.report.messages_created += _notify_managers_resumed(previous, self.now)

    def reassess(self) -> None:
        # Pumps whose risk tier can change now, then those whose alert/nudge rule switches on.
        for due_now in (forecast_reassess_due, pumps_review_due):
            for _ in range(max(1, self.max_rows // self.batch)):
                done = due_now(now=self.now, limit=self.batch)
                self.report.forecasts_reassessed += done
                if done < self.batch:
                    break

    def mark_missed(self) -> None:
        grace = conf.minutes("MISSED_GRACE_MINUTES")
        overdue = Appointment.objects.filter(
            status=AppointmentStatus.SCHEDULED, scheduled_start__lte=self.now - grace
        ).order_by("scheduled_start")
        for appointment in overdue.select_related("pump")[: self.batch]:
            # Marks it, refreshes the forecast; the hook raises the alert and the message.
            if appointment_mark_missed(appointment=appointment, now=self.now):
                self.report.appointments_marked_missed += 1

    def plans(self) -> None:
        cache: dict = {}
        report = self.report
        while report.reminder_plans_due < self.max_rows:
            due = list(plans_due(now=self.now, limit=self.batch))
            if not due:
                break
            report.reminder_plans_due += len(due)
            report.messages_created += plans_process(due, now=self.now, cache=cache)
            if len(due) < self.batch:
                break

    def escalate(self) -> None:
        alerts_clear_for_inactive(now=self.now, limit=self.batch)
        self.report.alerts_escalated += alerts_escalate_due(now=self.now, limit=self.batch)

    def recover(self) -> None:
        self.report.sends_recovered += notifications_recover(now=self.now, limit=self.batch)

    def dispatch(self) -> None:
        self.report.dispatched, self.report.redispatched = notifications_dispatch(
            now=self.now,
            publish=self.publish,
            batch=self.batch,
            max_rows=self.max_rows,
            redispatch_after=self.redispatch_after,
        )

    def reconcile_plans(self) -> None:
        self.report.plans_reconciled = plans_reconcile(now=self.now)


def _record_heartbeat(report: SweepReport, *, now: dt.datetime) -> None:
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


def ping_heartbeat_url(report: SweepReport) -> bool:
    """Tell the dead-man's switch (PUMPTRACK_HEARTBEAT_URL) this sweep did all its work.

    Only complete sweeps ping, like /healthz counts only those. A short timeout; a failure
    is logged and never breaks the sweep. The body carries counts only.
    """
    url = conf.value("HEARTBEAT_URL")
    if not url:
        return False
    if not url.startswith(("https://", "http://")):
        logger.warning("PUMPTRACK_HEARTBEAT_URL is not an http(s) URL; not pinged")
        return False
    body = json.dumps(
        {
            "created": report.messages_created,
            "published": report.dispatched,
            "recovered": report.sends_recovered,
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 (checked: http or https only)
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(  # noqa: S310 (checked: http or https only)
            request, timeout=float(conf.value("HEARTBEAT_TIMEOUT_SECONDS"))
        ) as response:
            response.read(1024)
    except Exception as exc:
        logger.warning("heartbeat ping failed: %s", type(exc).__name__)
        return False
    return True


def sweep_now_if_late(
    *, now: dt.datetime | None = None, publish_sweep: Callable[[], None] | None = None
) -> bool:
    """At beat start: when the last sweep is older than one interval, run one at once.

    Beat would otherwise wait for its schedule; after an outage the first sweep should
    run within seconds of beat's return. The sweep is idempotent, so one too many is free.
    """
    now = now or timezone.now()
    last = SweepHeartbeat.objects.order_by("-finished_at").first()
    if last is not None and now - last.finished_at <= conf.sweep_interval():
        return False
    if publish_sweep is None:
        from reminders.tasks import sweep

        def publish_sweep() -> None:
            sweep.apply_async(expires=conf.value("SWEEP_INTERVAL_SECONDS"))

    publish_sweep()
    logger.info("beat started after the sweep was late: one sweep published now")
    return True


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
