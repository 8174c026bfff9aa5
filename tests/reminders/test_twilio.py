"""Twilio: the production SMS backend's error handling, and the signed webhooks."""

import itertools
import json

import pytest
import requests
from django.utils import timezone
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator

from reminders.channels import (
    LookupState,
    Outgoing,
    PermanentSendError,
    TransientSendError,
    TwilioSmsBackend,
)
from reminders.models import Alert, Notification, NotificationStatus
from tests.factories import CaregiverFactory
from tests.reminders.conftest import DAY, book

TOKEN = "test-auth-token"
BASE = "https://itb.example.org"


@pytest.fixture
def twilio_settings(settings):
    settings.REMINDERS = {
        **settings.REMINDERS,
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_FROM_NUMBER": "+16175550999",
        "PUBLIC_BASE_URL": BASE,
    }
    return settings


class CannedHttp(HttpClient):
    """Stands in for the network only: the twilio package parses a real HTTP answer."""

    def __init__(self, status, body=None, raises=None):
        super().__init__(logger=None, is_async=False)
        self.status, self.body, self.raises = status, body or {}, raises
        self.requests = []

    def request(self, method, url, params=None, data=None, headers=None, auth=None, **kw):
        self.requests.append({"method": method, "url": url, "data": data, "params": params})
        if self.raises:
            raise self.raises
        return Response(self.status, json.dumps(self.body))


def backend_with(http):
    backend = TwilioSmsBackend()
    backend._client = lambda timeout: __import__("twilio.rest", fromlist=["Client"]).Client(
        backend.account_sid, backend.auth_token, http_client=http
    )
    return backend


MESSAGE = Outgoing(
    reference="0b3c",
    to="+16175550123",
    body="Hi",
    status_callback=f"{BASE}/twilio/status/?ref=0b3c",
)


def test_twilio_send_returns_the_message_sid_and_asks_for_status_callbacks(twilio_settings):
    http = CannedHttp(201, {"sid": "SM123", "status": "queued"})
    result = backend_with(http).send(MESSAGE, timeout=5)
    assert (result.provider_id, result.status) == ("SM123", "queued")
    sent = http.requests[0]["data"]
    assert sent["To"] == "+16175550123" and sent["From"] == "+16175550999"
    assert sent["StatusCallback"] == MESSAGE.status_callback


@pytest.mark.parametrize(
    ("status", "code", "expected", "flag"),
    [
        (429, 20429, TransientSendError, False),
        (503, 20503, TransientSendError, False),
        (400, 21610, PermanentSendError, True),
        (400, 21211, PermanentSendError, False),
    ],
)
def test_twilio_errors_are_sorted_into_transient_and_permanent(
    twilio_settings, status, code, expected, flag
):
    http = CannedHttp(status, {"code": code, "message": "no", "status": status})
    with pytest.raises(expected) as error:
        backend_with(http).send(MESSAGE, timeout=5)
    assert getattr(error.value, "opted_out", False) == flag


def test_a_twilio_timeout_is_transient_and_ambiguous(twilio_settings):
    http = CannedHttp(0, raises=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(TransientSendError) as error:
        backend_with(http).send(MESSAGE, timeout=5)
    assert error.value.ambiguous


def test_twilio_lookup_finds_a_sent_copy_by_number_and_text(twilio_settings):
    http = CannedHttp(200, {"messages": [{"sid": "SM9", "body": "Hi", "status": "delivered"}]})
    found = backend_with(http).lookup(MESSAGE)
    assert (found.state, found.provider_id) == (LookupState.SENT, "SM9")
    none = backend_with(CannedHttp(200, {"messages": []})).lookup(MESSAGE)
    assert none.state == LookupState.UNKNOWN  # absence proves nothing on Twilio


# --------------------------------------------------------------------------- webhooks


def signed_post(client, path, data, token=TOKEN):
    signature = RequestValidator(token).compute_signature(f"{BASE}{path}", data)
    return client.post(path, data, HTTP_X_TWILIO_SIGNATURE=signature)


@pytest.fixture
def sent_sms(filled_pump, nurse, twilio_settings):
    book(filled_pump, nurse, timezone.now() + 20 * DAY)
    row = Notification.objects.get()
    Notification.objects.filter(pk=row.pk).update(
        status=NotificationStatus.SENT, provider_id="SM42", sent_at=timezone.now()
    )
    return row


def status_path(row):
    return f"/twilio/status/?ref={row.reference}"


def test_a_signed_delivery_report_marks_the_message_delivered(client, sent_sms):
    response = signed_post(
        client, status_path(sent_sms), {"MessageSid": "SM42", "MessageStatus": "delivered"}
    )
    assert response.status_code == 204
    sent_sms.refresh_from_db()
    assert (sent_sms.status, sent_sms.provider_status) == ("delivered", "delivered")


def test_a_forged_delivery_report_is_refused_and_changes_nothing(client, sent_sms):
    data = {"MessageSid": "SM42", "MessageStatus": "failed", "ErrorCode": "30003"}
    forged = signed_post(client, status_path(sent_sms), data, token="not-the-token")
    unsigned = client.post(status_path(sent_sms), data)
    assert forged.status_code == unsigned.status_code == 403
    sent_sms.refresh_from_db()
    assert sent_sms.status == "sent" and sent_sms.provider_status == ""
    assert not Alert.objects.filter(kind="delivery-failed").exists()


def test_webhooks_refuse_everything_when_no_auth_token_is_configured(client, sent_sms, settings):
    data = {"MessageSid": "SM42", "MessageStatus": "delivered"}
    settings.REMINDERS = {**settings.REMINDERS, "TWILIO_AUTH_TOKEN": ""}
    signature = RequestValidator("").compute_signature(f"{BASE}{status_path(sent_sms)}", data)
    response = client.post(status_path(sent_sms), data, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 403


def test_an_undelivered_report_fails_the_message_and_alerts_staff(client, sent_sms):
    data = {"MessageSid": "SM42", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert signed_post(client, status_path(sent_sms), data).status_code == 204
    sent_sms.refresh_from_db()
    assert (sent_sms.status, sent_sms.last_error) == ("failed", "provider-undelivered-30003")
    assert Alert.objects.filter(kind="delivery-failed", state="open").count() == 1


def test_a_report_for_a_send_that_crashed_before_its_commit_closes_it(client, sent_sms):
    Notification.objects.filter(pk=sent_sms.pk).update(
        status=NotificationStatus.SENDING, provider_id="", claimed_at=timezone.now()
    )
    signed_post(client, status_path(sent_sms), {"MessageSid": "SM77", "MessageStatus": "sent"})
    sent_sms.refresh_from_db()
    assert (sent_sms.status, sent_sms.provider_id) == ("sent", "SM77")


_SIDS = itertools.count(1)


def inbound(client, body, sender="+16175550123", token=TOKEN, to="+16175550999", sid=None):
    """A signed inbound text; each gets its own MessageSid, as Twilio's do."""
    data = {"From": sender, "To": to, "Body": body, "MessageSid": sid or f"SMin{next(_SIDS)}"}
    return signed_post(client, "/twilio/inbound/", data, token=token)


def test_inbound_stop_and_start_change_consent_for_every_holder_of_the_number(
    client, filled_pump, twilio_settings
):
    patient = filled_pump.patient
    carer = CaregiverFactory(patient=patient, phone=patient.phone)
    response = inbound(client, "STOP")
    assert response.status_code == 200 and "<Message>" not in response.content.decode()
    patient.refresh_from_db()
    carer.refresh_from_db()
    assert not patient.consent_sms and not carer.consent_sms
    inbound(client, "unstop")
    patient.refresh_from_db()
    assert patient.consent_sms


def test_a_forged_stop_changes_nothing(client, filled_pump, twilio_settings):
    assert inbound(client, "STOP", token="forged").status_code == 403
    filled_pump.patient.refresh_from_db()
    assert filled_pump.patient.consent_sms


def test_any_other_reply_gets_the_clinic_number_because_nobody_reads_replies(
    client, filled_pump, twilio_settings
):
    response = inbound(client, "I feel itchy and hot, is that normal?")
    text = response.content.decode()
    assert "This number cannot read replies" in text and "+1 617-555-0100" in text
    filled_pump.patient.refresh_from_db()
    assert filled_pump.patient.consent_sms


# --------------------------------------------------------------------------- replays and scope


def test_a_replayed_stop_or_start_is_a_no_op(client, filled_pump, twilio_settings):
    """A captured signed START replayed after the patient's STOP must not turn texts back on."""
    patient = filled_pump.patient
    start = inbound(client, "START", sid="SMstart1")
    assert inbound(client, "STOP", sid="SMstop1").status_code == 200
    patient.refresh_from_db()
    assert not patient.consent_sms
    replay = signed_post(
        client,
        "/twilio/inbound/",
        {
            "From": str(patient.phone),
            "To": "+16175550999",
            "Body": "START",
            "MessageSid": "SMstart1",
        },
    )
    assert start.status_code == replay.status_code == 200
    assert "<Message>" not in replay.content.decode()
    patient.refresh_from_db()
    assert not patient.consent_sms


def test_a_replayed_delivery_report_is_applied_once(client, sent_sms):
    data = {"MessageSid": "SM42", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert signed_post(client, status_path(sent_sms), data).status_code == 204
    Alert.objects.filter(kind="delivery-failed").delete()
    Notification.objects.filter(pk=sent_sms.pk).update(status="sent", last_error="")
    assert signed_post(client, status_path(sent_sms), data).status_code == 204
    sent_sms.refresh_from_db()
    assert sent_sms.status == "sent"
    assert not Alert.objects.filter(kind="delivery-failed").exists()
    # Another status for the same message is a different report and is applied.
    delivered = {"MessageSid": "SM42", "MessageStatus": "delivered"}
    assert signed_post(client, status_path(sent_sms), delivered).status_code == 204
    sent_sms.refresh_from_db()
    assert sent_sms.status == "delivered"


def test_an_inbound_text_without_a_message_sid_is_refused(client, filled_pump, twilio_settings):
    data = {"From": str(filled_pump.patient.phone), "To": "+16175550999", "Body": "STOP"}
    assert signed_post(client, "/twilio/inbound/", data).status_code == 400
    filled_pump.patient.refresh_from_db()
    assert filled_pump.patient.consent_sms


def test_a_stop_applies_to_the_number_that_received_it_and_to_texts_only(
    client, filled_pump, twilio_settings
):
    patient = filled_pump.patient
    # A STOP to a number that sends nobody's reminders (another app on the same Twilio
    # account, a number since released) does not silence this clinic's reminders.
    assert inbound(client, "STOP", to="+16175550888").status_code == 200
    patient.refresh_from_db()
    assert patient.consent_sms
    # A STOP to the number the reminders come from stops the texts, not the emails.
    inbound(client, "STOP", to="+1 (617) 555-0999")
    patient.refresh_from_db()
    assert not patient.consent_sms
    assert patient.consent_email
