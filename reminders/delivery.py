"""Sending one outbox row, dispatching due rows to the broker, recovering crashed sends.

The row's status is the truth; the broker only carries ids. A row moves
PENDING -> SENDING only through a conditional UPDATE (one winner on SQLite and
PostgreSQL alike), so a task delivered twice, or published by two sweeps, sends
once. The only window for a second copy is a crash after the provider accepted
the message and before SENDING -> SENT was committed: recovery asks the provider
first, and when it cannot tell, sends again and counts `possible_duplicates`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from patients.models import Channel
from patients.reachability import sms_refusal
from reminders import conf
from reminders.channels import (
    LookupState,
    Outgoing,
    PermanentSendError,
    TransientSendError,
    lookup_email,
    send_email,
    sms_backend,
)
from reminders.models import Notification, NotificationEvent, NotificationStatus
from reminders.outbox import notifications_insert
from reminders.quiet import next_allowed
from reminders.recheck import REPLACE, WITHDRAW, notification_recheck

logger = logging.getLogger(__name__)

# A retry task may arrive a moment before its not_before; accept it rather than wait a sweep.
EARLY_TOLERANCE = dt.timedelta(seconds=2)


@dataclass(frozen=True)
class SendOutcome:
    outcome: str
    retry_in: float | None = None


def _event(pk: int, fields: dict) -> None:
    """Append the status change just made to the message's history (its page shows it)."""
    detail = fields.get("suppressed_reason") or fields.get("last_error") or ""
    if not detail and fields.get("provider_status"):
        detail = f"provider: {fields['provider_status']}"
    NotificationEvent.objects.create(
        notification_id=pk,
        status=fields["status"],
        at=fields.get("status_changed_at") or timezone.now(),
        detail=str(detail)[:300],
    )


def _move(pk: int, from_status: str, **fields) -> bool:
    """Change the row only if it is still in `from_status`. True if this call won."""
    fields.setdefault("status_changed_at", timezone.now())
    with transaction.atomic():
        won = bool(Notification.objects.filter(pk=pk, status=from_status).update(**fields))
        if won:
            _event(pk, fields)
    return won


def status_callback_url(notification: Notification) -> str:
    base = (settings.REMINDERS.get("PUBLIC_BASE_URL") or "").rstrip("/")
    if not base:
        return ""
    return f"{base}{reverse('reminders:twilio-status')}?ref={notification.reference}"


def outgoing(notification: Notification) -> Outgoing:
    return Outgoing(
        reference=str(notification.reference),
        to=notification.to_address,
        body=notification.body,
        subject=notification.subject,
        status_callback=status_callback_url(notification)
        if notification.channel == Channel.SMS
        else "",
        attempted_since=notification.created_at,
    )


def _person(notification: Notification):
    if notification.caregiver_id:
        return notification.caregiver
    if ":caregiver:" in notification.key:
        # The caregiver was deleted (the foreign key is now empty): the message was
        # written to them, so it must not fall back to the patient.
        return None
    return notification.patient


def _recipient_zone(notification: Notification) -> ZoneInfo:
    if notification.caregiver_id and notification.caregiver.timezone:
        return ZoneInfo(str(notification.caregiver.timezone))
    if notification.patient_id:
        return ZoneInfo(notification.patient.timezone_name)
    return notification.clinic.tz


def _not_allowed(notification: Notification) -> tuple[str, str]:
    """(why not, current address): consent is checked again at send time."""
    if not notification.is_patient_facing:
        return "", notification.to_address
    person = _person(notification)
    if person is None:
        return "The recipient was removed", ""
    if notification.caregiver_id and not person.receives_reminders:
        return "The caregiver no longer receives reminders", ""
    if notification.channel == Channel.SMS:
        if not person.consent_sms:
            return sms_refusal(person), ""
        return ("", person.phone) if person.phone else ("No mobile number on file", "")
    if not person.consent_email:
        return "No consent to email", ""
    return ("", person.email) if person.email else ("No email address on file", "")


def _deliver(notification: Notification, message: Outgoing):
    timeout = float(conf.value("SEND_TIMEOUT_SECONDS"))
    if notification.channel == Channel.SMS:
        return sms_backend().send(message, timeout=timeout)
    return send_email(message, timeout=timeout)


def _lookup(notification: Notification, message: Outgoing):
    if notification.channel == Channel.SMS:
        return sms_backend().lookup(message)
    return lookup_email(message)


def backoff_seconds(attempts: int) -> float:
    base = float(conf.value("BACKOFF_BASE_SECONDS"))
    return min(base * (2 ** max(attempts - 1, 0)), float(conf.value("BACKOFF_MAX_SECONDS")))


def this_host() -> str:
    """This host and its process-id namespace: pids are comparable only within both.

    (Two containers can share a host name, e.g. with host networking, yet not their pids.)
    """
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = 0
    return f"{socket.gethostname()}/{namespace}"


def claimer() -> str:
    """Who holds a claim: this host and process, so a dead claimer can be recognised."""
    return f"{this_host()}:{os.getpid()}"[:100]


def claimer_is_dead(claimed_by: str) -> bool:
    """True only when the claiming process is certainly gone: same host, no such pid.

    Another host's claimer, an unreadable claim or a pid that exists (even reused) count
    as alive; the stuck-send lease takes those rows back instead.
    """
    host, _, pid = (claimed_by or "").rpartition(":")
    if host != this_host() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. PermissionError: the pid exists under another user
        return False
    return False


def notification_send(*, notification_id: int, now: dt.datetime | None = None) -> SendOutcome:
    """Send one outbox row if it is still due. Safe to call any number of times."""
    now = now or timezone.now()
    notification = _load(notification_id)
    if _claimed_by_the_dead(notification) and _release(notification, now=now):
        # A task delivered again after its worker died: the dead claim is freed; go on.
        notification = _load(notification_id)
    if notification is None or notification.status != NotificationStatus.PENDING:
        return SendOutcome("not-pending")
    if notification.not_before > now + EARLY_TOLERANCE:
        return SendOutcome("not-yet")
    outcome, address = _check_before_claim(notification, now=now)
    if outcome is not None:
        return outcome
    lease = _claim(notification, address=address, now=now)
    if lease is None:
        return SendOutcome("claimed-elsewhere")
    return _send_claimed(notification, lease=lease, now=now)


def _claimed_by_the_dead(notification: Notification | None) -> bool:
    return (
        notification is not None
        and notification.status == NotificationStatus.SENDING
        and claimer_is_dead(notification.claimed_by)
    )


def _load(notification_id: int) -> Notification | None:
    return (
        Notification.objects.select_related(
            "appointment", "patient__clinic", "caregiver", "alert", "clinic"
        )
        .filter(pk=notification_id)
        .first()
    )


def _check_before_claim(
    notification: Notification, *, now: dt.datetime
) -> tuple[SendOutcome | None, str]:
    """The send-time checks: (an outcome that ends this send, or None; the address to use)."""
    pk = notification.pk
    # The occasion is looked up again: withdrawn, replaced or re-rendered as of now.
    check = notification_recheck(notification, now=now)
    if check.action == WITHDRAW:
        _move(
            pk,
            NotificationStatus.PENDING,
            status=NotificationStatus.CANCELLED,
            suppressed_reason=check.reason[:200],
        )
        logger.info("notification %s withdrawn at send time", pk)
        return SendOutcome("cancelled"), ""
    if check.action == REPLACE:
        return _replace(notification, check, now=now), ""
    why, address = _not_allowed(notification)
    if why:
        _move(
            pk,
            NotificationStatus.PENDING,
            status=NotificationStatus.SUPPRESSED,
            suppressed_reason=why,
        )
        logger.info("notification %s suppressed", pk)
        return SendOutcome("suppressed"), ""
    if _hold_for_quiet_hours(notification, now=now):
        return SendOutcome("held"), ""
    if check.changes(notification) and not _store_revision(notification, check, now=now):
        return SendOutcome("claimed-elsewhere"), ""
    return None, address


def _hold_for_quiet_hours(notification: Notification, *, now: dt.datetime) -> bool:
    if not notification.is_patient_facing:
        return False
    allowed = next_allowed(
        now,
        _recipient_zone(notification),
        from_hour=conf.value("SEND_FROM_HOUR"),
        until_hour=conf.value("SEND_UNTIL_HOUR"),
    )
    if allowed <= now:
        return False
    # Night in the recipient's zone: hold until morning; the sweep dispatches it then.
    Notification.objects.filter(pk=notification.pk, status=NotificationStatus.PENDING).update(
        not_before=allowed, dispatched_at=None
    )
    return True


def _store_revision(notification: Notification, check, *, now: dt.datetime) -> bool:
    """Dates or wording moved since the row was written: store the text that goes out."""
    revised = Notification.objects.filter(
        pk=notification.pk, status=NotificationStatus.PENDING, body=notification.body
    ).update(
        body=check.body,
        subject=check.subject,
        original_body=notification.original_body or notification.body,
        revised_at=now,
        revision_note=(check.reason or "Rewritten at send time to match the current dates")[:300],
    )
    if not revised:
        return False
    notification.body, notification.subject = check.body, check.subject
    logger.info("notification %s re-rendered at send time", notification.pk)
    return True


def _claim(notification: Notification, *, address: str, now: dt.datetime) -> dt.datetime | None:
    """PENDING -> SENDING, one winner. Returns the lease (the claim's `claimed_at`)."""
    with transaction.atomic():
        claimed = Notification.objects.filter(
            pk=notification.pk,
            status=NotificationStatus.PENDING,
            not_before__lte=now + EARLY_TOLERANCE,
        ).update(
            status=NotificationStatus.SENDING,
            claimed_at=now,
            claimed_by=claimer(),
            attempts=F("attempts") + 1,
            to_address=address,
            status_changed_at=now,
        )
        if not claimed:
            return None
        _event(notification.pk, {"status": NotificationStatus.SENDING, "status_changed_at": now})
    notification.refresh_from_db(fields=["attempts", "needs_lookup", "to_address", "claimed_at"])
    return notification.claimed_at


def _settle(pk: int, lease: dt.datetime, **fields) -> bool:
    """Record the end of our send, only while the claim is still ours.

    The row may have been taken back by the stuck-send recovery meanwhile (PENDING, same
    lease): what we know is still the truth and is recorded. Once another process claimed
    it again (a new lease), that process owns the row and looked the message up first.
    """
    fields.setdefault("status_changed_at", timezone.now())
    with transaction.atomic():
        done = bool(
            Notification.objects.filter(
                pk=pk,
                claimed_at=lease,
                status__in=[NotificationStatus.SENDING, NotificationStatus.PENDING],
            ).update(**fields)
        )
        if done and "status" in fields:
            _event(pk, fields)
    return done


def _send_claimed(notification: Notification, *, lease: dt.datetime, now: dt.datetime):
    attempts = notification.attempts
    message = outgoing(notification)
    if attempts > int(conf.value("MAX_ATTEMPTS")):
        return _fail(notification, now=now, error=notification.last_error or "too many attempts")
    if notification.needs_lookup:
        found = _lookup_before_resend(notification, message, lease=lease, now=now)
        if found is not None:
            return found
    try:
        result = _deliver(notification, message)
    except TransientSendError as exc:
        logger.warning("notification %s attempt %s failed: %s", notification.pk, attempts, exc.code)
        return _retry_later(notification, lease=lease, error=exc.code, ambiguous=exc.ambiguous)
    except PermanentSendError as exc:
        if exc.opted_out:
            _settle(
                notification.pk,
                lease,
                status=NotificationStatus.SUPPRESSED,
                suppressed_reason="The carrier reports the number opted out (STOP)",
                last_error=exc.code[:300],
            )
            return SendOutcome("suppressed")
        return _fail(notification, now=timezone.now(), error=exc.code)
    except Exception as exc:
        # A bug or an unexpected library error: retry like a transient failure, bounded.
        logger.exception("notification %s: unexpected error in the channel", notification.pk)
        return _retry_later(notification, lease=lease, error=type(exc).__name__, ambiguous=True)
    _record_sent(notification, lease=lease, result=result)
    logger.info("notification %s sent (attempt %s)", notification.pk, attempts)
    return SendOutcome("sent")


def _lookup_before_resend(
    notification: Notification, message: Outgoing, *, lease: dt.datetime, now: dt.datetime
) -> SendOutcome | None:
    """An earlier attempt may have gone out: ask the provider. None: go on and send."""
    pk = notification.pk
    found = _lookup(notification, message)
    if found.state == LookupState.SENT:
        _settle(
            pk,
            lease,
            status=NotificationStatus.SENT,
            sent_at=now,
            provider_id=found.provider_id[:100],
            provider_status=(found.status or "sent")[:40],
            needs_lookup=False,
            last_error="",
        )
        logger.info("notification %s had been sent before the crash", pk)
        return SendOutcome("sent-earlier")
    updates = {"needs_lookup": False}
    if found.state == LookupState.UNKNOWN:
        # The provider cannot tell: a second copy is better than none. Counted.
        updates["possible_duplicates"] = F("possible_duplicates") + 1
        logger.warning("notification %s re-sent without proof of the first copy", pk)
    elif found.state == LookupState.DEDUPLICATED:
        # The provider drops the second request (same idempotency key): not a duplicate.
        logger.info("notification %s re-sent under its idempotency key", pk)
    # Only while the claim is ours: if the lookup outlived the lease, someone else owns it.
    if not Notification.objects.filter(
        pk=pk, claimed_at=lease, status=NotificationStatus.SENDING
    ).update(**updates):
        return SendOutcome("claimed-elsewhere")
    return None


def _retry_later(
    notification: Notification, *, lease: dt.datetime, error: str, ambiguous: bool
) -> SendOutcome:
    if notification.attempts >= int(conf.value("MAX_ATTEMPTS")):
        return _fail(notification, now=timezone.now(), error=error)
    delay = backoff_seconds(notification.attempts)
    _settle(
        notification.pk,
        lease,
        status=NotificationStatus.PENDING,
        not_before=timezone.now() + dt.timedelta(seconds=delay),
        dispatched_at=timezone.now(),
        last_error=error[:300],
        needs_lookup=ambiguous,
    )
    return SendOutcome("retry", retry_in=delay)


def _record_sent(notification: Notification, *, lease: dt.datetime, result) -> None:
    """The provider has the message: record it, riding out a short database outage.

    This is the one write whose loss costs a duplicate (the row would be looked up, and an
    email sent again), so it is retried here rather than left to the task's retry.
    """
    pk = notification.pk

    def record() -> None:
        done = _settle(
            pk,
            lease,
            status=NotificationStatus.SENT,
            sent_at=timezone.now(),
            provider_id=result.provider_id[:100],
            provider_status=result.status[:40],
            last_error="",
            needs_lookup=False,
        )
        if not done:
            # A provider status callback got here first; keep its status, record the id.
            Notification.objects.filter(pk=pk, provider_id="").update(
                provider_id=result.provider_id[:100]
            )

    with_database_retries(record, what=f"notification {pk} sent")


def with_database_retries(function: Callable[[], object], *, what: str, attempts: int = 6):
    """Call `function`, again after a short pause if the database connection failed.

    Pauses 0.5, 1, 2, 4, 8 s (about 15 s in all, the length of a database restart). The
    connection is closed between attempts so Django opens a fresh one.
    """
    for attempt in range(attempts):
        try:
            return function()
        except (OperationalError, InterfaceError):
            if attempt == attempts - 1 or connection.in_atomic_block:
                raise
            logger.warning("%s: database unavailable, trying again", what)
            connection.close()
            time.sleep(0.5 * 2**attempt)
    return None


def _replace(notification: Notification, check, *, now: dt.datetime) -> SendOutcome:
    """Withdraw this row in favour of a different message (e.g. call today), then send that."""
    with transaction.atomic():
        won = _move(
            notification.pk,
            NotificationStatus.PENDING,
            status=NotificationStatus.CANCELLED,
            suppressed_reason=check.reason[:200],
        )
        if not won:
            return SendOutcome("claimed-elsewhere")
        notifications_insert(check.replacement, now=now)
    logger.info("notification %s replaced at send time", notification.pk)
    for draft in check.replacement:
        new = Notification.objects.filter(key=draft.key).values_list("pk", flat=True).first()
        if new is not None:
            notification_send(notification_id=new, now=now)
    return SendOutcome("replaced")


def _fail(notification: Notification, *, now: dt.datetime, error: str) -> SendOutcome:
    from reminders.alerts import alert_raise_delivery_failed

    with transaction.atomic():
        won = _move(
            notification.pk,
            NotificationStatus.SENDING,
            status=NotificationStatus.FAILED,
            last_error=error[:300],
            needs_lookup=False,
        )
        if won:
            notification.last_error = error[:300]
            if notification.is_patient_facing:
                alert_raise_delivery_failed(notification=notification, now=now)
    logger.error("notification %s failed for good: %s", notification.pk, error)
    return SendOutcome("failed")


# --------------------------------------------------------------------------- sweep steps


RECOVERED_ERROR = "The worker stopped during the send; checking with the provider"


def _release(notification: Notification, *, now: dt.datetime) -> bool:
    """SENDING -> PENDING for a claim whose process is gone, marked for a provider lookup."""
    return _release_claim(notification.pk, notification.claimed_at, now=now)


def _release_claim(pk: int, claimed_at: dt.datetime | None, *, now: dt.datetime) -> bool:
    fields = {
        "status": NotificationStatus.PENDING,
        "needs_lookup": True,
        "not_before": now,
        "dispatched_at": None,
        "last_error": RECOVERED_ERROR,
        "status_changed_at": now,
    }
    with transaction.atomic():
        released = bool(
            Notification.objects.filter(
                pk=pk, status=NotificationStatus.SENDING, claimed_at=claimed_at
            ).update(**fields)
        )
        if released:
            _event(pk, fields)
    return released


def notifications_recover(*, now: dt.datetime, limit: int = 500) -> int:
    """Rows left 'sending' by a killed worker go back to pending, marked for a lookup.

    Two ways to know the sender is gone: its lease ran out (STUCK_SENDING_SECONDS, the
    longest a live send can take), or it was a process on this host that no longer exists
    (a worker killed and restarted here, a cron run that crashed): no need to wait then.
    """
    cutoff = now - conf.seconds("STUCK_SENDING_SECONDS")
    sending = Notification.objects.filter(status=NotificationStatus.SENDING)
    stuck = list(
        sending.filter(claimed_at__lte=cutoff)
        .order_by("claimed_at")
        .values_list("pk", "claimed_at")[:limit]
    )
    recent = sending.filter(claimed_at__gt=cutoff, claimed_by__startswith=f"{this_host()}:")
    stuck += [
        (pk, claimed_at)
        for pk, claimed_at, claimed_by in recent.values_list("pk", "claimed_at", "claimed_by")[
            :limit
        ]
        if claimer_is_dead(claimed_by)
    ]
    recovered = sum(_release_claim(pk, claimed_at, now=now) for pk, claimed_at in stuck)
    if recovered:
        logger.warning("recovered %s notifications left sending by a lost worker", recovered)
    return recovered


def notifications_dispatch(
    *,
    now: dt.datetime,
    publish: Callable[[int], None],
    batch: int,
    max_rows: int,
    redispatch_after: dt.timedelta | None = None,
) -> tuple[int, int]:
    """Publish a send task for every due pending row; again for rows whose task was lost.

    `redispatch_after`: how long a published row waits before it is published again
    (REDISPATCH_AFTER_SECONDS; 0 in cron mode, where no broker holds a task for it).
    Returns (published, of which re-published).
    """
    if redispatch_after is None:
        redispatch_after = conf.seconds("REDISPATCH_AFTER_SECONDS")
    cutoff = now - redispatch_after
    published = republished = 0
    due = Notification.objects.filter(
        status=NotificationStatus.PENDING, not_before__lte=now
    ).filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=cutoff))
    while published < max_rows:
        rows = list(due.order_by("not_before", "pk").values_list("pk", "dispatched_at")[:batch])
        if not rows:
            break
        ids = [pk for pk, _ in rows]
        Notification.objects.filter(pk__in=ids, status=NotificationStatus.PENDING).update(
            dispatched_at=now
        )
        done = 0
        try:
            for pk in ids:
                publish(pk)
                done += 1
        except Exception:
            logger.warning(
                "broker unavailable after %s of %s publishes; the next sweep retries",
                done,
                len(ids),
                exc_info=True,
            )
            Notification.objects.filter(
                pk__in=ids[done:], status=NotificationStatus.PENDING, dispatched_at=now
            ).update(dispatched_at=None)
            published += done
            republished += sum(1 for _, at in rows[:done] if at is not None)
            break
        published += done
        republished += sum(1 for _, at in rows if at is not None)
    return published, republished


# --------------------------------------------------------------------------- provider callbacks


def _provider_move(pk: int, from_statuses: list, **fields) -> bool:
    """A provider's report moves the row (and its history) if it is in `from_statuses`."""
    with transaction.atomic():
        moved = bool(Notification.objects.filter(pk=pk, status__in=from_statuses).update(**fields))
        if moved:
            _event(pk, fields)
    return moved


PROVIDER_ACCEPTED = {"accepted", "queued", "sending", "sent", "scheduled"}
PROVIDER_FAILED = {"failed", "undelivered"}
CARRIER_OPT_OUT_CODES = {"21610"}


def notification_provider_status(
    *,
    reference: str,
    provider_id: str,
    status: str,
    error_code: str = "",
    now: dt.datetime | None = None,
) -> Notification | None:
    """Record a delivery report (Twilio's status callback). Also closes a crashed send."""
    now = now or timezone.now()
    status = (status or "").lower()
    rows = Notification.objects.none()
    try:
        rows = Notification.objects.filter(reference=uuid.UUID(reference))
    except (ValueError, TypeError):
        if provider_id:
            rows = Notification.objects.filter(provider_id=provider_id)
    notification = rows.first()
    if notification is None:
        logger.warning("status callback for an unknown message")
        return None
    pk = notification.pk
    Notification.objects.filter(pk=pk).update(provider_status=status[:40])
    Notification.objects.filter(pk=pk, provider_id="").update(provider_id=provider_id[:100])
    in_flight = [NotificationStatus.SENDING, NotificationStatus.SENT]
    if status == "delivered":
        _provider_move(
            pk,
            in_flight,
            status=NotificationStatus.DELIVERED,
            sent_at=notification.sent_at or now,
            status_changed_at=now,
            needs_lookup=False,
            provider_status=status,
        )
    elif status in PROVIDER_ACCEPTED:
        _provider_move(
            pk,
            [NotificationStatus.SENDING],
            status=NotificationStatus.SENT,
            sent_at=now,
            status_changed_at=now,
            needs_lookup=False,
            provider_status=status,
        )
    elif status in PROVIDER_FAILED:
        error = f"provider-{status}-{error_code}" if error_code else f"provider-{status}"
        with transaction.atomic():
            if error_code in CARRIER_OPT_OUT_CODES:
                _provider_move(
                    pk,
                    [*in_flight, NotificationStatus.DELIVERED],
                    status=NotificationStatus.SUPPRESSED,
                    suppressed_reason="The carrier reports the number opted out (STOP)",
                    last_error=error,
                    status_changed_at=now,
                )
            elif _provider_move(
                pk,
                [*in_flight, NotificationStatus.DELIVERED],
                status=NotificationStatus.FAILED,
                last_error=error,
                status_changed_at=now,
            ):
                from reminders.alerts import alert_raise_delivery_failed

                notification.refresh_from_db()
                if notification.is_patient_facing:
                    alert_raise_delivery_failed(notification=notification, now=now)
    notification.refresh_from_db()
    return notification
