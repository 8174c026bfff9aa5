"""Writing outbox rows: who receives a message, on which channel, with which text, when.

Rows are created with `bulk_create(ignore_conflicts=True)` on the unique key, so
any number of sweeps may try to create the same occasion: one row results, and
no IntegrityError ever breaks an enclosing transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.utils import timezone

from patients.models import Caregiver, Channel, Clinic, Patient
from patients.phones import phone_text
from patients.reachability import consented_channels
from reminders import conf
from reminders.messages import render, template_for
from reminders.models import Notification, NotificationStatus
from reminders.quiet import next_allowed
from reminders.status_history import record_created_suppressed


@dataclass(frozen=True)
class Recipient:
    kind: str  # "patient", "caregiver" or "user"
    id: int
    first_name: str
    channel: str
    address: str
    zone: ZoneInfo
    suppressed_reason: str = ""
    patient_id: int | None = None
    caregiver_id: int | None = None
    staff_user_id: int | None = None

    @property
    def tag(self) -> str:
        return f"{self.kind}:{self.id}"


def choose_channel(
    *, preferred: str, consent_sms: bool, consent_email: bool, phone: str, email: str
) -> tuple[str, str, str]:
    """(channel, address, why-not) for a patient or caregiver: the preferred consented one."""
    if preferred == Channel.NONE:
        return Channel.NONE, "", "Prefers phone calls: no text or email reminders"
    # The one definition of "reachable" (patients.reachability), which the pages use too.
    usable = consented_channels(
        preferred=preferred,
        consent_sms=consent_sms,
        consent_email=consent_email,
        phone=phone,
        email=email,
    )
    if usable:
        return usable[0][0], usable[0][1], ""
    if preferred == Channel.SMS and phone and not consent_sms:
        reason = "No consent recorded for text messages and no email consent"  # or a STOP
    elif preferred == Channel.EMAIL and email and not consent_email:
        reason = "No email consent and no text-message consent"
    else:
        reason = "No consented phone number or email address"
    return Channel.NONE, "", reason


def patient_recipient(patient: Patient) -> Recipient:
    channel, address, reason = choose_channel(
        preferred=patient.preferred_channel,
        consent_sms=patient.consent_sms,
        consent_email=patient.consent_email,
        phone=str(patient.phone),  # E.164 text, not the field's PhoneNumber
        email=patient.email,
    )
    return Recipient(
        kind="patient",
        id=patient.pk,
        first_name=patient.given_name,
        channel=channel,
        address=address,
        zone=ZoneInfo(patient.timezone_name),
        suppressed_reason=reason,
        patient_id=patient.pk,
    )


def caregiver_recipient(caregiver: Caregiver, patient: Patient) -> Recipient:
    channel, address, reason = choose_channel(
        preferred=caregiver.preferred_channel,
        consent_sms=caregiver.consent_sms,
        consent_email=caregiver.consent_email,
        phone=str(caregiver.phone),
        email=caregiver.email,
    )
    zone = ZoneInfo(str(caregiver.timezone or patient.timezone_name))
    return Recipient(
        kind="caregiver",
        id=caregiver.pk,
        first_name=(caregiver.name.split() or [""])[0],
        channel=channel,
        address=address,
        zone=zone,
        suppressed_reason=reason,
        patient_id=patient.pk,
        caregiver_id=caregiver.pk,
    )


def patient_and_caregivers(patient: Patient, caregivers: Iterable[Caregiver]) -> list[Recipient]:
    """The patient and every caregiver who receives reminders (caregivers prefetched)."""
    recipients = [patient_recipient(patient)]
    for caregiver in caregivers:
        if caregiver.receives_reminders:
            recipients.append(caregiver_recipient(caregiver, patient))
    return recipients


def clinic_phone_text(clinic: Clinic) -> str:
    return phone_text(clinic.phone)


def patient_context(recipient: Recipient, patient: Patient, clinic: Clinic) -> dict[str, str]:
    own = recipient.kind == "patient"
    return {
        "first_name": recipient.first_name,
        "clinic_name": clinic.name,
        "clinic_phone": clinic_phone_text(clinic),
        # The day line when the clinic has no separate after-hours number.
        "clinic_after_hours_phone": phone_text(clinic.after_hours_phone or clinic.phone),
        "whose": "your" if own else f"{patient.given_name}'s",
        "whom": "you" if own else patient.given_name,
    }


@dataclass
class Draft:
    key: str
    kind: str
    clinic_id: int
    body: str
    channel: str
    to_address: str = ""
    subject: str = ""
    stage: str = ""
    patient_id: int | None = None
    caregiver_id: int | None = None
    staff_user_id: int | None = None
    appointment_id: int | None = None
    alert_id: int | None = None
    suppressed_reason: str = ""
    not_before: dt.datetime | None = None


def draft_for(
    *,
    key: str,
    kind: str,
    stage: str,
    recipient: Recipient,
    clinic: Clinic,
    context: dict[str, str],
    now: dt.datetime,
    quiet_hours: bool = True,
    cache: dict | None = None,
    **links,
) -> Draft:
    """Render the message for one recipient; suppressed rows keep the text staff would see."""
    channel = recipient.channel
    text = template_for(
        clinic_id=clinic.pk,
        kind=kind,
        channel=channel if channel != Channel.NONE else Channel.SMS,
        cache=cache,
    )
    not_before = now
    if quiet_hours and channel != Channel.NONE:
        not_before = next_allowed(
            now,
            recipient.zone,
            from_hour=conf.value("SEND_FROM_HOUR"),
            until_hour=conf.value("SEND_UNTIL_HOUR"),
        )
    return Draft(
        key=key,
        kind=kind,
        stage=stage,
        clinic_id=clinic.pk,
        channel=channel,
        to_address=recipient.address,
        subject=render(text.subject, context) if channel == Channel.EMAIL else "",
        body=render(text.body, context),
        patient_id=recipient.patient_id,
        caregiver_id=recipient.caregiver_id,
        staff_user_id=recipient.staff_user_id,
        suppressed_reason=recipient.suppressed_reason,
        not_before=not_before,
        **links,
    )


def notifications_insert(drafts: Sequence[Draft], *, now: dt.datetime | None = None) -> int:
    """Insert the drafts whose key is new; return how many were new (exact unless racing)."""
    if not drafts:
        return 0
    now = now or timezone.now()
    keys = [d.key for d in drafts]
    existing: set[str] = set()
    for start in range(0, len(keys), 500):
        existing.update(
            Notification.objects.filter(key__in=keys[start : start + 500]).values_list(
                "key", flat=True
            )
        )
    rows = []
    for d in drafts:
        if d.key in existing:
            continue
        suppressed = d.channel == Channel.NONE
        rows.append(
            Notification(
                key=d.key,
                kind=d.kind,
                stage=d.stage,
                clinic_id=d.clinic_id,
                patient_id=d.patient_id,
                caregiver_id=d.caregiver_id,
                staff_user_id=d.staff_user_id,
                appointment_id=d.appointment_id,
                alert_id=d.alert_id,
                channel=d.channel,
                to_address=d.to_address,
                subject=d.subject[:200],
                body=d.body,
                status=NotificationStatus.SUPPRESSED if suppressed else NotificationStatus.PENDING,
                suppressed_reason=d.suppressed_reason[:200] if suppressed else "",
                not_before=d.not_before or now,
                created_at=now,
                status_changed_at=now,
            )
        )
    Notification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    record_created_suppressed(
        [r.key for r in rows if r.status == NotificationStatus.SUPPRESSED], now=now
    )
    return len(rows)
