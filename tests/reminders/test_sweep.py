"""The sweep as a whole: idempotent, late-proof, overlap-proof, self-monitoring."""

import datetime as dt
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection
from django.utils import timezone

from accounts.models import Role
from pumptrack.celery import app as celery_app
from refills.models import Appointment
from reminders.alerts import alert_escalate
from reminders.models import Alert, Notification, ReminderPlan, SweepHeartbeat
from reminders.plans import plans_due, plans_process
from reminders.selectors import sweep_is_stale
from reminders.sweep import sweep_run
from tests.factories import CaregiverFactory, PatientFactory, PumpFactory, staff
from tests.reminders.conftest import DAY, HOUR, LA, NY, book, fill, stages, sweep


def test_running_the_sweep_again_creates_nothing(filled_pump, nurse, clock):
    book(filled_pump, nurse, timezone.now() + 20 * DAY)
    clock.shift(6 * DAY)
    first = sweep()
    assert first.messages_created == 1
    keys = set(Notification.objects.values_list("key", flat=True))
    for _ in range(3):
        again = sweep()
        assert again.messages_created == 0
    assert set(Notification.objects.values_list("key", flat=True)) == keys


def test_two_sweeps_that_read_the_same_due_plans_create_each_message_once(clinic, nurse, clock):
    for _ in range(4):
        pump = fill(PumpFactory(patient=PatientFactory(clinic=clinic)), nurse)
        book(pump, nurse, timezone.now() + 20 * DAY)
    clock.shift(6 * DAY)
    now = timezone.now()
    # Both sweeps select before either writes (the overlap that matters).
    seen_by_a = list(plans_due(now=now, limit=100))
    seen_by_b = list(plans_due(now=now, limit=100))
    assert plans_process(seen_by_a, now=now) == 4
    assert plans_process(seen_by_b, now=now) == 0
    assert Notification.objects.filter(stage="reminder-14d").count() == 4


def test_two_sweeps_escalating_the_same_alert_send_one_notice(pump, nurse, clinic, clock):
    staff(clinic, Role.MANAGER)
    fill(pump, nurse, days_ago=80)
    clock.shift(31 * 60)
    critical = Alert.objects.get(kind="running-out")
    seen_by_b = Alert.objects.get(pk=critical.pk)  # read before sweep A moved the counter
    assert alert_escalate(critical, now=timezone.now())
    before = Notification.objects.filter(kind="staff-escalation").count()
    assert not alert_escalate(seen_by_b, now=timezone.now())
    assert Notification.objects.filter(kind="staff-escalation").count() == before == 1


@pytest.fixture
def catalogues():
    """Transactional tests may run after another one emptied the migrated catalogues."""
    from importlib import import_module

    from django.apps import apps

    for migration in (
        "patients.migrations.0002_pump_catalogue",
        "refills.migrations.0002_drug_catalogue",
    ):
        import_module(migration).load(apps, None)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_sweeps_in_threads_create_each_message_once_on_postgresql(
    catalogues, clinic, nurse, clock
):
    if connection.vendor != "postgresql":
        pytest.skip(
            "threads need a server database; on SQLite the integration tests run "
            "concurrent sweeps as processes"
        )
    for _ in range(20):
        pump = fill(PumpFactory(patient=PatientFactory(clinic=clinic)), nurse)
        book(pump, nurse, timezone.now() + 20 * DAY)
    clock.shift(6 * DAY)
    now = timezone.now()
    barrier = threading.Barrier(3)
    errors = []

    def run():
        try:
            barrier.wait()
            sweep_run(now=now, publish=lambda pk: None)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Notification.objects.filter(stage="reminder-14d").count() == 20


def test_a_caregiver_in_another_zone_is_held_until_their_morning(filled_pump, nurse, clock):
    CaregiverFactory(patient=filled_pump.patient, timezone="America/Los_Angeles")
    start = dt.datetime(2025, 6, 20, 9, 0, tzinfo=NY)  # 06:00 in Los Angeles
    book(filled_pump, nurse, start)
    clock.move_to(start - 14 * DAY)
    sweep()
    patient_row, carer_row = Notification.objects.filter(stage="reminder-14d").order_by("pk")
    assert patient_row.not_before == timezone.now()
    assert carer_row.not_before == dt.datetime(2025, 6, 6, 8, 0, tzinfo=LA)
    assert "Fri 20 Jun 2025 at 6:00 AM PDT" in carer_row.body
    assert "Fri 20 Jun 2025 at 9:00 AM EDT" in patient_row.body
    assert send(patient_row) == "sent"
    assert send(carer_row) == "not-yet"
    clock.move_to(dt.datetime(2025, 6, 6, 8, 0, tzinfo=LA))
    assert carer_row.pk in sweep().published
    assert send(carer_row) == "sent"


def send(row):
    from reminders.delivery import notification_send

    return notification_send(notification_id=row.pk).outcome


def test_plans_written_around_the_services_are_repaired_by_the_reconcile_sweep(
    filled_pump, nurse, clock
):
    appointment = book(filled_pump, nurse, timezone.now() + 20 * DAY)
    ReminderPlan.objects.all().delete()
    Appointment.objects.filter(pk=appointment.pk).update(
        scheduled_start=appointment.scheduled_start + DAY
    )
    clock.shift(7 * DAY)
    report = sweep(reconcile=True)
    assert report.plans_reconciled == 1
    assert stages() == ["booked", "reminder-14d"]


# --------------------------------------------------------------------------- the command


def test_the_sweep_command_prints_what_it_did(filled_pump, nurse, clock):
    book(filled_pump, nurse, timezone.now() + 20 * DAY)
    out = StringIO()
    call_command("sweep", "--send", stdout=out)
    text = out.getvalue()
    assert "messages created:" in text and "send tasks published:        1" in text
    assert Notification.objects.get().status == "sent"


# --------------------------------------------------------------------------- self-monitoring


def test_every_sweep_leaves_a_heartbeat_and_staleness_follows_two_intervals(db, clock):
    assert sweep_is_stale()  # never swept
    sweep()
    assert SweepHeartbeat.objects.count() == 1 and not sweep_is_stale()
    clock.shift(150)
    assert not sweep_is_stale()
    clock.shift(1)
    assert sweep_is_stale()


def test_managers_are_emailed_when_the_sweep_runs_again_after_being_stale(clinic, clock):
    manager = staff(clinic, Role.MANAGER)
    staff(clinic, Role.NURSE)
    sweep()
    clock.shift(HOUR)
    report = sweep()
    assert report.resumed_after_stale
    notice = Notification.objects.get(kind="sweep-resumed")
    assert notice.staff_user == manager and notice.channel == "email"
    assert "(60 minutes)" in notice.body
    clock.shift(60)
    assert not sweep().resumed_after_stale
    assert Notification.objects.filter(kind="sweep-resumed").count() == 1


def test_healthz_is_public_and_reports_each_part(client, db, clock):
    sweep()
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["broker"]["ok"] is True
    assert body["checks"]["sweep"]["age_seconds"] == 0


def test_healthz_answers_503_when_the_sweep_is_stale(client, db, clock):
    assert client.get("/healthz").status_code == 503  # no sweep yet
    sweep()
    clock.shift(10 * 60)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["sweep"]["ok"] is False


def test_healthz_answers_503_when_the_database_is_down(client, db, monkeypatch):
    def broken(*args, **kwargs):
        raise OperationalError("could not connect")

    with monkeypatch.context() as patched:
        patched.setattr(connection, "cursor", broken)
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {"ok": False, "error": "OperationalError"}


def test_healthz_reports_an_unreachable_broker(client, db, clock, monkeypatch):
    sweep()
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert response.json()["checks"]["broker"]["ok"] is False


def test_a_failing_step_does_not_count_as_a_healthy_sweep(db, clock, monkeypatch):
    sweep()
    clock.shift(200)
    monkeypatch.setattr("reminders.sweep.alerts_escalate_due", lambda **kw: 1 / 0)
    report = sweep()
    assert report.errors == ["escalate"] and report.dispatched == 0
    assert sweep_is_stale()  # the last complete sweep is 200 s old


def test_an_appointment_moved_around_the_services_is_treated_as_a_reschedule(
    filled_pump, nurse, clock
):
    appointment = book(filled_pump, nurse, timezone.now() + 20 * DAY)
    clock.shift(6 * DAY)
    # Moved in the admin or by an import: the plan still has the old time, and is due.
    Appointment.objects.filter(pk=appointment.pk).update(
        scheduled_start=appointment.scheduled_start + 2 * DAY
    )
    report = sweep()
    assert report.reminder_plans_due == 1  # looked at once, not again and again
    assert stages() == ["booked", "booked"]
    assert "Tue 24 Jun 2025" in Notification.objects.order_by("pk").last().body


def test_staff_read_every_message_of_a_patient_and_its_history_in_two_queries(
    filled_pump, nurse, django_assert_num_queries
):
    from reminders.selectors import notifications_for_patient

    CaregiverFactory(patient=filled_pump.patient)
    for days in (5, 9, 20):
        book(filled_pump, nurse, timezone.now() + days * DAY)
    # Two queries whatever the number of messages: the messages, then all their status
    # histories at once (issue 12: staff read each message's history).
    with django_assert_num_queries(2):
        listed = [
            (n.recipient_label, n.channel, n.status, n.attempts, n.suppressed_reason)
            + tuple(e.status for e in n.events.all())
            for n in notifications_for_patient(patient_id=filled_pump.patient_id)
        ]
    assert len(listed) == 6


def test_the_alert_queue_lists_the_most_severe_first_without_extra_queries(
    pump, nurse, clinic, django_assert_num_queries
):
    from reminders.selectors import alerts_unresolved

    fill(pump, nurse, days_ago=80)  # running out (the unbooked problem is part of it)
    # Another patient with nothing booked yet (issue 12 #6: one problem, one alert).
    fill(PumpFactory(patient=PatientFactory(clinic=clinic)), nurse, days_ago=68)
    with django_assert_num_queries(1):
        queue = [
            (a.kind, a.severity, a.patient.full_name)
            for a in alerts_unresolved(clinic_ids=[clinic.pk])
        ]
    assert [severity for _, severity, _ in queue] == sorted(
        (severity for _, severity, _ in queue), reverse=True
    )
    assert {kind for kind, _, _ in queue} >= {"running-out", "unbooked-refill"}
