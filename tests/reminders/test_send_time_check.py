"""A queued message is checked again when it is sent: never a stale or past date.

Regression tests for issue 8 class 6 (each fails on 0e952a9), then the property:
for any sequence of bookings, reschedules, cancellations, refills, time passing,
sweeps and sends, no message leaves the outbox naming a date that is past at
send time or that differs from the forecast or appointment it speaks of.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Role
from patients.models import Channel
from refills import services
from refills.models import Appointment, AppointmentStatus, PumpForecast
from refills.services import ClinicalValidationError
from reminders.delivery import notification_send
from reminders.messages import format_date
from reminders.models import Notification, NotificationKind, NotificationStatus
from reminders.sweep import sweep_run
from tests.conftest import program_input, refill_input
from tests.factories import ClinicFactory, PatientFactory, PumpFactory, staff
from tests.reminders.conftest import DAY, NY, book, deliver_due, fill, rows, sweep
from tests.reminders.dates import dates_in, past_dates, recipient_zone

pytestmark = pytest.mark.django_db

CLINIC_PHONE = "+1 617-555-0100"
SENT = (NotificationStatus.SENT, NotificationStatus.DELIVERED)


def sent_bodies(sms_outbox) -> list[str]:
    return [message["body"] for message in sms_outbox]


def refill_now(pump, by, **kwargs):
    """Refill now, aspirating the expected residual (no discrepancy)."""
    from decimal import Decimal

    from refills.forecast import expected_residual_ml
    from refills.selectors import current_fill

    now = timezone.now() - dt.timedelta(minutes=1)
    current, _ = current_fill(pump=pump, at=now)
    residual = max(expected_residual_ml(current, now), Decimal(0)).quantize(Decimal("0.1"))
    return services.refill_record(
        pump=pump,
        by=by,
        data=refill_input(performed_at=now, residual=residual, added="20"),
        **kwargs,
    )


# --------------------------------------------------------------------------- regressions


@pytest.mark.parametrize("sync_runs", [True, False], ids=["hook-runs", "send-time-only"])
def test_a_queued_nudge_is_withdrawn_after_a_refill(pump, nurse, clock, sms_outbox, sync_runs):
    fill(pump, nurse, days_ago=60)
    nudge = Notification.objects.get(stage="unbooked-21d")
    old_refill_by = pump.forecast.refill_by
    clock.shift(dt.timedelta(hours=1))
    if sync_runs:
        refill_now(pump, nurse)
    else:
        # A refill whose review did not reach the outbox (a crash, a back-entry): the
        # send-time check alone must catch it.
        from reminders.hooks import patient_messages_paused

        with patient_messages_paused():
            refill_now(pump, nurse)
    assert PumpForecast.objects.get(pump=pump).refill_by > old_refill_by

    deliver_due()

    nudge.refresh_from_db()
    assert nudge.status == NotificationStatus.CANCELLED
    assert nudge.suppressed_reason in (
        "A refill was recorded after this was written",
        "The refill-by date changed before this was sent",
    )
    assert not [body for body in sent_bodies(sms_outbox) if format_date(old_refill_by) in body]


def test_a_nudge_held_past_the_refill_by_date_becomes_call_today(pump, nurse, clock, sms_outbox):
    fill(pump, nurse, days_ago=60)
    nudge = Notification.objects.get(stage="unbooked-21d")
    refill_by = pump.forecast.refill_by
    # The sweep was down; the queued row is sent the morning after the refill-by date.
    clock.move_to(dt.datetime.combine(refill_by + DAY, dt.time(10), tzinfo=NY))

    deliver_due()

    nudge.refresh_from_db()
    assert nudge.status == NotificationStatus.CANCELLED
    assert "call-today" in nudge.suppressed_reason
    call = Notification.objects.get(kind=NotificationKind.OVERDUE_CALL)
    assert call.status == NotificationStatus.SENT
    assert sent_bodies(sms_outbox) == [call.body]
    assert "today" in call.body and CLINIC_PHONE in call.body
    assert dates_in(call.body) == []


def test_an_overdue_patient_is_asked_to_call_today_not_to_book_by_a_date(pump, nurse, sms_outbox):
    fill(pump, nurse, days_ago=80)
    forecast = PumpForecast.objects.get(pump=pump)
    assert forecast.refill_by < timezone.localdate()  # overdue, nothing booked

    assert deliver_due() == ["sent"]

    (message,) = rows(status=NotificationStatus.SENT)
    assert message.kind == NotificationKind.OVERDUE_CALL
    assert "today" in message.body and CLINIC_PHONE in message.body
    assert "before" not in message.body and dates_in(message.body) == []
    # The safety net a clinician asked for: after hours, and the emergency route.
    assert "after hours" in message.body and "emergency department" in message.body
    assert sent_bodies(sms_outbox) == [message.body]


def test_a_back_dated_older_refill_does_not_withdraw_call_today(pump, nurse, clock, sms_outbox):
    """An older refill entered late (from the paper chart) moves no date: the overdue
    patient must still be asked to call today. It used to withdraw the message with
    "A refill was recorded after this was written"."""
    fill(pump, nurse, days_ago=200)
    recent = timezone.now() - dt.timedelta(days=80)
    services.refill_record(
        pump=pump, by=nurse, data=refill_input(performed_at=recent, residual="0", added="20")
    )
    forecast = PumpForecast.objects.get(pump=pump)
    assert forecast.refill_by < timezone.localdate()
    (call,) = rows(kind=NotificationKind.OVERDUE_CALL, status=NotificationStatus.PENDING)

    clock.shift(dt.timedelta(minutes=10))
    older = timezone.now() - dt.timedelta(days=140)
    services.refill_record(
        pump=pump, by=nurse, data=refill_input(performed_at=older, residual="8", added="12")
    )
    assert PumpForecast.objects.get(pump=pump).refill_by == forecast.refill_by

    deliver_due()

    call.refresh_from_db()
    assert call.status in SENT, call.suppressed_reason
    assert call.body in sent_bodies(sms_outbox)


def test_a_moved_refill_by_date_is_rendered_again_and_the_change_recorded(pump, nurse):
    from reminders.hooks import patient_messages_paused

    fill(pump, nurse, days_ago=60)
    nudge = Notification.objects.get(stage="unbooked-21d")
    first = nudge.body
    with patient_messages_paused():  # a dose increase whose review did not reach the outbox
        services.program_start(
            pump=pump, by=nurse, program=program_input(440, 2000), effective_from=timezone.now()
        )
    refill_by = PumpForecast.objects.get(pump=pump).refill_by
    assert format_date(refill_by) not in first

    assert deliver_due() == ["sent"]

    nudge.refresh_from_db()
    assert dates_in(nudge.body) == [refill_by]
    assert nudge.original_body == first
    assert nudge.revised_at == timezone.now()
    assert "refill-by date moved" in nudge.revision_note


def test_tomorrow_becomes_today_when_a_reminder_is_held_overnight(pump, nurse, clock, sms_outbox):
    fill(pump, nurse, days_ago=10)
    appointment = book(pump, nurse, dt.datetime(2025, 6, 10, 9, 30, tzinfo=NY))
    clock.move_to(dt.datetime(2025, 6, 9, 9, 30, tzinfo=NY))
    sweep()
    reminder = Notification.objects.get(stage="reminder-1d")
    assert "tomorrow" in reminder.body
    clock.move_to(dt.datetime(2025, 6, 10, 8, 0, tzinfo=NY))  # sent on the day itself

    deliver_due()

    reminder.refresh_from_db()
    assert reminder.status == NotificationStatus.SENT
    assert "today" in reminder.body and "tomorrow" not in reminder.body
    assert reminder.original_body and "tomorrow" in reminder.original_body
    assert reminder.body in sent_bodies(sms_outbox)
    assert appointment.pk == reminder.appointment_id


def test_staff_read_the_exact_text_on_the_patient_and_messages_pages(as_user, nurse, patient):
    body = "Hi Zebedee, a reminder from the clinic: exact text 4711."
    note = Notification.objects.create(
        key="test:exact-text",
        kind="appointment-reminder",
        clinic=patient.clinic,
        patient=patient,
        channel=Channel.SMS,
        body=body,
        original_body="Hi Zebedee, first words 0815.",
        revised_at=timezone.now(),
        revision_note="Rewritten at send time to match the current dates",
        status=NotificationStatus.SENT,
    )
    client = as_user(nurse)
    for url in (reverse("reminders:messages"), reverse("dashboard:patient", args=[patient.pk])):
        html = client.get(url).content.decode()
        assert body in html, url
        assert "first words 0815" in html and "Rewritten at send time" in html
    # Scoped: a nurse of another clinic sees neither page's text.
    other = staff(ClinicFactory(), Role.NURSE)
    client = as_user(other)
    assert body not in client.get(reverse("reminders:messages")).content.decode()
    assert client.get(reverse("dashboard:patient", args=[patient.pk])).status_code == 404
    assert note.pk


# --------------------------------------------------------------------------- the property


def _check_sent(notification: Notification, now: dt.datetime) -> None:
    """What left the outbox names no past date and agrees with the stored record."""
    assert past_dates(notification, now) == [], notification.body
    dates = dates_in(notification.subject + "\n" + notification.body)
    if notification.kind == NotificationKind.UNBOOKED_NUDGE:
        forecast = PumpForecast.objects.get(pump__patient=notification.patient_id)
        assert dates == [forecast.refill_by]
        assert forecast.next_refill_appointment_id is None
    elif notification.kind == NotificationKind.OVERDUE_CALL:
        forecast = PumpForecast.objects.get(pump__patient=notification.patient_id)
        assert dates == [] and forecast.next_refill_appointment_id is None
        assert (
            forecast.refill_by
            <= max(
                now.astimezone(recipient_zone(notification)).date(),
                now.astimezone(notification.clinic.tz).date(),
            )
            or forecast.conservative_alarm_at <= now
        )
    elif notification.kind in (
        NotificationKind.BOOKING_CONFIRMATION,
        NotificationKind.APPOINTMENT_REMINDER,
    ):
        appointment = Appointment.objects.get(pk=notification.appointment_id)
        assert appointment.status == AppointmentStatus.SCHEDULED
        assert appointment.scheduled_start > now
        local = appointment.scheduled_start.astimezone(recipient_zone(notification))
        assert set(dates) == {local.date()}
        days = (local.date() - now.astimezone(recipient_zone(notification)).date()).days
        expected = "today" if days <= 0 else "tomorrow" if days == 1 else f"in {days} days"
        if notification.kind == NotificationKind.APPOINTMENT_REMINDER:
            assert expected in notification.body


STEPS = st.one_of(
    st.tuples(st.just("book"), st.integers(1, 40), st.integers(8, 16)),
    st.tuples(st.just("reschedule"), st.integers(1, 40), st.integers(8, 16)),
    st.tuples(st.just("cancel")),
    st.tuples(st.just("refill")),
    st.tuples(st.just("dose"), st.sampled_from([360, 440, 480])),
    st.tuples(st.just("wait"), st.integers(1, 24 * 12)),
    st.tuples(st.just("sweep")),
    st.tuples(st.just("send")),
)


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    start_days_ago=st.integers(30, 85),
    zone=st.sampled_from(["America/New_York", "Europe/London", "Australia/Sydney"]),
    steps=st.lists(STEPS, min_size=1, max_size=8),
)
def test_no_message_leaves_the_outbox_stale(db, start_days_ago, zone, steps):
    start = dt.datetime(2025, 3, 20, 15, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False) as clock, transaction.atomic():
        clinic = ClinicFactory(timezone=zone)
        nurse = staff(clinic, Role.NURSE)
        physician = staff(clinic, Role.PHYSICIAN)
        patient = PatientFactory(clinic=clinic)
        pump = PumpFactory(patient=patient, implanted_on=dt.date(2024, 1, 10))
        fill(pump, nurse, days_ago=start_days_ago)

        def send_all() -> None:
            now = timezone.now()
            before = set(Notification.objects.filter(status__in=SENT).values_list("pk", flat=True))
            for pk in Notification.objects.filter(
                status=NotificationStatus.PENDING, not_before__lte=now
            ).values_list("pk", flat=True):
                notification_send(notification_id=pk, now=now)
            for notification in Notification.objects.filter(status__in=SENT).exclude(pk__in=before):
                _check_sent(notification, now)

        for step in steps:
            clock.shift(dt.timedelta(minutes=7))  # one program or refill per pump and instant
            now = timezone.now()
            scheduled = Appointment.objects.filter(
                pump=pump, status=AppointmentStatus.SCHEDULED
            ).first()
            try:
                if step[0] in ("book", "reschedule"):
                    local = (now + step[1] * DAY).astimezone(ZoneInfo(zone))
                    at = local.replace(hour=step[2], minute=0, second=0, microsecond=0)
                    if step[0] == "book" and scheduled is None:
                        services.appointment_book(
                            pump=pump, by=physician, scheduled_start=at, override_reason="test"
                        )
                    elif step[0] == "reschedule" and scheduled is not None:
                        services.appointment_reschedule(
                            appointment=scheduled,
                            by=physician,
                            scheduled_start=at,
                            override_reason="test",
                        )
                elif step[0] == "cancel" and scheduled is not None:
                    services.appointment_cancel(appointment=scheduled, by=nurse, reason="test")
                elif step[0] == "refill":
                    refill_now(pump, physician, appointment=scheduled, override_reason="test")
                elif step[0] == "dose":
                    services.program_start(
                        pump=pump,
                        by=physician,
                        program=program_input(step[1], 2000),
                        effective_from=now,
                        reason="test",
                    )
                elif step[0] == "wait":
                    clock.shift(dt.timedelta(hours=step[1]))
                elif step[0] == "sweep":
                    sweep_run(now=now, publish=lambda pk: None)
                elif step[0] == "send":
                    send_all()
            except ClinicalValidationError:
                pass  # refused input writes nothing; the history goes on
        sweep_run(now=timezone.now(), publish=lambda pk: None)
        send_all()
        transaction.set_rollback(True)
