"""Sending one outbox row: claim once, retry with backoff, fail loudly, recover crashes."""

import datetime as dt
import json
import logging

import pytest
from django.core import mail
from django.utils import timezone

from patients.models import Channel
from pumptrack.celery import app as celery_app
from reminders import tasks
from reminders.channels import LocmemSmsBackend, PermanentSendError, read_lines
from reminders.delivery import backoff_seconds, notification_send
from reminders.models import Alert, Notification, NotificationStatus
from tests.reminders.conftest import DAY, NY, book, deliver_due, sweep


@pytest.fixture
def booked(filled_pump, nurse):
    """One pending SMS confirmation to the patient (sent to +16175550123)."""
    book(filled_pump, nurse, timezone.now() + 20 * DAY)
    return Notification.objects.get()


@pytest.fixture
def faults(settings, tmp_path):
    """Use the flaky SMS backend with a fault plan; returns a function to write the plan."""
    plan = tmp_path / "faults.json"
    outbox = tmp_path / "sms.jsonl"
    settings.REMINDERS = {
        **settings.REMINDERS,
        "SMS_BACKEND": "tests.support.backends.FlakySmsBackend",
        "SMS_OUTBOX_PATH": str(outbox),
        "SMS_ECHO": False,
        "FAULTS_PATH": str(plan),
    }

    def write(**content):
        plan.write_text(json.dumps(content))
        return outbox

    return write


def send(pk, **kwargs):
    return notification_send(notification_id=pk, **kwargs).outcome


def test_a_due_message_is_sent_once_even_when_its_task_runs_twice(booked, sms_outbox):
    assert send(booked.pk) == "sent"
    assert send(booked.pk) == "not-pending"
    booked.refresh_from_db()
    assert booked.status == NotificationStatus.SENT
    assert booked.attempts == 1 and booked.provider_id.startswith("mem-")
    assert [m["reference"] for m in sms_outbox] == [str(booked.reference)]


class ReentrantBackend(LocmemSmsBackend):
    """While the provider call is in flight, a second copy of the task runs."""

    inner: list[str] = []

    def send(self, message, *, timeout):
        row = Notification.objects.get(reference=message.reference)
        type(self).inner.append(notification_send(notification_id=row.pk).outcome)
        return super().send(message, timeout=timeout)


def test_a_second_delivery_of_the_task_during_the_send_does_nothing(booked, settings, sms_outbox):
    settings.REMINDERS = {
        **settings.REMINDERS,
        "SMS_BACKEND": "tests.reminders.test_delivery.ReentrantBackend",
    }
    ReentrantBackend.inner.clear()
    assert send(booked.pk) == "sent"
    assert ReentrantBackend.inner == ["not-pending"]
    assert len(sms_outbox) == 1


def test_transient_errors_back_off_exponentially_then_the_message_goes_once(booked, faults, clock):
    outbox = faults(sms_transient=2, sms_transient_kinds=["429", "503"])
    assert send(booked.pk) == "retry"
    booked.refresh_from_db()
    assert (booked.status, booked.attempts, booked.last_error) == ("pending", 1, "fault-429")
    assert booked.not_before == timezone.now() + dt.timedelta(seconds=15)
    assert send(booked.pk) == "not-yet"
    clock.shift(15)
    assert send(booked.pk) == "retry"
    booked.refresh_from_db()
    assert booked.last_error == "fault-503"
    assert booked.not_before == timezone.now() + dt.timedelta(seconds=30)
    clock.shift(30)
    assert send(booked.pk) == "sent"
    booked.refresh_from_db()
    assert (booked.status, booked.attempts, booked.last_error) == ("sent", 3, "")
    assert [r["reference"] for r in read_lines(outbox)] == [str(booked.reference)]


def test_backoff_doubles_and_is_capped_below_the_visibility_timeout():
    assert [backoff_seconds(n) for n in (1, 2, 3, 4, 5, 10)] == [15, 30, 60, 120, 240, 300]


def test_after_a_timeout_the_provider_is_asked_before_sending_again(booked, faults, clock):
    outbox = faults(sms_transient=1, sms_transient_kinds=["timeout"])
    assert send(booked.pk) == "retry"
    booked.refresh_from_db()
    assert booked.needs_lookup
    clock.shift(15)
    assert send(booked.pk) == "sent"
    booked.refresh_from_db()
    assert booked.possible_duplicates == 0 and not booked.needs_lookup
    assert len(read_lines(outbox)) == 1


def test_a_permanent_failure_fails_at_once_and_raises_a_staff_alert(booked, faults):
    faults(sms_permanent_numbers=[booked.to_address])
    assert send(booked.pk) == "failed"
    booked.refresh_from_db()
    assert (booked.status, booked.attempts, booked.last_error) == (
        "failed",
        1,
        "fault-invalid-number",
    )
    alert = Alert.objects.get(kind="delivery-failed")
    assert alert.state == "open" and alert.pump_id == booked.appointment.pump_id
    assert f"message #{booked.pk}" in alert.reasons[0]
    assert "Contact them another way" in alert.reasons[0]


def test_transient_errors_give_up_after_the_last_attempt(booked, faults, clock, settings):
    faults(sms_transient=99)
    settings.REMINDERS = {**settings.REMINDERS, "MAX_ATTEMPTS": 3}
    outcomes = []
    for _ in range(4):
        outcomes.append(send(booked.pk))
        clock.shift(600)
    assert outcomes == ["retry", "retry", "failed", "not-pending"]
    assert Alert.objects.filter(kind="delivery-failed").count() == 1


def test_two_failures_for_one_pump_share_one_open_alert(filled_pump, nurse, faults):
    from tests.factories import CaregiverFactory

    carer = CaregiverFactory(patient=filled_pump.patient, phone="+16175550177")
    faults(sms_permanent_numbers=["+16175550123", str(carer.phone)])
    book(filled_pump, nurse, timezone.now() + 20 * DAY)
    assert deliver_due() == ["failed", "failed"]
    alert = Alert.objects.get(kind="delivery-failed")
    assert len(alert.reasons) == 2


def stuck(notification, *, minutes_ago=11):
    """What a worker killed mid-send leaves behind."""
    Notification.objects.filter(pk=notification.pk).update(
        status=NotificationStatus.SENDING,
        attempts=1,
        claimed_at=timezone.now() - dt.timedelta(minutes=minutes_ago),
    )


def test_a_text_sent_just_before_the_worker_died_is_found_and_not_sent_again(booked, sms_outbox):
    LocmemSmsBackend.outbox.append(
        {
            "reference": str(booked.reference),
            "to": booked.to_address,
            "body": "",
            "provider_id": "mem-1",
        }
    )
    stuck(booked)
    report = sweep()
    assert report.sends_recovered == 1 and report.published == [booked.pk]
    assert send(booked.pk) == "sent-earlier"
    booked.refresh_from_db()
    assert (booked.status, booked.provider_id, booked.possible_duplicates) == ("sent", "mem-1", 0)
    assert len(sms_outbox) == 1


def test_a_text_the_dead_worker_never_sent_is_sent_without_a_duplicate_mark(booked, sms_outbox):
    stuck(booked)
    sweep()
    assert send(booked.pk) == "sent"
    booked.refresh_from_db()
    assert booked.possible_duplicates == 0 and booked.attempts == 2
    assert len(sms_outbox) == 1


def test_an_email_in_doubt_is_sent_again_and_counted_as_a_possible_duplicate(filled_pump, nurse):
    filled_pump.patient.preferred_channel = Channel.EMAIL
    filled_pump.patient.save()
    book(filled_pump, nurse, timezone.now() + 20 * DAY)
    row = Notification.objects.get()
    assert send(row.pk) == "sent"
    stuck(row)  # as if the worker died after SMTP accepted it, before the commit
    sweep()
    assert send(row.pk) == "sent"
    row.refresh_from_db()
    assert row.possible_duplicates == 1
    assert len(mail.outbox) == 2


def test_a_send_still_in_progress_is_not_taken_away_from_its_worker(booked):
    # Within the lease (two send timeouts and a margin: 55 s by default) the send may be live.
    stuck(booked, minutes_ago=0.5)
    assert sweep().sends_recovered == 0


class OptedOutAtCarrier(LocmemSmsBackend):
    def send(self, message, *, timeout):
        raise PermanentSendError("twilio-400-21610", opted_out=True)


def test_a_carrier_opt_out_is_suppressed_not_failed(booked, settings):
    settings.REMINDERS = {
        **settings.REMINDERS,
        "SMS_BACKEND": "tests.reminders.test_delivery.OptedOutAtCarrier",
    }
    assert send(booked.pk) == "suppressed"
    booked.refresh_from_db()
    assert booked.suppressed_reason == "The carrier reports the number opted out (STOP)"
    assert not Alert.objects.filter(kind="delivery-failed").exists()


def test_consent_withdrawn_after_the_row_was_written_stops_the_send(booked, sms_outbox):
    patient = booked.patient
    patient.consent_sms = False
    patient.save()
    assert send(booked.pk) == "suppressed"
    assert sms_outbox == []


def test_a_message_to_a_deleted_caregiver_never_falls_back_to_the_patient(
    filled_pump, nurse, sms_outbox
):
    from tests.factories import CaregiverFactory

    caregiver = CaregiverFactory(patient=filled_pump.patient, phone="+16175550177")
    book(filled_pump, nurse, timezone.now() + 20 * DAY)
    to_caregiver = Notification.objects.get(caregiver=caregiver)
    caregiver.delete()  # e.g. from the Django admin, bypassing the app's remove page

    assert send(to_caregiver.pk) == "suppressed"
    to_caregiver.refresh_from_db()
    assert to_caregiver.suppressed_reason == "The recipient was removed"
    assert all(record["reference"] != str(to_caregiver.reference) for record in sms_outbox)


def test_quiet_hours_are_checked_again_when_the_worker_gets_to_it(booked, clock, sms_outbox):
    clock.move_to(dt.datetime(2025, 6, 2, 21, 15, tzinfo=NY))  # a backlog ran into the night
    assert send(booked.pk) == "held"
    booked.refresh_from_db()
    assert booked.not_before == dt.datetime(2025, 6, 3, 8, 0, tzinfo=NY)
    assert booked.dispatched_at is None and sms_outbox == []
    clock.move_to(dt.datetime(2025, 6, 3, 8, 0, tzinfo=NY))
    assert sweep().published == [booked.pk]
    assert send(booked.pk) == "sent"


def test_dispatch_publishes_once_and_again_only_when_the_task_seems_lost(booked, clock):
    assert sweep().published == [booked.pk]
    assert sweep().published == []
    clock.shift(179)
    assert sweep().published == []
    clock.shift(2)
    report = sweep()
    assert report.published == [booked.pk] and report.redispatched == 1


def test_a_broker_outage_leaves_the_rest_for_the_next_sweep(filled_pump, nurse):
    from tests.factories import CaregiverFactory

    CaregiverFactory(patient=filled_pump.patient)
    book(filled_pump, nurse, timezone.now() + 20 * DAY)
    calls = []

    def flaky_publish(pk):
        calls.append(pk)
        if len(calls) > 1:
            raise ConnectionError("broker down")

    from reminders.sweep import sweep_run

    report = sweep_run(publish=flaky_publish)
    assert report.dispatched == 1 and report.ok
    left = Notification.objects.get(pk=calls[1])
    assert left.dispatched_at is None  # published again at once by the next sweep
    assert sweep().published == [left.pk]


def test_logs_carry_ids_only(booked, faults, caplog, clock):
    faults(sms_transient=1, sms_transient_kinds=["503"])
    patient = booked.patient
    with caplog.at_level(logging.DEBUG):
        send(booked.pk)
        clock.shift(60)
        sweep()
        send(booked.pk)
    text = caplog.text
    assert f"notification {booked.pk}" in text
    for secret in (
        patient.given_name,
        patient.family_name,
        str(patient.phone),
        patient.mrn,
        booked.body,
    ):
        assert secret not in text


def test_the_send_task_takes_an_id_and_queues_its_own_retry(booked, faults):
    faults(sms_transient=1)
    assert tasks.send_notification(booked.pk) == "retry"
    assert tasks.send_notification.name == "reminders.tasks.send_notification"


def test_celery_is_configured_for_at_least_once_delivery():
    conf = celery_app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert conf.task_ignore_result is True
    assert not conf.task_always_eager
    schedule = conf.beat_schedule["reminders-sweep"]
    assert schedule["task"] == "reminders.tasks.sweep" and schedule["schedule"] == 60.0
    assert conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_beat_installs_the_schedule_from_code_idempotently():
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    for _ in range(2):
        DatabaseScheduler(app=celery_app).setup_schedule()
    tasks_ = {t.name: t for t in PeriodicTask.objects.all()}
    assert {"reminders-sweep", "reminders-reconcile"} <= set(tasks_)
    assert tasks_["reminders-sweep"].interval.every == 60
    assert PeriodicTask.objects.filter(name="reminders-sweep").count() == 1
