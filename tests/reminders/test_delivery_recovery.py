"""Recovering in seconds: the send lease, dead claimers, database errors, cron mode, beat."""

from __future__ import annotations

import datetime as dt
import http.server
import io
import json
import os
import socket
import subprocess
import threading
from unittest import mock

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from pumptrack.celery import app as celery_app
from reminders import tasks
from reminders.channels import LocmemSmsBackend, TransientSendError
from reminders.delivery import (
    _release_claim,
    claimer,
    claimer_is_dead,
    notification_send,
    this_host,
    with_database_retries,
)
from reminders.models import Notification, NotificationStatus, SweepHeartbeat
from reminders.sweep import ping_heartbeat_url, sweep_now_if_late
from tests.reminders.conftest import DAY, book, sweep

SECOND = dt.timedelta(seconds=1)


@pytest.fixture
def booked(filled_pump, nurse):
    """One pending SMS confirmation to the patient."""
    book(filled_pump, nurse, timezone.now() + 20 * DAY)
    return Notification.objects.get()


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def claimed(notification, *, by: str, seconds_ago: float = 1) -> None:
    Notification.objects.filter(pk=notification.pk).update(
        status=NotificationStatus.SENDING,
        attempts=1,
        claimed_at=timezone.now() - seconds_ago * SECOND,
        claimed_by=by,
    )


# --------------------------------------------------------------------------- the lease


def test_the_stuck_send_lease_is_derived_from_the_send_timeout():
    reminders = django_settings.REMINDERS
    assert reminders["STUCK_SENDING_SECONDS"] == (
        2 * reminders["SEND_TIMEOUT_SECONDS"] + reminders["STUCK_MARGIN_SECONDS"]
    )
    assert reminders["STUCK_SENDING_SECONDS"] <= 60
    # A send task is killed (hard limit) before its lease runs out.
    assert reminders["STUCK_SENDING_SECONDS"] > django_settings.CELERY_TASK_TIME_LIMIT


def test_a_send_whose_lease_ran_out_is_recovered_by_the_next_sweep(booked):
    claimed(booked, by="elsewhere:1", seconds_ago=56)
    assert sweep().sends_recovered == 1
    booked.refresh_from_db()
    assert booked.status == NotificationStatus.PENDING and booked.needs_lookup


def test_a_claim_records_the_host_and_process(booked):
    assert notification_send(notification_id=booked.pk).outcome == "sent"
    booked.refresh_from_db()
    assert booked.claimed_by == claimer() == f"{this_host()}:{os.getpid()}"


# --------------------------------------------------------------------------- dead claimers


def test_a_dead_claimer_on_this_host_is_known_at_once():
    here = this_host()
    assert claimer_is_dead(f"{here}:{dead_pid()}")
    assert not claimer_is_dead(claimer())  # this process
    assert not claimer_is_dead(f"{here}:1")  # alive (init)
    assert not claimer_is_dead(f"another-host:{dead_pid()}")  # cannot tell: the lease decides
    assert not claimer_is_dead("")
    # Same host name, another pid namespace (another container): cannot tell either.
    assert not claimer_is_dead(f"{socket.gethostname()}/1:{dead_pid()}")


def test_the_sweep_recovers_a_dead_workers_send_without_waiting_for_the_lease(booked):
    claimed(booked, by=f"{this_host()}:{dead_pid()}", seconds_ago=1)
    assert sweep().sends_recovered == 1
    booked.refresh_from_db()
    assert booked.status == NotificationStatus.PENDING and booked.needs_lookup


def test_a_live_or_remote_claim_within_its_lease_is_left_alone(booked, filled_pump, nurse):
    claimed(booked, by="another-host:4242", seconds_ago=1)
    assert sweep().sends_recovered == 0
    claimed(booked, by=f"{this_host()}:1", seconds_ago=1)
    assert sweep().sends_recovered == 0


def test_a_task_redelivered_after_its_worker_died_frees_the_claim_and_sends_once(
    booked, sms_outbox
):
    claimed(booked, by=f"{this_host()}:{dead_pid()}", seconds_ago=1)
    assert notification_send(notification_id=booked.pk).outcome == "sent"
    booked.refresh_from_db()
    assert booked.status == NotificationStatus.SENT and booked.attempts == 2
    assert len(sms_outbox) == 1


def test_a_worker_start_frees_the_claims_of_its_dead_predecessor(booked):
    claimed(booked, by=f"{this_host()}:{dead_pid()}", seconds_ago=1)
    tasks.recover_after_restart()
    booked.refresh_from_db()
    assert booked.status == NotificationStatus.PENDING


class RecoveredDuringTheSend(LocmemSmsBackend):
    """The provider call outlives the lease: the sweep takes the row back meanwhile."""

    reclaim = False

    def send(self, message, *, timeout):
        row = Notification.objects.get(reference=message.reference)
        _release_claim(row.pk, row.claimed_at, now=timezone.now())
        if type(self).reclaim:  # ... and another worker claims it again
            Notification.objects.filter(pk=row.pk).update(
                status=NotificationStatus.SENDING,
                claimed_at=timezone.now() + SECOND,
                claimed_by="other:1",
            )
        return super().send(message, timeout=timeout)


@pytest.mark.parametrize("reclaim", [False, True])
def test_a_late_outcome_is_recorded_only_while_the_claim_is_ours(booked, settings, reclaim):
    settings.REMINDERS = {
        **settings.REMINDERS,
        "SMS_BACKEND": "tests.reminders.test_delivery_recovery.RecoveredDuringTheSend",
    }
    RecoveredDuringTheSend.reclaim = reclaim
    assert notification_send(notification_id=booked.pk).outcome == "sent"
    booked.refresh_from_db()
    if reclaim:
        # The other worker owns the row now; it looks the message up before sending.
        assert booked.status == NotificationStatus.SENDING and booked.claimed_by == "other:1"
    else:
        # Nobody claimed it again: what this worker knows (sent) is the truth.
        assert booked.status == NotificationStatus.SENT and not booked.needs_lookup


# --------------------------------------------------------------------------- database errors


def test_the_send_task_retries_database_errors_with_a_short_bounded_backoff():
    task = tasks.send_notification
    assert set(task.autoretry_for) == {OperationalError, InterfaceError}
    assert task.retry_backoff and task.retry_backoff_max <= 30 and task.max_retries <= 10


def test_a_database_error_before_the_claim_is_retried_and_sends_once(booked, sms_outbox):
    real = notification_send
    calls = []

    def flaky(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    with mock.patch.object(tasks, "notification_send", side_effect=flaky):
        result = tasks.send_notification.apply(args=[booked.pk])
    assert result.get() == "sent" and len(calls) == 2
    assert len(sms_outbox) == 1


def test_recording_a_send_rides_out_a_short_database_outage():
    calls = []

    def record():
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("the database system is starting up")
        return "recorded"

    with mock.patch("reminders.delivery.time.sleep") as sleep:
        assert with_database_retries(record, what="test") == "recorded"
    assert [c.args[0] for c in sleep.call_args_list] == [0.5, 1.0]


# --------------------------------------------------------------------------- cron mode


class FailsOnce(LocmemSmsBackend):
    failed = False

    def send(self, message, *, timeout):
        if not FailsOnce.failed:
            FailsOnce.failed = True
            raise TransientSendError("twilio-503")
        return super().send(message, timeout=timeout)


def test_cron_mode_retries_in_the_next_run_and_publishes_nothing(
    booked, settings, sms_outbox, clock
):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"  # nobody there
    settings.REMINDERS = {
        **settings.REMINDERS,
        "SMS_BACKEND": "tests.reminders.test_delivery_recovery.FailsOnce",
    }
    FailsOnce.failed = False
    with mock.patch.object(
        tasks.send_notification, "apply_async", side_effect=AssertionError("published")
    ) as apply_async:
        call_command("sweep", "--send", stdout=io.StringIO())
        booked.refresh_from_db()
        assert booked.status == NotificationStatus.PENDING and booked.attempts == 1
        assert booked.not_before > timezone.now() and sms_outbox == []
        # Before the backoff has passed the next run leaves it; after, it sends it.
        call_command("sweep", "--send", stdout=io.StringIO())
        assert Notification.objects.get().attempts == 1
        clock.shift(60)
        call_command("sweep", "--send", stdout=io.StringIO())
    booked.refresh_from_db()
    assert booked.status == NotificationStatus.SENT and booked.attempts == 2
    assert len(sms_outbox) == 1
    apply_async.assert_not_called()


# --------------------------------------------------------------------------- heartbeat ping


@pytest.fixture
def listener():
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            hits.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/ping/abc", hits
    server.shutdown()


def test_each_complete_sweep_pings_the_heartbeat_url_with_counts_only(db, settings, listener):
    url, hits = listener
    settings.REMINDERS = {**settings.REMINDERS, "HEARTBEAT_URL": url}
    assert sweep().ok
    assert len(hits) == 1 and set(json.loads(hits[0])) == {
        "created",
        "published",
        "recovered",
    }


def test_a_failing_heartbeat_url_never_breaks_the_sweep(db, settings, caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.REMINDERS = {
        **settings.REMINDERS,
        "HEARTBEAT_URL": f"http://127.0.0.1:{port}/nobody",
        "HEARTBEAT_TIMEOUT_SECONDS": 1,
    }
    report = sweep()
    assert report.ok and SweepHeartbeat.objects.count() == 1
    assert "heartbeat ping failed" in caplog.text


def test_an_incomplete_sweep_does_not_ping(db, settings, listener):
    """Like /healthz, the dead-man's switch counts only sweeps that did all their work."""
    url, hits = listener
    settings.REMINDERS = {**settings.REMINDERS, "HEARTBEAT_URL": url}
    with mock.patch("reminders.sweep._SweepRun.dispatch", side_effect=RuntimeError):
        report = sweep()
    assert report.errors == ["dispatch"] and hits == []


def test_no_url_no_ping(db, settings):
    settings.REMINDERS = {**settings.REMINDERS, "HEARTBEAT_URL": ""}
    assert ping_heartbeat_url(sweep()) is False


# --------------------------------------------------------------------------- beat and queues


def test_beat_starting_after_an_outage_runs_a_sweep_at_once(db):
    now = timezone.now()
    published = []
    assert sweep_now_if_late(now=now, publish_sweep=lambda: published.append(1))  # never swept
    SweepHeartbeat.objects.create(started_at=now - 2 * SECOND, finished_at=now - SECOND)
    assert not sweep_now_if_late(now=now, publish_sweep=lambda: published.append(1))
    assert sweep_now_if_late(now=now + 11 * 60 * SECOND, publish_sweep=lambda: published.append(1))
    assert len(published) == 2


def test_the_sweep_has_its_own_queue():
    router = celery_app.amqp.router
    assert router.route({}, "reminders.tasks.sweep")["queue"].name == "sweep"
    assert router.route({}, "reminders.tasks.reconcile")["queue"].name == "sweep"
    assert router.route({}, "reminders.tasks.send_notification")["queue"].name == "celery"
    assert tasks.sweep.time_limit == django_settings.CELERY_SWEEP_TIME_LIMIT


def test_the_sweeps_expiry_is_stored_where_the_database_scheduler_reads_it(db):
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import ModelEntry

    entry = ModelEntry.from_entry(
        "reminders-sweep", app=celery_app, **django_settings.CELERY_BEAT_SCHEDULE["reminders-sweep"]
    )
    stored = PeriodicTask.objects.get(name="reminders-sweep")
    assert stored.expire_seconds == 60
    assert entry.options["expires"] == 60
