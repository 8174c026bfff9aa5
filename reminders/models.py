"""The outbox of patient and staff messages, staff alerts, message templates, sweep heartbeats.

Written only by reminders/services.py, reminders/sweep.py and the send task. The
unique `Notification.key` names one occasion for one recipient, so a repeated,
late or overlapping sweep can never create a message twice.
"""

from __future__ import annotations

import re
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from patients.models import Caregiver, Channel, Clinic, Patient, Pump
from pumptrack.limits import FreeTextLengthValidator
from refills.models import Appointment, RiskTier


class NotificationKind(models.TextChoices):
    BOOKING_CONFIRMATION = "booking-confirmation", "Booking confirmation"
    APPOINTMENT_REMINDER = "appointment-reminder", "Appointment reminder"
    UNBOOKED_NUDGE = "unbooked-nudge", "No refill booked"
    OVERDUE_CALL = "overdue-call", "Refill due now: call the clinic today"
    MISSED_APPOINTMENT = "missed-appointment", "Missed appointment"
    STAFF_ESCALATION = "staff-escalation", "Alert escalation to staff"
    SWEEP_RESUMED = "sweep-resumed", "Reminder sweep running again"
    SWEEP_STOPPED = "sweep-stopped", "Reminder sweep stopped (watchdog)"


PATIENT_FACING_KINDS = frozenset(
    {
        NotificationKind.BOOKING_CONFIRMATION,
        NotificationKind.APPOINTMENT_REMINDER,
        NotificationKind.UNBOOKED_NUDGE,
        NotificationKind.OVERDUE_CALL,
        NotificationKind.MISSED_APPOINTMENT,
    }
)


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    SUPPRESSED = "suppressed", "Not sent"
    CANCELLED = "cancelled", "Cancelled (no longer needed)"


FINAL_STATUSES = frozenset(
    {
        NotificationStatus.SENT,
        NotificationStatus.DELIVERED,
        NotificationStatus.FAILED,
        NotificationStatus.SUPPRESSED,
        NotificationStatus.CANCELLED,
    }
)


class Notification(models.Model):
    """One message to one recipient for one occasion (the outbox row)."""

    key = models.CharField(max_length=200, unique=True)
    # Sent to the provider with the message, so a crashed send can be looked up.
    reference = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=30, choices=NotificationKind.choices)
    stage = models.CharField(max_length=30, blank=True, help_text="e.g. reminder-7d")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="notifications")
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="notifications"
    )
    caregiver = models.ForeignKey(
        Caregiver, on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications"
    )
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
    )
    appointment = models.ForeignKey(
        Appointment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="notifications",
    )
    alert = models.ForeignKey(
        "Alert", on_delete=models.PROTECT, null=True, blank=True, related_name="notifications"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    to_address = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    # Rendered when the row is created and checked again just before each send: if the
    # appointment or refill-by date moved (or "today"/"tomorrow" changed) the text is
    # rendered again first, so `body` is always the exact text that went out.
    body = models.TextField()
    # The first text, kept when the send-time check rewrote `body` (empty otherwise).
    original_body = models.TextField(blank=True)
    revised_at = models.DateTimeField(null=True, blank=True)
    # Why the text was rewritten at send time (a moved date, a refill now due...).
    revision_note = models.CharField(max_length=300, blank=True)
    status = models.CharField(
        max_length=12, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    suppressed_reason = models.CharField(max_length=200, blank=True)
    # Not sent before this instant (quiet hours in the recipient's zone, retry backoff).
    not_before = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    # The last attempt ended ambiguously (timeout, crash): ask the provider before resending.
    needs_lookup = models.BooleanField(default=False)
    # Re-sent although the provider could not say whether an earlier attempt went out.
    possible_duplicates = models.PositiveSmallIntegerField(default=0)
    provider_id = models.CharField(max_length=100, blank=True)
    provider_status = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # "host:pid" of the process holding the claim: on that host, a dead pid frees the row
    # at once instead of after the stuck-send lease (reminders/delivery.py).
    claimed_by = models.CharField(max_length=100, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="suppressed", channel="none") | ~Q(channel="none"),
                name="notification_without_channel_is_suppressed",
            ),
        ]
        indexes = [
            models.Index(
                fields=["not_before"],
                condition=Q(status="pending"),
                name="notification_pending_due",
            ),
            models.Index(
                fields=["claimed_at"],
                condition=Q(status="sending"),
                name="notification_sending_claimed",
            ),
            models.Index(fields=["patient", "-created_at"], name="notification_patient_recent"),
            models.Index(fields=["clinic", "status", "-created_at"], name="notification_clinic"),
            # The delivery report filters the clinic's messages by when they were created.
            models.Index(fields=["clinic", "created_at"], name="notification_clinic_created"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.channel}, {self.status})"

    @property
    def is_patient_facing(self) -> bool:
        return self.kind in PATIENT_FACING_KINDS

    @property
    def channel_label(self) -> str:
        """The channel it went by; for one never sent, the recipient's own choice of
        channel (what their page says under "Reminders by"), marked not sent."""
        if self.channel != Channel.NONE:
            return self.get_channel_display()
        person = self.caregiver if self.caregiver_id else self.patient
        if person is None or person.preferred_channel == Channel.NONE:
            return Channel.NONE.label
        return f"{person.get_preferred_channel_display()}: not sent"

    @property
    def recipient_label(self) -> str:
        """Who the message is for, for staff pages (no contact details)."""
        if self.caregiver_id:
            return f"Caregiver: {self.caregiver}"
        if self.staff_user_id:
            return f"Staff: {self.staff_user}"
        if self.patient_id:
            return f"Patient: {self.patient.full_name}"
        return "—"


class NotificationEvent(models.Model):
    """One change of a message's status, appended as it happens (the status history).

    Written by reminders/delivery.py in the same statement group as the change itself;
    "queued" is the row's own `created_at`, so creating a message costs no extra row.
    """

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=12, choices=NotificationStatus.choices)
    at = models.DateTimeField(default=timezone.now)
    # Why, in a few words: the provider's report, the error, the reason it was not sent.
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["notification", "at"], name="notification_event_at")]

    def __str__(self) -> str:
        return f"{self.notification_id}: {self.status} at {self.at:%Y-%m-%d %H:%M}"


class AlertKind(models.TextChoices):
    MISSED_APPOINTMENT = "missed-appointment", "Missed refill appointment"
    UNBOOKED_REFILL = "unbooked-refill", "No refill booked before the refill-by date"
    RUNNING_OUT = "running-out", "Reservoir running out"
    REPORTED_PROBLEM = "reported-problem", "Alarm or symptoms reported"
    DISCREPANCY = "discrepancy", "Volume discrepancy at the last refill"
    POCKET_FILL = "pocket-fill", "Possible pocket fill at the last refill"
    DEVICE_END_OF_SERVICE = "device-end-of-service", "Pump end of service approaching"
    DELIVERY_FAILED = "delivery-failed", "A reminder could not be delivered"


# These clear when their condition clears; the others need a person to resolve them.
AUTO_RESOLVING_KINDS = frozenset(
    {
        AlertKind.MISSED_APPOINTMENT,
        AlertKind.UNBOOKED_REFILL,
        AlertKind.RUNNING_OUT,
        AlertKind.REPORTED_PROBLEM,
        AlertKind.DEVICE_END_OF_SERVICE,
    }
)


class AlertState(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


# An alert's severity is a withdrawal-risk tier: one choices class, so a tier and a severity
# compare and read the same words everywhere.
AlertSeverity = RiskTier


class Alert(models.Model):
    """A staff work-queue item. At most one unresolved alert per pump and kind."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="alerts")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="alerts")
    pump = models.ForeignKey(Pump, on_delete=models.PROTECT, related_name="alerts")
    kind = models.CharField(max_length=30, choices=AlertKind.choices)
    # The withdrawal-risk tier (refills.risk.Tier): 1 low, 2 moderate, 3 high, 4 critical.
    severity = models.PositiveSmallIntegerField(choices=AlertSeverity.choices)
    reasons = models.JSONField(default=list)
    # What the alert is about when the pump and kind are not enough (a refill, a message),
    # so an alert staff resolved is not raised again for the same thing.
    occasion = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=15, choices=AlertState.choices, default=AlertState.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_alerts",
    )
    raised_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when the alert cleared by itself.",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True, validators=[FreeTextLengthValidator()])
    escalation_count = models.PositiveSmallIntegerField(default=0)
    last_escalated_at = models.DateTimeField(null=True, blank=True)
    # When the next escalation is due; empty once acknowledged, resolved or below HIGH.
    next_escalation_at = models.DateTimeField(null=True, blank=True)
    # Stored, not guessed from names: the safety report leaves these out.
    raised_during_history_load = models.BooleanField(
        default=False,
        editable=False,
        help_text="Raised while a whole history was being loaded (the demo's back-dated "
        "records): an intermediate state, left out of the reports.",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["-severity", "raised_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["pump", "kind"],
                condition=~Q(state="resolved"),
                name="one_unresolved_alert_per_pump_and_kind",
            ),
            models.CheckConstraint(
                condition=Q(severity__gte=1) & Q(severity__lte=4), name="alert_severity_is_a_tier"
            ),
        ]
        indexes = [
            models.Index(fields=["clinic", "state", "-severity"], name="alert_clinic_queue"),
            models.Index(
                fields=["next_escalation_at"],
                condition=Q(state="open"),
                name="alert_escalation_due",
            ),
            models.Index(fields=["pump", "kind", "occasion"], name="alert_occasion"),
            # The safety report filters the clinic's alerts by when they were raised.
            models.Index(fields=["clinic", "raised_at"], name="alert_clinic_raised"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} (#{self.pk}, {self.state})"

    @property
    def severity_label(self) -> str:
        return dict(AlertSeverity.choices).get(self.severity, "?")


class TemplateKind(models.TextChoices):
    BOOKING_CONFIRMATION = NotificationKind.BOOKING_CONFIRMATION.value, "Booking confirmation"
    APPOINTMENT_REMINDER = NotificationKind.APPOINTMENT_REMINDER.value, "Appointment reminder"
    UNBOOKED_NUDGE = NotificationKind.UNBOOKED_NUDGE.value, "No refill booked"
    OVERDUE_CALL = NotificationKind.OVERDUE_CALL.value, "Refill due now: call the clinic today"
    MISSED_APPOINTMENT = NotificationKind.MISSED_APPOINTMENT.value, "Missed appointment"
    STAFF_ESCALATION = NotificationKind.STAFF_ESCALATION.value, "Alert escalation to staff"
    SWEEP_RESUMED = NotificationKind.SWEEP_RESUMED.value, "Reminder sweep running again"


PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class MessageTemplate(models.Model):
    """The text of one kind of message on one channel; a clinic may have its own.

    Placeholders are `{name}` from a fixed list per kind (reminders/messages.py);
    nothing else is evaluated, so a template cannot reach any other data.
    """

    clinic = models.ForeignKey(
        Clinic,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="message_templates",
        help_text="Empty: the default for every clinic without its own.",
    )
    kind = models.CharField(max_length=30, choices=TemplateKind.choices)
    channel = models.CharField(
        max_length=10, choices=[(Channel.SMS, Channel.SMS.label), (Channel.EMAIL, "Email")]
    )
    subject = models.CharField(max_length=200, blank=True, help_text="Email only.")
    body = models.TextField(validators=[FreeTextLengthValidator()])
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["clinic__name", "kind", "channel"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "channel"],
                condition=Q(clinic__isnull=True),
                name="one_default_template_per_kind_and_channel",
            ),
            models.UniqueConstraint(
                fields=["clinic", "kind", "channel"],
                name="one_clinic_template_per_kind_and_channel",
            ),
        ]

    def __str__(self) -> str:
        owner = self.clinic.name if self.clinic_id else "Default"
        return f"{owner}: {self.get_kind_display()} ({self.channel})"

    def clean(self) -> None:
        from reminders.messages import template_problems

        problems = template_problems(
            kind=self.kind, channel=self.channel, subject=self.subject, body=self.body
        )
        if problems:
            raise ValidationError({"body": problems})


class ReminderPlan(models.Model):
    """When the sweep should next look at one appointment (its reminders).

    `next_due_at` is the only thing the sweep queries (indexed), so its cost
    follows the reminders that are due, not the number of appointments.
    """

    appointment = models.OneToOneField(
        Appointment, on_delete=models.CASCADE, related_name="reminder_plan"
    )
    # The appointment as the plan last saw it: a change means a reschedule or a status move.
    scheduled_start = models.DateTimeField()
    appointment_status = models.CharField(max_length=20)
    # Reminder offsets due before this instant are skipped (a late booking).
    booked_at = models.DateTimeField()
    next_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    version = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"Reminder plan for appointment {self.appointment_id}"


class PumpWatch(models.Model):
    """When a time-based alert or nudge rule of a pump next switches on.

    Kept here rather than in PumpForecast.reassess_at, which keeps its own meaning
    (the next moment the risk tier can change). The sweep refreshes the pumps whose
    moment came, exactly like those whose reassess moment came.
    """

    pump = models.OneToOneField(
        Pump, on_delete=models.CASCADE, primary_key=True, related_name="reminder_watch"
    )
    next_review_at = models.DateTimeField(null=True, blank=True, db_index=True)

    def __str__(self) -> str:
        return f"Reminder watch for pump {self.pump_id}"


class SweepHeartbeat(models.Model):
    """One row per finished sweep: what it did. Old rows are pruned by the sweep."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(db_index=True)
    # False when a step failed: health counts only sweeps that did all their work.
    ok = models.BooleanField(default=True)
    report = models.JSONField(default=dict)
    worker = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-finished_at"]
        get_latest_by = "finished_at"
        indexes = [models.Index(fields=["ok", "-finished_at"], name="heartbeat_latest_ok")]

    def __str__(self) -> str:
        return f"Sweep finished {self.finished_at:%Y-%m-%d %H:%M:%S}"


class ProcessedWebhook(models.Model):
    """Every signed Twilio request applied, by its MessageSid: a replay is a no-op.

    The key is the inbound message's ``MessageSid``, or ``MessageSid:MessageStatus`` for
    delivery reports (one message gets several). It is written in the same transaction as
    the request's effect (ATOMIC_REQUESTS), so a request that failed can be retried.
    """

    key = models.CharField(max_length=160, unique=True)
    kind = models.CharField(max_length=20)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"


class WatchdogState(models.Model):
    """The watchdog's memory (one row, pk 1), so a restarted watchdog never alerts twice.

    `outage_number` counts the outages announced; `outage_since` is the finish of the last
    sweep before the current outage, empty while sweeps are on time.
    """

    first_checked_at = models.DateTimeField(default=timezone.now)
    checked_at = models.DateTimeField(null=True, blank=True)
    outage_number = models.PositiveIntegerField(default=0)
    outage_since = models.DateTimeField(null=True, blank=True)
    outage_alerted_at = models.DateTimeField(null=True, blank=True)
    recovered_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Watchdog (outage {self.outage_number}, since {self.outage_since})"
