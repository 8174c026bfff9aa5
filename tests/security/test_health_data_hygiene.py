"""Canary values (surname, MRN, drug, dose, diagnosis, phone) never leak into texts,
broker messages or logs while the reminder flow runs end to end."""

import datetime as dt
import json
import logging
import re

import pytest
import time_machine
from celery.signals import before_task_publish
from django.core import mail
from django.utils import timezone

from refills import services
from reminders.channels import LocmemSmsBackend
from reminders.delivery import notification_send
from reminders.models import Notification, NotificationStatus
from reminders.sweep import sweep_run
from tests.conftest import program_input, refill_input
from tests.factories import CaregiverFactory, PatientFactory, PumpFactory

START = dt.datetime(2025, 6, 2, 14, 0, tzinfo=dt.UTC)  # Monday 10:00 in New York

FIRST_NAME = "Zebulon"
CANARIES = {
    "surname": "Quixotefield",
    "mrn": "CANARY-MRN-7731",
    "diagnosis": "CanaryDx multiple sclerosis",
    "dose": "437",
    "drug": "Gablofen",
    "concentration": "1000",
    "caregiver surname": "Canarycarer",
    "patient phone": "6175550187",
}


@pytest.fixture
def canary_patient(clinic, nurse):
    patient = PatientFactory(
        clinic=clinic,
        given_name=FIRST_NAME,
        family_name=CANARIES["surname"],
        mrn=CANARIES["mrn"],
        notes=f"Diagnosis: {CANARIES['diagnosis']}",
        phone="+1" + CANARIES["patient phone"],
        email="zebulon@example.org",
    )
    CaregiverFactory(
        patient=patient,
        name=f"Wilhelmina {CANARIES['caregiver surname']}",
        phone="+16175550188",
        consent_sms=True,
    )
    pump = PumpFactory(patient=patient)
    # Filled 20 days before the flow's START, in the flow's own time: a fill dated by the
    # real clock would lie after the 2025 visit, and the send-time check rightly withdraws
    # a "we missed you" text when a refill was recorded after the miss.
    with time_machine.travel(START, tick=False):
        filled = timezone.now() - dt.timedelta(days=20)
        services.program_start(
            pump=pump, by=nurse, program=program_input(437, 1000), effective_from=filled
        )
        services.refill_record(
            pump=pump,
            by=nurse,
            data=refill_input(performed_at=filled, residual="3", added="20", concentration=1000),
        )
    return pump


@pytest.fixture
def published():
    """Every task message as the broker receives it: headers and body."""
    seen: list[str] = []

    def capture(sender=None, body=None, headers=None, **kwargs):
        seen.append(json.dumps({"headers": headers, "body": body}, default=str))

    before_task_publish.connect(capture, weak=False)
    yield seen
    before_task_publish.disconnect(capture)


# Celery stamps every message with random UUIDs (task id, root id); their hex digits
# can spell a numeric canary such as "437" by chance, so they are blanked first.
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def leaks(canary: str, text: str) -> bool:
    """Whether `canary` appears in `text`. A short number (a dose, a concentration)
    counts only as a whole number: "437" inside a process id or a notification
    number is not a leak. A phone number counts wherever it appears (+1 prefix)."""
    text = UUID.sub("<uuid>", text)
    if canary.isdigit() and len(canary) < 7:
        return re.search(rf"(?<![0-9A-Za-z]){canary}(?![0-9A-Za-z])", text) is not None
    return canary in text


def test_leak_check_finds_numbers_but_ignores_random_ids():
    assert leaks("437", "dose 437 mcg/day")
    assert leaks("437", "dose=437")
    assert not leaks("437", "id 29760d3a-0894-437b-9ff5-babc7609aa6d")
    assert not leaks("1000", "root 29760d3a-1000-437b-9ff5-babc7609aa6d")
    assert not leaks("437", "notification 4371 sent")
    assert leaks("Gablofen", "xGablofenx")
    assert leaks("6175550187", "to +16175550187")


def send_everything_due():
    for pk in Notification.objects.filter(status=NotificationStatus.PENDING).values_list(
        "pk", flat=True
    ):
        notification_send(notification_id=pk)


def test_reminder_flow_leaks_no_health_data(canary_patient, nurse, published, caplog):
    caplog.set_level(logging.DEBUG)
    LocmemSmsBackend.outbox.clear()
    with time_machine.travel(START, tick=False) as clock:
        appointment = services.appointment_book(
            pump=canary_patient,
            by=nurse,
            scheduled_start=timezone.now() + dt.timedelta(days=7),
        )
        # Booking confirmation, the 2-day and 1-day reminders, then the visit is missed.
        for before in (dt.timedelta(days=7), dt.timedelta(days=2), dt.timedelta(days=1)):
            clock.move_to(appointment.scheduled_start - before)
            sweep_run()
            send_everything_due()
        clock.move_to(appointment.scheduled_start + dt.timedelta(hours=5))
        sweep_run()
        send_everything_due()

    texts = [record["body"] for record in LocmemSmsBackend.outbox]
    emails = [f"{m.subject}\n{m.body}" for m in mail.outbox]
    # The flow really ran: patient and caregiver got texts that name the patient's first name.
    assert len(texts) >= 8  # four occasions, to the patient and the caregiver
    assert any(FIRST_NAME in text for text in texts)
    assert published, "the sweep queued no send task"

    for label, canary in CANARIES.items():
        for text in texts:
            assert not leaks(canary, text), f"{label} in a text message: {text}"
        for email in emails:
            assert not leaks(canary, email), f"{label} in an email: {email}"
        for message in published:
            assert not leaks(canary, message), f"{label} in a broker message: {message}"
        assert not leaks(canary, caplog.text), f"{label} in the logs"
    for forbidden in ("baclofen", "mcg", "dose", "CANCEL"):
        assert all(forbidden.lower() not in text.lower() for text in texts), forbidden
    # Broker messages and logs carry ids only, not even the first name.
    assert all(FIRST_NAME not in message for message in published)
    assert FIRST_NAME not in caplog.text
