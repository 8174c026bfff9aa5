"""Staff alerts: each rule raises, de-duplicates and clears; escalation until acknowledged."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Membership, Role
from patients import services as patient_services
from refills import services
from refills.models import ReportKind
from reminders.alerts.actions import alert_acknowledge, alert_assign, alert_resolve
from reminders.alerts.rules import start_of_day
from reminders.models import Alert, Notification
from tests.conftest import refill_input
from tests.factories import ClinicFactory, PatientFactory, PumpFactory, pump_model, staff
from tests.reminders.conftest import DAY, NY, book, fill, local, sweep


def alerts(pump, **filters):
    return list(Alert.objects.filter(pump=pump, **filters).order_by("raised_at", "pk"))


def alert(pump, kind):
    return Alert.objects.filter(pump=pump, kind=kind).exclude(state="resolved").first()


# --------------------------------------------------------------------------- the rules


def test_unbooked_refill_alert_opens_at_the_work_queue_point_and_clears_when_booked(
    pump, nurse, clock
):
    """Domain §8: the work-queue alert opens with the conservative alarm 21 days away and
    nothing booked (or sooner: the refill-by date 21 days away); HIGH at 14 days.
    On the base it opened only 14 days before the refill-by date (17 to the alarm)."""
    fill(pump, nurse, days_ago=40)
    refill_by = pump.forecast.refill_by
    alarm = pump.forecast.conservative_alarm_at
    opens = min(start_of_day(refill_by - 21 * DAY, NY), alarm - 21 * DAY)
    assert opens > timezone.now()
    assert alert(pump, "unbooked-refill") is None
    assert pump.forecast.reassess_at == opens
    clock.move_to(opens - dt.timedelta(minutes=1))
    sweep()
    assert alert(pump, "unbooked-refill") is None
    clock.move_to(opens)
    assert sweep().forecasts_reassessed == 1
    raised = alert(pump, "unbooked-refill")
    assert raised is not None and raised.state == "open"
    assert raised.severity == 2 == pump.forecast.__class__.objects.get(pump=pump).risk_tier
    assert "No refill appointment is booked before the refill-by date" in raised.reasons[0]
    # HIGH, and escalated, once the conservative alarm is 14 days away: the tier's rule.
    clock.move_to(alarm - 14 * DAY)
    sweep()
    raised.refresh_from_db()
    assert raised.severity == 3 and raised.next_escalation_at is not None
    book(pump, nurse, timezone.now() + 3 * DAY)
    raised.refresh_from_db()
    assert raised.state == "resolved" and raised.resolved_by is None
    assert "automatically" in raised.resolution_note


def test_the_work_queue_alert_is_open_21_days_before_the_alarm_without_a_risk_factor(
    pump, nurse, clock
):
    """Regression (issue 8 #7): 18 days to the conservative alarm, nothing booked, no
    label risk factor: the base had no alert until 17 days before the alarm."""
    fill(pump, nurse, days_ago=1)
    alarm = pump.forecast.conservative_alarm_at
    clock.move_to(alarm - 18 * DAY)
    sweep()
    raised = alert(pump, "unbooked-refill")
    assert raised is not None and raised.state == "open"
    assert raised.severity == pump.forecast.__class__.objects.get(pump=pump).risk_tier


def test_a_label_risk_factor_widens_the_unbooked_window_to_21_days(clinic, nurse, clock):
    patient = PatientFactory(clinic=clinic, sci_t6_or_above=True)
    pump = fill(PumpFactory(patient=patient), nurse, days_ago=50)
    days_left = (pump.forecast.refill_by - timezone.localdate()).days
    assert 14 < days_left <= 21
    raised = alert(pump, "unbooked-refill")
    assert raised is not None and raised.severity == 2  # the work queue
    # The tier's HIGH rule for a label risk factor: the conservative alarm 21 days away.
    clock.move_to(pump.forecast.conservative_alarm_at - 21 * DAY)
    sweep()
    raised.refresh_from_db()
    assert raised.severity == 3
    assert raised.reasons[-1] == "Label risk factor: Spinal cord injury at T6 or above"


def test_a_booking_after_refill_by_does_not_clear_the_unbooked_alert(pump, nurse, physician):
    fill(pump, nurse, days_ago=70)
    late = timezone.now() + 30 * DAY
    book(pump, physician, late)
    raised = alert(pump, "unbooked-refill")
    assert raised is not None and "is after the refill-by date" in raised.reasons[0]


def test_running_out_is_critical_three_days_before_the_conservative_alarm(pump, nurse, clock):
    fill(pump, nurse, days_ago=70)
    conservative = pump.forecast.conservative_alarm_at
    opens = conservative - 3 * DAY
    assert alert(pump, "running-out") is None
    clock.move_to(opens - dt.timedelta(seconds=1))
    sweep()
    assert alert(pump, "running-out") is None
    clock.move_to(opens)
    sweep()
    raised = alert(pump, "running-out")
    assert raised.severity == 4
    assert raised.reasons[0].startswith("The conservative alarm date is")


def _alarm_in_under_three_days(pump, nurse):
    """Filled so that the conservative alarm is on the day after tomorrow's next day, at
    about 05:00, less than 72 hours from now (Mon 10:00): the refill-by date is today."""
    fill(pump, nurse, days_ago=75.47)
    forecast = pump.forecast
    alarm = forecast.conservative_alarm_at
    today = timezone.localdate(timezone=NY)
    assert alarm - timezone.now() < 3 * DAY
    assert alarm.astimezone(NY).date() == today + 3 * DAY
    assert forecast.refill_by == today
    return alarm


def test_a_refill_booked_before_the_conservative_alarm_holds_the_running_out_alert(
    pump, nurse, physician, clock
):
    """Regression (clinician review): booked today at 16:00, on the latest safe date and
    3 days before the conservative alarm, the tier is LOW; the base also opened a CRITICAL
    "running out" alert that went to the managers in 30 minutes. One rule now: no
    running-out alert while a refill is booked before the conservative alarm."""
    _alarm_in_under_three_days(pump, nurse)
    assert alert(pump, "running-out") is not None  # nothing booked: raised
    today = timezone.localdate(timezone=NY)
    appointment = book(pump, physician, local(today.year, today.month, today.day, 16))
    pump.refresh_from_db()
    assert pump.forecast.risk_tier == 1
    assert alert(pump, "running-out") is None
    assert not Alert.objects.filter(pump=pump, severity=4).exclude(state="resolved").exists()
    # Missed (the sweep marks it two hours after its start): the alert is back, and HIGH.
    clock.move_to(appointment.scheduled_start + dt.timedelta(hours=2, minutes=1))
    sweep()
    pump.refresh_from_db()
    assert alert(pump, "running-out") is not None
    assert pump.forecast.risk_tier >= 3


def test_a_cancelled_refill_brings_the_running_out_alert_back(pump, nurse, physician):
    _alarm_in_under_three_days(pump, nurse)
    today = timezone.localdate(timezone=NY)
    appointment = book(pump, physician, local(today.year, today.month, today.day, 16))
    assert alert(pump, "running-out") is None
    services.appointment_cancel(appointment=appointment, by=nurse, reason="Patient unwell")
    assert alert(pump, "running-out") is not None


def test_a_refill_booked_after_the_conservative_alarm_keeps_the_running_out_alert(
    pump, nurse, physician
):
    alarm = _alarm_in_under_three_days(pump, nurse)
    book(pump, physician, alarm + dt.timedelta(hours=3))
    assert alert(pump, "running-out") is not None


def test_at_the_conservative_alarm_the_running_out_alert_opens_whatever_is_booked(
    pump, nurse, physician, clock
):
    alarm = _alarm_in_under_three_days(pump, nurse)
    book(pump, physician, alarm - dt.timedelta(hours=1))
    assert alert(pump, "running-out") is None
    # The moment of the alarm is a reassess point: the sweep comes back exactly then.
    assert pump.__class__.objects.get(pk=pump.pk).forecast.reassess_at <= alarm
    clock.move_to(alarm)
    services.forecast_refresh(pump=pump)
    pump.refresh_from_db()
    assert pump.forecast.risk_tier == 4
    assert alert(pump, "running-out") is not None


def test_an_empty_date_in_the_past_is_critical(pump, nurse):
    fill(pump, nurse, days_ago=130)
    raised = alert(pump, "running-out")
    assert raised.severity == 4
    assert any("The projected empty date has passed" in r for r in raised.reasons)


def test_a_refill_clears_the_running_out_alert(pump, nurse, clock):
    fill(pump, nurse, days_ago=80)
    assert alert(pump, "running-out") is not None
    services.refill_record(
        pump=pump,
        by=nurse,
        data=refill_input(
            performed_at=timezone.now() - dt.timedelta(minutes=1),
            residual="2.5",
            added="20",
            discrepancy_assessment="Within the expected range for this pump",
            discrepancy_action="observe",
        ),
    )
    assert alert(pump, "running-out") is None
    assert alert(pump, "unbooked-refill") is None


def flagged_refill(pump, nurse):
    """Second fill 60 days after the first: 8.0 mL expected, 10.5 mL found (+2.5 mL)."""
    fill(pump, nurse, days_ago=60)
    return services.refill_record(
        pump=pump,
        by=nurse,
        data=refill_input(
            performed_at=timezone.now() - dt.timedelta(minutes=1),
            residual="10.5",
            added="20",
            discrepancy_assessment="Catheter work-up ordered",
            discrepancy_action="workup",
        ),
    )


def test_a_discrepancy_at_the_last_refill_raises_an_alert_staff_must_resolve(
    pump, nurse, physician, clock
):
    refill = flagged_refill(pump, nurse)
    assert refill.discrepancy_flagged
    raised = alert(pump, "discrepancy")
    assert raised.severity == 3 and raised.occasion == f"refill:{refill.pk}"
    assert "2.5 mL more left than expected (under-delivery)" in raised.reasons[0]
    clock.shift(2 * DAY)
    services.forecast_refresh(pump=pump)
    assert alert(pump, "discrepancy").pk == raised.pk  # not cleared by itself
    alert_resolve(alert=raised, by=physician, note="Catheter study normal; observe")
    services.forecast_refresh(pump=pump)
    assert alert(pump, "discrepancy") is None  # not raised again for the same refill


def test_eri_without_a_planned_replacement_raises_a_device_alert(pump, nurse):
    fill(pump, nurse, days_ago=10)
    patient_services.pump_update(pump=pump, eri_on=timezone.localdate())
    raised = alert(pump, "device-end-of-service")
    assert raised.severity == 3
    assert "elective replacement indicator (ERI)" in raised.reasons[0]
    # End of service is ERI + 90 days: a replacement after it is no plan (issue 8 #3).
    eos = pump.end_of_service_on
    patient_services.pump_update(pump=pump, planned_replacement_on=eos + DAY)
    raised.refresh_from_db()
    assert raised.state == "open" and raised.severity == 3
    assert any("does not count as a replacement plan" in r for r in raised.reasons)
    # Before end of service it is a plan, but less than 90 days before it: a warning.
    patient_services.pump_update(pump=pump, planned_replacement_on=timezone.localdate() + 20 * DAY)
    raised.refresh_from_db()
    assert raised.state == "open" and raised.severity == 2
    assert "only 70 days before" in raised.reasons[0]


def test_the_seven_year_shutdown_raises_an_alert_180_days_ahead_and_critical_at_30(
    patient, nurse, clock
):
    life = pump_model("8637-20").max_service_life_days
    implanted = timezone.localdate() - dt.timedelta(days=life - 200)
    pump = fill(PumpFactory(patient=patient, implanted_on=implanted), nurse, days_ago=10)
    shutdown = pump.shutdown_on
    assert alert(pump, "device-end-of-service") is None
    clock.move_to(start_of_day(shutdown - 180 * DAY, NY))
    services.forecast_refresh(pump=pump)
    raised = alert(pump, "device-end-of-service")
    assert raised.severity == 2 and "180 days away" in raised.reasons[0]
    clock.move_to(start_of_day(shutdown - 30 * DAY, NY))
    sweep()
    raised.refresh_from_db()
    assert raised.severity == 4


def test_a_reported_alarm_raises_an_alert_that_clears_when_the_report_is_resolved(
    filled_pump, nurse
):
    report = services.pump_report_record(
        pump=filled_pump, by=nurse, kind=ReportKind.CRITICAL_ALARM, details="Two-tone alarm"
    )
    raised = alert(filled_pump, "reported-problem")
    assert raised.severity == 4
    services.pump_report_resolve(
        report=report, by=nurse, resolution="Battery checked, refilled", outcome="refilled"
    )
    raised.refresh_from_db()
    assert raised.state == "resolved"


def test_an_explanted_pump_keeps_no_self_clearing_alerts(pump, nurse):
    fill(pump, nurse, days_ago=80)
    assert alerts(pump, state="open")
    patient_services._pump_explant(pump=pump, explanted_on=timezone.localdate())
    sweep()
    assert not alerts(pump, state="open")


def test_repeated_evaluation_keeps_one_alert_per_pump_and_kind(pump, nurse, clock):
    fill(pump, nurse, days_ago=80)
    first = alert(pump, "running-out")
    for _ in range(3):
        clock.shift(dt.timedelta(hours=5))
        services.forecast_refresh(pump=pump)
        sweep()
    assert [a.pk for a in alerts(pump, kind="running-out")] == [first.pk]


def test_the_database_refuses_a_second_unresolved_alert_for_a_pump_and_kind(pump, nurse):
    fill(pump, nurse, days_ago=80)
    existing = alert(pump, "running-out")
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(
            clinic=existing.clinic,
            patient=existing.patient,
            pump=pump,
            kind="running-out",
            severity=4,
        )


# --------------------------------------------------------------------------- escalation


@pytest.fixture
def on_call(clinic):
    user = staff(clinic, Role.NURSE, phone="617 555 0150")
    Membership.objects.filter(user=user).update(receives_escalations=True)
    return user


def escalations(**filters):
    return list(Notification.objects.filter(kind="staff-escalation", **filters).order_by("key"))


def test_an_unacknowledged_high_alert_is_escalated_after_the_delay_and_again_until_acked(
    pump, nurse, on_call, clock
):
    fill(pump, nurse, days_ago=80)
    critical = alert(pump, "running-out")
    assert critical.next_escalation_at == timezone.now() + dt.timedelta(minutes=30)
    clock.shift(dt.timedelta(minutes=29))
    sweep()
    assert escalations() == []
    clock.shift(dt.timedelta(minutes=1))
    report = sweep()
    assert report.alerts_escalated >= 1
    first = escalations(alert=critical)
    assert [(n.channel, n.to_address) for n in first] == [
        ("email", on_call.email),
        ("sms", "+16175550150"),
    ]
    assert "CRITICAL alert" in first[1].body and f"#{critical.pk}" in first[1].body
    assert first[0].not_before == timezone.now()  # staff escalations ignore quiet hours
    sweep()
    assert len(escalations(alert=critical)) == 2
    clock.shift(dt.timedelta(minutes=60))
    sweep()
    assert len(escalations(alert=critical)) == 4
    critical.refresh_from_db()
    assert critical.escalation_count == 2
    alert_acknowledge(alert=critical, by=nurse)
    clock.shift(dt.timedelta(hours=5))
    sweep()
    assert len(escalations(alert=critical)) == 4
    critical.refresh_from_db()
    assert critical.state == "acknowledged" and critical.acknowledged_by == nurse


def test_escalation_messages_still_pending_are_cancelled_by_acknowledgement(
    pump, nurse, on_call, clock
):
    fill(pump, nurse, days_ago=80)
    critical = alert(pump, "running-out")
    clock.shift(dt.timedelta(minutes=30))
    sweep()
    alert_acknowledge(alert=critical, by=nurse)
    assert {n.status for n in escalations(alert=critical)} == {"cancelled"}


def test_moderate_alerts_are_not_escalated(patient, nurse, on_call, clock):
    life = pump_model("8637-20").max_service_life_days
    pump = fill(
        PumpFactory(
            patient=patient, implanted_on=timezone.localdate() - dt.timedelta(days=life - 100)
        ),
        nurse,
        days_ago=10,
    )
    assert alert(pump, "device-end-of-service").severity == 2
    clock.shift(3 * DAY)
    sweep()
    assert escalations() == []


def test_without_escalation_contacts_the_managers_are_told(pump, nurse, clinic, clock):
    manager = staff(clinic, Role.MANAGER)
    fill(pump, nurse, days_ago=80)
    clock.shift(dt.timedelta(minutes=31))
    sweep()
    assert {n.staff_user_id for n in escalations()} == {manager.pk}


# --------------------------------------------------------------------------- acting on alerts


def test_only_staff_of_the_clinic_can_act_on_its_alerts(pump, nurse):
    fill(pump, nurse, days_ago=80)
    raised = alert(pump, "running-out")
    outsider = staff(ClinicFactory(), Role.NURSE)
    auditor = staff(pump.patient.clinic, Role.AUDITOR)
    for user in (outsider, auditor):
        with pytest.raises(PermissionDenied):
            alert_acknowledge(alert=raised, by=user)


def test_assign_and_resolve_record_who_and_why(pump, nurse, physician):
    fill(pump, nurse, days_ago=80)
    raised = alert(pump, "running-out")
    alert_assign(alert=raised, by=nurse, assignee=physician)
    with pytest.raises(ValidationError):
        alert_assign(alert=raised, by=nurse, assignee=staff(ClinicFactory()))
    with pytest.raises(ValidationError):
        alert_resolve(alert=raised, by=physician, note="   ")
    done = alert_resolve(alert=raised, by=physician, note="Refill arranged for this afternoon")
    assert (done.state, done.resolved_by, done.assignee) == ("resolved", physician, physician)
    assert done.history.count() >= 3  # raised, assigned, resolved are all in the history
    with pytest.raises(ValidationError):
        alert_resolve(alert=raised, by=physician, note="again")
    with pytest.raises(ValidationError):
        alert_acknowledge(alert=raised, by=physician)


def test_a_manual_resolution_is_respected_while_the_occasion_is_unchanged(
    pump, nurse, physician, clock
):
    fill(pump, nurse, days_ago=70)
    raised = alert(pump, "unbooked-refill")
    alert_resolve(alert=raised, by=physician, note="Patient in hospital; ward will refill")
    clock.shift(DAY)
    services.forecast_refresh(pump=pump)
    assert alert(pump, "unbooked-refill") is None


def test_an_acknowledged_alert_reopens_when_it_becomes_worse(pump, nurse, clock):
    fill(pump, nurse, days_ago=1)
    alarm = pump.forecast.conservative_alarm_at
    clock.move_to(alarm - 18 * DAY)
    sweep()
    raised = alert(pump, "unbooked-refill")
    assert raised.severity == 2
    alert_acknowledge(alert=raised, by=nurse)
    # 14 days to the alarm with nothing booked: HIGH, open again and escalated.
    clock.move_to(alarm - 14 * DAY)
    sweep()
    raised.refresh_from_db()
    assert (raised.severity, raised.state) == (3, "open")
    assert raised.next_escalation_at is not None


def test_one_problem_is_one_open_alert_and_worse_news_escalates(pump, nurse, clock):
    """Issue 12 #6: the unbooked and missed alerts took the patient's tier, so one
    problem (symptoms, or a pump running dry with nothing booked) made several CRITICAL
    alerts, each escalated. Now each alert has its own problem's severity, and running
    out, a missed visit and nothing booked are one alert."""
    fill(pump, nurse, days_ago=68)
    unbooked = alert(pump, "unbooked-refill")
    assert unbooked.severity == 3
    alert_acknowledge(alert=unbooked, by=nurse)
    # Withdrawal symptoms: their own CRITICAL alert, open and escalating; the booking
    # alert keeps its own severity (the patient's tier is CRITICAL on every page).
    services.pump_report_record(pump=pump, by=nurse, kind=ReportKind.WITHDRAWAL_SYMPTOMS)
    reported = alert(pump, "reported-problem")
    assert (reported.severity, reported.state) == (4, "open")
    assert reported.next_escalation_at is not None
    unbooked.refresh_from_db()
    assert (unbooked.severity, unbooked.state) == (3, "acknowledged")
    assert Alert.objects.filter(pump=pump, severity=4).exclude(state="resolved").count() == 1
    # The alarm within 3 days, still nothing booked: the same problem, worse. One alert
    # carries it, CRITICAL, open and escalating; the acknowledged one says where it went.
    clock.move_to(pump.forecast.conservative_alarm_at - 2 * DAY)
    sweep()
    running = alert(pump, "running-out")
    assert (running.severity, running.state) == (4, "open")
    assert running.next_escalation_at is not None
    assert any("No refill appointment is booked" in r for r in running.reasons)
    unbooked.refresh_from_db()
    assert unbooked.state == "resolved" and "Now part of" in unbooked.resolution_note
    assert alert(pump, "unbooked-refill") is None and alert(pump, "missed-appointment") is None


def test_sweep_cost_follows_due_work_not_the_number_of_patients(clinic, nurse, clock):
    def sweep_queries():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        clock.shift(dt.timedelta(minutes=1))
        with CaptureQueriesContext(connection) as queries:
            sweep()
        return len(queries)

    fill(PumpFactory(patient=PatientFactory(clinic=clinic)), nurse, days_ago=5)
    sweep()
    with_one = sweep_queries()
    for _ in range(12):
        fill(PumpFactory(patient=PatientFactory(clinic=clinic)), nurse, days_ago=5)
    sweep()
    assert sweep_queries() == with_one
