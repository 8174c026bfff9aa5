"""Issue 12 item 4: staff can read every message: the exact text, its status history, the
provider's reference; on the messages page and on the patient page, scoped like any page."""

from __future__ import annotations

import datetime as dt
import itertools
from html import escape

import pytest
from django.urls import reverse
from django.utils import dateformat, timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patients.models import Channel, Patient
from reminders.delivery import notification_provider_status, notification_send
from reminders.models import Notification, NotificationEvent, NotificationStatus
from tests.factories import ClinicFactory, PatientFactory
from tests.reminders.conftest import DAY, NY, book

MESSAGES_URL = reverse("reminders:messages")
_keys = itertools.count()


def clinic_time(moment: dt.datetime) -> str:
    local = moment.astimezone(NY)
    return f"{dateformat.format(local, 'D j M Y')}, {dateformat.format(local, 'H:i')}"


@pytest.fixture
def sent(filled_pump, nurse, sms_outbox, clock):
    """A booking confirmation, sent to the locmem SMS backend then reported delivered."""
    book(filled_pump, nurse, timezone.now() + 20 * DAY)
    message = Notification.objects.get()
    clock.shift(dt.timedelta(minutes=3))
    assert notification_send(notification_id=message.pk).outcome == "sent"
    clock.shift(dt.timedelta(minutes=2))
    notification_provider_status(
        reference=str(message.reference), provider_id="", status="delivered"
    )
    message.refresh_from_db()
    return message


def _pages(as_user, nurse, message):
    client = as_user(nurse)
    patient_url = reverse("dashboard:patient", args=[message.patient_id])
    return [client.get(MESSAGES_URL), client.get(patient_url)]


def test_both_pages_show_exactly_what_the_provider_received(as_user, nurse, sent, sms_outbox):
    (received,) = sms_outbox
    assert received["reference"] == str(sent.reference)
    for response in _pages(as_user, nurse, sent):
        assert response.status_code == 200
        html = response.content.decode()
        # The text as the backend got it, character for character (HTML-escaped only).
        assert f'<div class="message-body">{escape(received["body"])}</div>' in html
        assert received["provider_id"] in html
        assert str(sent.reference) in html


def test_the_status_history_is_shown_with_times_in_the_clinics_zone(as_user, nurse, sent):
    events = list(sent.events.all())
    assert [e.status for e in events] == ["sending", "sent", "delivered"]
    assert events[0].at < events[2].at
    for response in _pages(as_user, nurse, sent):
        html = response.content.decode()
        assert f"Queued</span> {clinic_time(sent.created_at)}" in html
        for event, label in zip(events, ["Sending", "Sent", "Delivered"], strict=True):
            assert f"{label}</span> {clinic_time(event.at)}" in html


def test_the_text_shown_is_the_one_sent_not_rendered_again_from_todays_record(
    as_user, nurse, sent, sms_outbox
):
    Patient.objects.filter(pk=sent.patient_id).update(given_name="Renamedlater")
    for response in _pages(as_user, nurse, sent):
        html = response.content.decode()
        assert escape(sms_outbox[0]["body"]) in html
    assert "Renamedlater" not in sms_outbox[0]["body"]
    sent.refresh_from_db()
    assert sent.body == sms_outbox[0]["body"]


def test_another_clinics_message_text_is_not_shown(as_user, nurse, sent):
    other = PatientFactory(clinic=ClinicFactory(), given_name="Elsewhere")
    theirs = Notification.objects.create(
        key="other:1",
        kind="appointment-reminder",
        clinic=other.clinic,
        patient=other,
        channel=Channel.SMS,
        to_address=other.phone,
        body="Secret text of another clinic",
        provider_id="SMotherclinic",
    )
    html = as_user(nurse).get(MESSAGES_URL).content.decode()
    assert "Secret text of another clinic" not in html and "SMotherclinic" not in html
    assert (
        as_user(nurse).get(reverse("dashboard:patient", args=[theirs.patient_id])).status_code
        == 404
    )


REPORTS = st.sampled_from(["queued", "sent", "delivered", "failed", "undelivered", "sending"])


# Each example writes its own message, so sharing the patient between examples is safe.
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(reports=st.lists(REPORTS, max_size=5))
def test_the_history_always_ends_in_the_messages_status(patient, reports):
    """Invariant: whatever the provider reports, in whatever order, each change of status
    is in the history once, in order, and the last entry is the row's status."""
    now = timezone.now()
    message = Notification.objects.create(
        key=f"prop:{next(_keys)}",
        kind="appointment-reminder",
        clinic=patient.clinic,
        patient=patient,
        channel=Channel.SMS,
        to_address=patient.phone,
        body="Hello",
        status=NotificationStatus.SENDING,
        claimed_at=now,
    )
    NotificationEvent.objects.create(notification=message, status="sending", at=now)
    seen = ["sending"]
    for report in reports:
        notification_provider_status(
            reference=str(message.reference), provider_id="", status=report
        )
        message.refresh_from_db()
        if message.status != seen[-1]:
            seen.append(message.status)
    history = list(message.events.values_list("status", flat=True))
    assert history == seen
    assert history[-1] == message.status
