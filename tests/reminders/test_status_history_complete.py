"""Every change of a message's status writes a history row, including the bulk
cancellations and the "not sent" decided at creation or at send time; the reason for an
unticked SMS box is "no consent", not an opt-out; the channel of a message never sent
reads from the recipient's own choice, like their page."""

from __future__ import annotations

import itertools

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patients.models import Channel
from patients.services import contact_consent_set
from reminders.delivery import notification_send
from reminders.models import Notification, NotificationStatus
from reminders.outbox import Draft, notifications_insert
from reminders.receivers import withdraw_a_removed_caregivers_messages
from reminders.status_history import cancel_pending
from tests.factories import CaregiverFactory

_keys = itertools.count()


def _pending(patient, caregiver=None) -> Notification:
    return Notification.objects.create(
        key=f"hist:{next(_keys)}",
        kind="appointment-reminder",
        clinic=patient.clinic,
        patient=patient,
        caregiver=caregiver,
        channel=Channel.SMS,
        to_address=str(patient.phone),
        body="Hello",
    )


def _cancel_generic(patient, message):
    cancel_pending(Notification.objects.filter(pk=message.pk), reason="Test reason")


def _caregiver_removed(patient, message):
    withdraw_a_removed_caregivers_messages(caregiver=message.caregiver)


def _send_without_consent(patient, message):
    patient.consent_sms = False
    patient.save()
    notification_send(notification_id=message.pk)


TRANSITIONS = {
    "cancel": _cancel_generic,
    "caregiver removed": _caregiver_removed,
    "send without consent": _send_without_consent,
}


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(st.sampled_from(sorted(TRANSITIONS)), min_size=1, max_size=4))
@pytest.mark.django_db
def test_every_status_change_is_in_the_history_with_its_reason(patient, steps):
    patient.consent_sms = True
    patient.save()
    caregiver = CaregiverFactory(patient=patient)
    message = _pending(patient, caregiver if steps[0] == "caregiver removed" else None)
    seen = ["pending"]
    for step in steps:
        TRANSITIONS[step](patient, message)
        message.refresh_from_db()
        if message.status != seen[-1]:
            seen.append(message.status)
    events = list(message.events.all())
    assert ["pending", *(e.status for e in events)] == seen
    assert message.status != NotificationStatus.PENDING
    assert events[-1].status == message.status
    assert events[-1].detail == message.suppressed_reason != ""


@pytest.mark.django_db
def test_a_row_created_not_sent_has_its_history_row(patient):
    now = timezone.now()
    draft = Draft(
        key=f"hist:{next(_keys)}",
        kind="appointment-reminder",
        clinic_id=patient.clinic_id,
        patient_id=patient.pk,
        channel=Channel.NONE,
        body="Hello",
        suppressed_reason="Prefers phone calls: no text or email reminders",
    )
    notifications_insert([draft], now=now)
    message = Notification.objects.get(key=draft.key)
    (event,) = message.events.all()
    assert (event.status, event.detail) == ("suppressed", draft.suppressed_reason)


@pytest.mark.django_db
def test_unticked_is_no_consent_and_only_stop_is_an_opt_out(patient):
    patient.consent_sms = False
    patient.save()
    message = _pending(patient)
    notification_send(notification_id=message.pk)
    message.refresh_from_db()
    assert message.suppressed_reason == "No consent recorded for text messages"
    contact_consent_set(
        person=patient, channel=Channel.SMS, consented=True, source="inbound SMS start"
    )
    contact_consent_set(
        person=patient, channel=Channel.SMS, consented=False, source="inbound SMS stop"
    )
    stopped = _pending(patient)
    notification_send(notification_id=stopped.pk)
    stopped.refresh_from_db()
    assert stopped.suppressed_reason == "Opted out of text messages"


@pytest.mark.django_db
def test_channel_of_a_message_never_sent_reads_the_patients_choice(patient):
    patient.preferred_channel = Channel.SMS
    patient.save()
    message = Notification.objects.create(
        key=f"hist:{next(_keys)}",
        kind="appointment-reminder",
        clinic=patient.clinic,
        patient=patient,
        channel=Channel.NONE,
        body="x",
        status=NotificationStatus.SUPPRESSED,
    )
    assert message.channel_label == f"{patient.get_preferred_channel_display()}: not sent"
    patient.preferred_channel = Channel.NONE
    assert message.channel_label == "No reminders (phone calls only)"
