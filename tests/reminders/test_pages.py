"""The staff message pages: every message of the clinic, and the managers' templates."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from patients.models import Channel
from reminders.models import MessageTemplate, Notification, NotificationStatus
from reminders.outbox import draft_for, patient_context, patient_recipient
from tests.factories import CaregiverFactory, ClinicFactory, PatientFactory, staff

_keys = itertools.count()

MESSAGES_URL = reverse("reminders:messages")
TEMPLATES_URL = reverse("reminders:templates")


def note(patient, /, **fields) -> Notification:
    values = {
        "key": f"test:{next(_keys)}",
        "kind": "appointment-reminder",
        "stage": "reminder-7d",
        "clinic": patient.clinic,
        "patient": patient,
        "channel": Channel.SMS,
        "to_address": patient.phone,
        "body": "Hi, a reminder.",
        "status": NotificationStatus.SENT,
    }
    values.update(fields)
    return Notification.objects.create(**values)


def edit_url(clinic, kind="booking-confirmation", channel="sms") -> str:
    return reverse("reminders:template_edit", args=[clinic.pk, kind, channel])


@pytest.fixture
def manager(clinic):
    return staff(clinic, Role.MANAGER)


# --------------------------------------------------------------------------- messages


@pytest.mark.parametrize(
    "url",
    [
        MESSAGES_URL,
        TEMPLATES_URL,
        "/messages/templates/1/booking-confirmation/sms/",
    ],
)
def test_sign_in_required(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_lists_only_the_users_clinics_messages(as_user, nurse, patient):
    mine = note(patient, body="x", last_error="mine-error")
    other = PatientFactory(clinic=ClinicFactory(), given_name="Otherclinic")
    theirs = note(other, last_error="theirs-error")
    response = as_user(nurse).get(MESSAGES_URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="message-{mine.pk}"' in html
    assert f'id="message-{theirs.pk}"' not in html
    assert "theirs-error" not in html and "Otherclinic" not in html
    assert reverse("dashboard:patient", args=[patient.pk]) in html
    assert MESSAGES_URL in html  # the nav link


def test_columns_and_opted_out_reason(as_user, nurse, patient):
    suppressed = note(
        patient,
        channel=Channel.NONE,
        to_address="",
        status=NotificationStatus.SUPPRESSED,
        suppressed_reason="Opted out of text messages (no SMS consent) and no email consent",
    )
    failed = note(patient, status=NotificationStatus.FAILED, attempts=5, last_error="HTTP 500")
    html = as_user(nurse).get(MESSAGES_URL).content.decode()
    assert "Opted out of text messages" in html
    assert "HTTP 500" in html and "Failed" in html
    assert f'id="message-{suppressed.pk}"' in html and f'id="message-{failed.pk}"' in html
    # Clinic time with the weekday: T0 is Monday 2 June 2025, 10:00 in New York.
    assert "Mon 2 Jun 2025, 10:00" in html


def test_filters(as_user, nurse, patient):
    sent = note(patient)
    failed = note(patient, status=NotificationStatus.FAILED, last_error="boom")
    email = note(patient, channel=Channel.EMAIL, to_address="a@example.org")
    nudge = note(patient, kind="unbooked-nudge", stage="nudge")
    twice = note(patient, possible_duplicates=1)
    client = as_user(nurse)

    def listed(**params) -> set[int]:
        response = client.get(MESSAGES_URL, params)
        assert response.status_code == 200
        return {n.pk for n in response.context["page"].object_list}

    assert listed() == {sent.pk, failed.pk, email.pk, nudge.pk, twice.pk}
    assert listed(status="failed") == {failed.pk}
    assert listed(channel="email") == {email.pk}
    assert listed(kind="unbooked-nudge") == {nudge.pk}
    assert listed(problems="on") == {failed.pk, twice.pk}
    assert listed(status="nonsense") == listed()  # an invalid filter shows everything


def test_newest_first_and_paginated(as_user, nurse, patient, clock):
    first = note(patient)
    clock.shift(dt.timedelta(minutes=1))
    for _ in range(50):
        note(patient)
    client = as_user(nurse)
    page1 = client.get(MESSAGES_URL).context["page"]
    assert page1.paginator.count == 51 and len(page1.object_list) == 50
    assert first.pk not in {n.pk for n in page1.object_list}
    page2 = client.get(MESSAGES_URL, {"page": 2}).context["page"]
    assert [n.pk for n in page2.object_list] == [first.pk]


def _make_rows(patient, count):
    caregiver = CaregiverFactory(patient=patient)
    colleague = staff(patient.clinic, Role.PHYSICIAN)
    for i in range(count):
        extra = [{}, {"caregiver": caregiver}, {"staff_user": colleague, "patient": None}][i % 3]
        note(patient, **extra)


def test_query_count_does_not_grow_with_rows(
    as_user, nurse, patient, django_assert_max_num_queries
):
    client = as_user(nurse)
    _make_rows(patient, 5)
    with CaptureQueriesContext(connection) as few:
        assert client.get(MESSAGES_URL).status_code == 200
    _make_rows(patient, 35)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(MESSAGES_URL)
    assert len(response.context["page"].object_list) == 40


# --------------------------------------------------------------------------- templates


def test_nurse_gets_403_and_no_link(as_user, nurse, clinic):
    client = as_user(nurse)
    assert client.get(TEMPLATES_URL).status_code == 403
    assert client.get(edit_url(clinic)).status_code == 403
    assert client.post(edit_url(clinic), {"body": "Hi {first_name}"}).status_code == 403
    reset = reverse("reminders:template_reset", args=[clinic.pk, "booking-confirmation", "sms"])
    assert client.post(reset).status_code == 403
    assert TEMPLATES_URL not in client.get(MESSAGES_URL).content.decode()
    assert not MessageTemplate.objects.filter(clinic=clinic).exists()


def test_another_clinics_templates_are_404(as_user, manager):
    other = ClinicFactory()
    assert as_user(manager).get(edit_url(other)).status_code == 404


def test_unknown_kind_or_channel_is_404(as_user, manager, clinic):
    client = as_user(manager)
    assert client.get(edit_url(clinic, kind="nonsense")).status_code == 404
    assert client.get(edit_url(clinic, kind="sweep-resumed", channel="sms")).status_code == 404


def test_manager_sees_the_list_with_defaults(as_user, manager, clinic):
    client = as_user(manager)
    assert TEMPLATES_URL in client.get(MESSAGES_URL).content.decode()
    response = client.get(TEMPLATES_URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Default" in html and edit_url(clinic) in html
    page = client.get(edit_url(clinic))
    assert page.status_code == 200
    # The preview uses invented values, never a real patient's.
    assert "Hi Alex, Example Pump Clinic has booked" in page.content.decode()


def test_manager_edit_is_saved_and_used_for_that_clinic(as_user, manager, clinic, patient):
    text = "Hi {first_name}, {clinic_name} expects {whom} on {when}. Questions: {clinic_phone}."
    response = as_user(manager).post(edit_url(clinic), {"action": "save", "body": text})
    assert response.status_code == 302 and response["Location"] == TEMPLATES_URL
    saved = MessageTemplate.objects.get(clinic=clinic, kind="booking-confirmation", channel="sms")
    assert saved.body == text and saved.updated_by == manager

    recipient = patient_recipient(patient)
    assert recipient.channel == Channel.SMS
    context = patient_context(recipient, patient, clinic) | {"when": "Mon 23 Jun 2025 at 9:30"}
    draft = draft_for(
        key="k",
        kind="booking-confirmation",
        stage="",
        recipient=recipient,
        clinic=clinic,
        context=context,
        now=timezone.now(),
        quiet_hours=False,
    )
    assert draft.body.startswith(f"Hi {patient.given_name}, {clinic.name} expects you on Mon 23")

    # Another clinic keeps the default text.
    other = ClinicFactory()
    other_patient = PatientFactory(clinic=other)
    other_draft = draft_for(
        key="k2",
        kind="booking-confirmation",
        stage="",
        recipient=patient_recipient(other_patient),
        clinic=other,
        context=patient_context(patient_recipient(other_patient), other_patient, other),
        now=timezone.now(),
        quiet_hours=False,
    )
    assert "expects" not in other_draft.body and "has booked" in other_draft.body


def test_email_template_has_a_subject(as_user, manager, clinic):
    url = edit_url(clinic, channel="email")
    response = as_user(manager).post(
        url,
        {
            "action": "save",
            "subject": "See you at {clinic_name}",
            "body": "Hello {first_name}, see you {when}.",
        },
    )
    assert response.status_code == 302
    saved = MessageTemplate.objects.get(clinic=clinic, channel="email")
    assert saved.subject == "See you at {clinic_name}"


@pytest.mark.parametrize(
    "body,shown",
    [
        ("Hi {first_name}, your dose is ready at {clinic_name}.", "must not contain “dose”"),
        ("Hi {first_name}, MRN {mrn} is booked.", "{mrn} is not available here"),
        ("Hi {first_name}, reply CANCEL to cancel.", "must not contain “cancel”"),
    ],
)
def test_forbidden_words_are_refused_in_place(as_user, manager, clinic, body, shown):
    response = as_user(manager).post(edit_url(clinic), {"action": "save", "body": body})
    assert response.status_code == 200
    assert shown in response.content.decode()
    assert response.context["form"].errors["body"]
    assert not MessageTemplate.objects.filter(clinic=clinic).exists()


def test_preview_renders_without_saving(as_user, manager, clinic):
    response = as_user(manager).post(
        edit_url(clinic),
        {"action": "preview", "body": "Hello {first_name} from {clinic_name}, {when}"},
    )
    assert response.status_code == 200
    assert "Hello Alex from Example Pump Clinic" in response.content.decode()
    assert not MessageTemplate.objects.filter(clinic=clinic).exists()


def test_reset_to_the_default(as_user, manager, clinic):
    client = as_user(manager)
    client.post(edit_url(clinic), {"action": "save", "body": "Hi {first_name}, see you {when}."})
    assert MessageTemplate.objects.filter(clinic=clinic).count() == 1
    assert "Reset to the default" in client.get(edit_url(clinic)).content.decode()
    reset = reverse("reminders:template_reset", args=[clinic.pk, "booking-confirmation", "sms"])
    assert client.get(reset).status_code == 405
    response = client.post(reset)
    assert response.status_code == 302
    assert not MessageTemplate.objects.filter(clinic=clinic).exists()
    # The default row (clinic empty) is untouched.
    assert MessageTemplate.objects.filter(clinic__isnull=True, kind="booking-confirmation").exists()


@pytest.mark.parametrize(
    "params",
    [
        {"page": "9" * 5000},
        {"page": "-1"},
        {"status": "\x00"},
        {"kind": "x" * 10000, "problems": "maybe"},
        {"channel": ["sms", "email"]},
    ],
)
def test_hostile_query_strings_still_show_the_page(as_user, nurse, patient, params):
    note(patient)
    assert as_user(nurse).get(MESSAGES_URL, params).status_code == 200
