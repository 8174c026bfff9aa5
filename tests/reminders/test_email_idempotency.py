"""Email through an API provider (django-anymail): the outbox reference travels with every
email, a re-send after a kill carries the same one, and where the provider de-duplicates
by it the re-send is not a possible duplicate. anymail's test backend: no network."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from anymail.exceptions import AnymailAPIError, AnymailInvalidAddress, AnymailRecipientsRefused
from django.core import mail
from django.core.mail import EmailMessage
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from patients.models import Channel
from reminders.channels import (
    METADATA_KEY,
    REFERENCE_HEADER,
    PermanentSendError,
    TransientSendError,
    _api_error,
)
from reminders.delivery import notification_send
from reminders.email_backends import BrevoEmailBackend, ResendEmailBackend
from reminders.models import Notification
from tests.reminders.conftest import DAY, book, sweep
from tests.reminders.test_delivery import stuck

ANYMAIL_TEST = "anymail.backends.test.EmailBackend"
IDEMPOTENT_TEST = "tests.support.backends.IdempotentTestEmailBackend"


@pytest.fixture
def email_row(filled_pump, nurse):
    """One pending email confirmation to the patient."""
    filled_pump.patient.preferred_channel = Channel.EMAIL
    filled_pump.patient.save()
    book(filled_pump, nurse, timezone.now() + 20 * DAY)
    return Notification.objects.get()


def send(pk) -> str:
    return notification_send(notification_id=pk).outcome


def references(outbox) -> list[str]:
    return [message.anymail_test_params["metadata"][METADATA_KEY] for message in outbox]


def test_every_email_carries_its_outbox_reference_to_the_provider(email_row, settings):
    settings.EMAIL_BACKEND = ANYMAIL_TEST
    assert send(email_row.pk) == "sent"
    email_row.refresh_from_db()
    [message] = mail.outbox
    assert references(mail.outbox) == [str(email_row.reference)]
    assert message.extra_headers[REFERENCE_HEADER] == str(email_row.reference)
    # The provider's own id for the message is what the row records.
    assert email_row.provider_id == str(message.anymail_status.message_id)


def test_a_resend_after_a_kill_carries_the_same_reference_and_is_counted(email_row, settings):
    """A provider without idempotency (like SMTP): the second copy is counted."""
    settings.EMAIL_BACKEND = ANYMAIL_TEST
    assert send(email_row.pk) == "sent"
    stuck(email_row)  # the worker died after the provider took it, before the commit
    sweep()
    assert send(email_row.pk) == "sent"
    email_row.refresh_from_db()
    assert references(mail.outbox) == [str(email_row.reference)] * 2
    assert email_row.possible_duplicates == 1


def test_with_an_idempotent_provider_the_resend_is_not_a_duplicate_inside_its_window(
    email_row, settings, clock
):
    settings.EMAIL_BACKEND = IDEMPOTENT_TEST
    assert send(email_row.pk) == "sent"
    stuck(email_row, minutes_ago=1)
    clock.shift(dt.timedelta(minutes=2))  # recovered two minutes later: inside 15 min
    sweep()
    assert send(email_row.pk) == "sent"
    email_row.refresh_from_db()
    assert references(mail.outbox) == [str(email_row.reference)] * 2
    assert email_row.possible_duplicates == 0


def test_with_an_idempotent_provider_a_resend_after_its_window_is_counted(
    email_row, settings, clock
):
    settings.EMAIL_BACKEND = IDEMPOTENT_TEST
    assert send(email_row.pk) == "sent"
    stuck(email_row)
    clock.shift(dt.timedelta(minutes=16))  # the provider has forgotten the key by now
    sweep()
    assert send(email_row.pk) == "sent"
    email_row.refresh_from_db()
    assert email_row.possible_duplicates == 1


def request_params(backend, reference: str) -> dict:
    """The HTTP request the backend would make (built, never sent)."""
    message = EmailMessage(
        "Reminder",
        "Body",
        "clinic@example.org",
        ["person@example.org"],
        headers={REFERENCE_HEADER: reference},
    )
    message.metadata = {METADATA_KEY: reference}
    payload = backend.build_message_payload(message, backend.send_defaults)
    return payload.get_request_params(backend.api_url)


@hypothesis_settings(max_examples=20, deadline=None)
@given(reference=st.uuids().map(str))
def test_resend_and_brevo_requests_carry_the_reference_as_their_idempotency_key(reference):
    resend = request_params(ResendEmailBackend(api_key="re_test"), reference)
    assert resend["headers"]["Idempotency-Key"] == reference
    brevo = request_params(BrevoEmailBackend(api_key="xkeysib-test"), reference)
    body = json.loads(brevo["data"])
    assert body["headers"]["idempotencyKey"] == reference
    assert json.loads(body["headers"]["X-Mailin-custom"]) == {METADATA_KEY: reference}


@pytest.mark.parametrize(
    ("error", "kind", "ambiguous"),
    [
        (AnymailAPIError("no answer"), TransientSendError, True),
        (AnymailAPIError("busy", status_code=429), TransientSendError, False),
        (AnymailAPIError("down", status_code=503), TransientSendError, False),
        (AnymailAPIError("bad request", status_code=400), PermanentSendError, None),
        (AnymailRecipientsRefused("refused"), PermanentSendError, None),
        (AnymailInvalidAddress("bad address"), PermanentSendError, None),
    ],
)
def test_provider_errors_are_sorted_into_retry_and_give_up(error, kind, ambiguous):
    sorted_error = _api_error(error)
    assert type(sorted_error) is kind
    if ambiguous is not None:
        assert sorted_error.ambiguous is ambiguous
