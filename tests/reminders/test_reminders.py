"""Patient and caregiver reminders: stages, late bookings, downtime, reschedules, opt-out."""

import datetime as dt

import pytest
from django.utils import timezone

from patients.models import Channel
from refills import services
from refills.models import AppointmentStatus
from reminders.models import Alert, Notification, NotificationStatus, ReminderPlan
from reminders.services import sms_keyword_apply
from tests.factories import CaregiverFactory
from tests.reminders.conftest import (
    DAY,
    HOUR,
    NY,
    book,
    deliver_due,
    fill,
    rows,
    stages,
    sweep,
)


def sweep_and_send():
    report = sweep()
    deliver_due()
    return report


def test_booking_confirms_at_once_then_reminds_at_14_7_2_and_1_days(filled_pump, nurse, clock):
    start = timezone.now() + 20 * DAY
    appointment = book(filled_pump, nurse, start)
    assert stages() == ["booked"]  # written with the booking, sent by the next sweep
    for days in (14, 7, 2, 1):
        clock.move_to(start - days * DAY - HOUR)
        sweep_and_send()
        assert f"reminder-{days}d" not in stages()
        clock.move_to(start - days * DAY)
        sweep_and_send()
        sweep_and_send()  # a repeated sweep changes nothing
        assert stages().count(f"reminder-{days}d") == 1
    assert stages() == ["booked", "reminder-14d", "reminder-7d", "reminder-2d", "reminder-1d"]
    assert {n.status for n in rows()} == {NotificationStatus.SENT}
    assert all(n.appointment_id == appointment.pk for n in rows())


def test_a_late_booking_skips_the_offsets_that_passed_before_it(filled_pump, nurse, clock):
    start = timezone.now() + 10 * DAY
    book(filled_pump, nurse, start)
    for moment in (HOUR, 3 * DAY, 8 * DAY, 9 * DAY, 9 * DAY + 23 * HOUR):
        clock.move_to(dt.datetime(2025, 6, 2, 14, 0, tzinfo=dt.UTC) + moment)
        sweep_and_send()
    assert stages() == ["booked", "reminder-7d", "reminder-2d", "reminder-1d"]


def test_a_sweep_late_after_downtime_sends_only_the_latest_due_reminder(
    filled_pump, nurse, clock, pump
):
    caught_up = book(filled_pump, nurse, timezone.now() + 20 * DAY)
    deliver_due()
    # The sweep is down for 19 days and 2 hours: 14d, 7d, 2d and 1d all came due.
    clock.move_to(caught_up.scheduled_start - 22 * HOUR)
    report = sweep_and_send()
    assert report.reminder_plans_due == 1
    assert stages(appointment=caught_up) == ["booked", "reminder-1d"]
    clock.shift(HOUR)
    sweep_and_send()
    assert stages(appointment=caught_up) == ["booked", "reminder-1d"]


def test_several_appointments_each_get_their_own_latest_reminder_after_downtime(
    clinic, nurse, clock
):
    from tests.factories import PatientFactory, PumpFactory

    pumps = [fill(PumpFactory(patient=PatientFactory(clinic=clinic)), nurse) for _ in range(3)]
    far, middle, near = (
        book(pumps[0], nurse, timezone.now() + 20 * DAY),
        book(pumps[1], nurse, timezone.now() + 10 * DAY),
        book(pumps[2], nurse, timezone.now() + 5 * DAY),
    )
    deliver_due()
    clock.shift(4 * DAY + 2 * HOUR)  # nobody swept for four days
    sweep_and_send()
    assert stages(appointment=far) == ["booked"]  # its 14-day reminder is due at day 6
    assert stages(appointment=middle) == ["booked", "reminder-7d"]
    assert stages(appointment=near) == ["booked", "reminder-1d"]


def test_offsets_keep_the_wall_clock_time_across_a_daylight_saving_change(pump, nurse, clock):
    clock.move_to(dt.datetime(2025, 2, 20, 15, 0, tzinfo=dt.UTC))
    fill(pump, nurse)
    start = dt.datetime(2025, 3, 10, 9, 0, tzinfo=NY)  # the Monday after clocks go forward
    book(pump, nurse, start)
    # Seven days of 24 hours before would be 08:00 EST; the reminder keeps 09:00.
    clock.move_to(dt.datetime(2025, 3, 3, 8, 30, tzinfo=NY))
    sweep()
    assert "reminder-7d" not in stages()
    clock.move_to(dt.datetime(2025, 3, 3, 9, 0, tzinfo=NY))
    sweep()
    assert Notification.objects.get(stage="reminder-7d").created_at == dt.datetime(
        2025, 3, 3, 14, 0, tzinfo=dt.UTC
    )
    # The day before is Sunday 9 March, already EDT: 09:00 there is 13:00 UTC, not 14:00.
    clock.move_to(dt.datetime(2025, 3, 9, 12, 59, tzinfo=dt.UTC))
    sweep()
    assert "reminder-1d" not in stages()
    clock.move_to(dt.datetime(2025, 3, 9, 13, 0, tzinfo=dt.UTC))
    sweep()
    assert "reminder-1d" in stages()


def test_a_rescheduled_appointment_gets_a_new_confirmation_and_fresh_reminders(
    filled_pump, nurse, clock
):
    appointment = book(filled_pump, nurse, timezone.now() + 20 * DAY)
    deliver_due()
    clock.shift(13 * DAY)  # the 7-day reminder is created but not yet sent
    sweep()
    old = Notification.objects.get(stage="reminder-7d")
    new_start = timezone.now() + 15 * DAY
    services.appointment_reschedule(appointment=appointment, by=nurse, scheduled_start=new_start)
    old.refresh_from_db()
    assert old.status == NotificationStatus.CANCELLED
    assert old.suppressed_reason
    confirmations = rows(stage="booked")
    assert len(confirmations) == 2 and confirmations[1].status == NotificationStatus.PENDING
    assert "Mon 30 Jun 2025" in confirmations[1].body
    deliver_due()
    clock.move_to(new_start - 7 * DAY)
    sweep_and_send()
    sent_7d = rows(stage="reminder-7d", status=NotificationStatus.SENT)
    assert len(sent_7d) == 1 and "Mon 30 Jun 2025" in sent_7d[0].body


def test_a_cancelled_appointment_gets_no_more_reminders(filled_pump, nurse, clock):
    appointment = book(filled_pump, nurse, timezone.now() + 20 * DAY)
    clock.shift(6 * DAY)
    sweep()
    assert [n.status for n in rows()] == ["pending", "pending"]
    services.appointment_cancel(appointment=appointment, by=nurse, reason="Patient moved away")
    assert {n.status for n in rows()} == {NotificationStatus.CANCELLED}
    for _ in range(3):
        clock.shift(4 * DAY)
        sweep_and_send()
    assert len(rows()) == 2


def test_the_send_task_cancels_a_reminder_whose_appointment_moved_on(filled_pump, nurse, clock):
    appointment = book(filled_pump, nurse, timezone.now() + 20 * DAY)
    pending = Notification.objects.get()
    # Written around the services (an import): only the send-time check can notice.
    type(appointment).objects.filter(pk=appointment.pk).update(
        status=AppointmentStatus.CANCELLED, cancellation_reason="imported"
    )
    assert deliver_due() == ["cancelled"]
    pending.refresh_from_db()
    assert pending.suppressed_reason == "The appointment is cancelled"


def test_missed_appointment_message_and_alert_the_same_day_then_rebooking_clears_it(
    filled_pump, nurse, clock
):
    CaregiverFactory(patient=filled_pump.patient)
    start = dt.datetime(2025, 6, 3, 10, 0, tzinfo=NY)
    appointment = book(filled_pump, nurse, start)
    deliver_due()
    clock.move_to(start + 2 * HOUR - dt.timedelta(minutes=1))
    assert sweep().appointments_marked_missed == 0
    clock.move_to(start + 2 * HOUR)
    report = sweep()
    assert report.appointments_marked_missed == 1
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.MISSED
    missed = rows(stage="missed")
    assert [n.caregiver_id is not None for n in missed] == [False, True]
    assert "we missed you at" in missed[0].body
    assert f"we missed {filled_pump.patient.given_name} at" in missed[1].body
    assert "Tue 3 Jun 2025 at 10:00 AM EDT" in missed[0].body
    alert = Alert.objects.get(kind="missed-appointment")
    assert alert.state == "open" and alert.severity >= 3
    assert deliver_due() == ["sent", "sent"]
    sweep()
    assert len(rows(stage="missed")) == 2  # once
    services.appointment_reschedule(
        appointment=appointment, by=nurse, scheduled_start=timezone.now() + 2 * DAY
    )
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.resolved_by is None


def test_a_pending_missed_message_is_cancelled_when_the_patient_rebooks(filled_pump, nurse, clock):
    start = dt.datetime(2025, 6, 3, 10, 0, tzinfo=NY)
    appointment = book(filled_pump, nurse, start)
    deliver_due()
    clock.move_to(start + 2 * HOUR)
    sweep()
    services.appointment_reschedule(
        appointment=appointment, by=nurse, scheduled_start=timezone.now() + 2 * DAY
    )
    assert Notification.objects.get(stage="missed").status == NotificationStatus.CANCELLED


# --------------------------------------------------------------------------- channels and consent


def test_reminders_go_to_the_patient_and_caregivers_who_receive_them(filled_pump, nurse):
    CaregiverFactory(patient=filled_pump.patient, name="Grace Testcarer")
    CaregiverFactory(patient=filled_pump.patient, name="Ivy Otherkin", receives_reminders=False)
    book(filled_pump, nurse, timezone.now() + 5 * DAY)
    assert [n.recipient_label.split(":")[0] for n in rows()] == ["Patient", "Caregiver"]


def test_email_is_used_when_text_messages_are_not_consented(filled_pump, nurse):
    patient = filled_pump.patient
    patient.consent_sms = False
    patient.save()
    book(filled_pump, nurse, timezone.now() + 5 * DAY)
    row = Notification.objects.get()
    assert (row.channel, row.to_address) == (Channel.EMAIL, patient.email)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"preferred_channel": Channel.NONE}, "Prefers phone calls"),
        ({"consent_sms": False, "consent_email": False}, "No consent recorded for text messages"),
    ],
)
def test_a_recipient_without_a_usable_channel_gets_a_suppressed_row_staff_can_read(
    filled_pump, nurse, changes, reason
):
    for field, value in changes.items():
        setattr(filled_pump.patient, field, value)
    filled_pump.patient.save()
    book(filled_pump, nurse, timezone.now() + 5 * DAY)
    row = Notification.objects.get()
    assert row.status == NotificationStatus.SUPPRESSED
    assert row.suppressed_reason.startswith(reason)
    assert sweep().published == []


def test_stop_opts_out_everyone_with_that_number_and_pending_texts_are_not_sent(filled_pump, nurse):
    patient = filled_pump.patient
    carer = CaregiverFactory(patient=patient, phone=patient.phone)
    book(filled_pump, nurse, timezone.now() + 5 * DAY)
    assert sms_keyword_apply(phone=patient.phone, body="  stop ") == ("opt-out", 2)
    assert deliver_due() == ["suppressed", "suppressed"]
    for row in rows():
        assert row.suppressed_reason == "Opted out of text messages"
    patient.refresh_from_db()
    carer.refresh_from_db()
    assert not patient.consent_sms and not carer.consent_sms
    assert patient.history.first().consent_sms is False  # the change is in the record
    assert sms_keyword_apply(phone=patient.phone, body="START") == ("opt-in", 2)
    assert sms_keyword_apply(phone=patient.phone, body="Thanks, see you then") == ("", 0)


def test_unbooked_refill_nudges_the_patient_and_stops_once_booked(pump, nurse, clock):
    fill(pump, nurse, days_ago=60)
    refill_by = pump.forecast.refill_by
    assert 7 < (refill_by - timezone.localdate()).days <= 21
    nudge = Notification.objects.get(stage="unbooked-21d")
    assert f"before {refill_by:%a} {refill_by.day} {refill_by:%b %Y}" in nudge.body
    assert deliver_due() == ["sent"]
    sweep()
    clock.move_to(dt.datetime.combine(refill_by - 7 * DAY, dt.time(0, 1), tzinfo=NY))
    report = sweep()
    assert report.forecasts_reassessed >= 1  # the pump's nudge moment brought it back
    seven = Notification.objects.get(stage="unbooked-7d")
    assert seven.not_before == dt.datetime.combine(refill_by - 7 * DAY, dt.time(8), tzinfo=NY)
    book(pump, nurse, timezone.now() + 2 * DAY)
    clock.move_to(seven.not_before)
    deliver_due()
    seven.refresh_from_db()
    assert seven.status == NotificationStatus.CANCELLED
    assert seven.suppressed_reason == "A refill has been booked"


def test_a_nudge_for_a_pump_that_was_removed_is_withheld_with_that_reason(pump, nurse):
    from patients.services import _pump_explant as pump_explant

    fill(pump, nurse, days_ago=60)
    nudge = Notification.objects.get(stage="unbooked-21d")
    # Explanted by a path that leaves the outbox alone: delivery checks again.
    pump_explant(pump=pump, explanted_on=timezone.localdate() - DAY, reason="Infection")
    assert deliver_due() == ["cancelled"]
    nudge.refresh_from_db()
    assert nudge.suppressed_reason == "The patient has no active pump"


def test_the_plan_index_is_the_only_thing_the_sweep_reads_for_reminders(filled_pump, nurse):
    appointment = book(filled_pump, nurse, timezone.now() + 20 * DAY)
    plan = ReminderPlan.objects.get(appointment=appointment)
    assert plan.next_due_at == appointment.scheduled_start - 14 * DAY
