"""Reports 1-7 against a small data set built by hand here; each expected number is
worked out from the rows below (in the comments), not by the reports' own code.

The clinic is in America/New_York; the period is Thu 1 Jan to Tue 31 Mar 2026, "today"
is Tue 31 Mar 2026. Another clinic's rows sit beside ours and must never count."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Role
from patients.models import Caregiver, PumpStatus
from refills import services
from refills.models import Appointment, AppointmentStatus, PumpForecast, Refill, RiskTier
from reminders.models import Alert, Notification, NotificationStatus
from reports import metrics
from reports.metrics.common import PatientRef, days_text
from reports.models import TierSnapshot
from tests.conftest import program_input
from tests.factories import (
    ClinicFactory,
    PatientFactory,
    PumpFactory,
    drug_product,
    pump_model,
    staff,
)

NY = ZoneInfo("America/New_York")
TODAY = dt.date(2026, 3, 31)
UTC = dt.UTC


def at(y, m, d, h=15):
    return dt.datetime(y, m, d, h, tzinfo=UTC)


def scope(*clinics) -> metrics.Scope:
    return metrics.Scope(
        clinic_ids=tuple(c.pk for c in clinics),
        tz=NY,
        since=dt.date(2026, 1, 1),
        until=dt.date(2026, 3, 31),
        today=TODAY,
    )


def refill(pump, when, *, due_by=None, on_time=None, **extra) -> Refill:
    program = pump.programs.first()
    return Refill.objects.create(
        pump=pump,
        performed_at=when,
        performed_by=program.created_by,
        expected_residual_ml=Decimal("3"),
        actual_residual_ml=Decimal("3"),
        volume_added_ml=Decimal("18"),
        resulting_volume_ml=Decimal("20"),
        drug_product=drug_product(2000),
        concentration_mcg_per_ml=Decimal("2000"),
        lot_number="LOT-1",
        needle_placement="template-and-stop",
        needle_placement_confirmed=True,
        program=program,
        alarm_volume_ml=Decimal("2.0"),
        due_by=due_by,
        performed_on_time=on_time,
        **extra,
    )


@pytest.fixture
def world(db):
    clinic = ClinicFactory(refill_slots_per_day=1, working_days="01234")  # Mon-Fri
    other = ClinicFactory()
    nurse = staff(clinic, Role.NURSE)
    a = PatientFactory(clinic=clinic, family_name="Ames", given_name="Ann", prior_withdrawal=True)
    b = PatientFactory(
        clinic=clinic,
        family_name="Bell",
        given_name="Bo",
        sci_t6_or_above=True,
        communication_difficulty=True,
    )
    c = PatientFactory(
        clinic=clinic, family_name="Cole", given_name="Cy", consent_sms=False, consent_email=False
    )
    d = PatientFactory(
        clinic=clinic, family_name="Dunn", given_name="Di", consent_sms=False, consent_email=False
    )
    Caregiver.objects.create(
        patient=d,
        name="Invented Carer",
        relationship="spouse",
        phone="+16175550124",
        consent_sms=True,
        receives_reminders=True,
    )
    x = PatientFactory(clinic=other, family_name="Xeno", consent_sms=False, consent_email=False)
    pumps = {}
    for key, patient in {"a": a, "b": b, "c": c, "d": d, "x": x}.items():
        pump = PumpFactory(patient=patient, implanted_on=dt.date(2025, 1, 1))
        services.program_start(
            pump=pump, by=nurse, program=program_input(400, 2000), effective_from=at(2025, 1, 2)
        )
        pumps[key] = pump
    # These pumps have no fill on record, so the no-fill rule raised alerts for them; the
    # safety tests build every alert they count by hand.
    Alert.objects.all().delete()
    return {"clinic": clinic, "other": other, "nurse": nurse, "pumps": pumps}


# ----------------------------------------------------------------------- 1 refill activity


@pytest.fixture
def refills(world):
    p = world["pumps"]
    Refill.objects.all().delete()
    refill(p["a"], at(2025, 12, 16))  # before the period: the start of A's first interval
    refill(p["a"], at(2026, 1, 5), due_by=dt.date(2026, 1, 6), on_time=True)  # 20 days after
    # 30 days after; 3 days late (Wed 4 Feb against Sun 1 Feb); less left than expected.
    refill(
        p["a"],
        at(2026, 2, 4),
        due_by=dt.date(2026, 2, 1),
        on_time=False,
        discrepancy_ml=Decimal("-2.5"),
        discrepancy_flagged=True,
    )
    refill(p["b"], at(2026, 1, 20))  # first fill: no refill-by date
    # 04:00 UTC on 1 Mar is 23:00 on Sat 28 Feb in New York: a February refill, 1 day late;
    # 39 days 13 hours after B's last one; more left than expected.
    refill(
        p["b"],
        at(2026, 3, 1, 4),
        due_by=dt.date(2026, 2, 27),
        on_time=False,
        discrepancy_ml=Decimal("3"),
        discrepancy_flagged=True,
    )
    refill(p["x"], at(2026, 1, 10), due_by=dt.date(2026, 1, 1), on_time=False)  # other clinic
    return world


def test_refill_activity_counts_by_month_week_and_lateness(refills):
    report = metrics.BY_KEY["refills"].build(scope=scope(refills["clinic"]))
    figures = dict(report.figures)
    assert figures["Refills"] == 4
    # Intervals ending in the period: 20, 30 and 39.54 days: the median is 30.
    assert figures["Median interval between refills"] == "30.0 days"
    # With a refill-by date: A 5 Jan (on time), A 4 Feb, B 28 Feb (late): 1 of 3.
    assert figures["Done on or before the refill-by date"] == "33 %"
    assert figures["Late refills"] == 2
    per_month = report.tables[0].rows
    assert per_month == [
        ["Jan 2026", 2, 1, 1, "100 %"],
        ["Feb 2026", 2, 2, 0, "0 %"],
        ["Mar 2026", 0, 0, 0, "—"],
    ]
    late = report.tables[1].rows
    assert [(r[0].name, r[3]) for r in late] == [("Bell, Bo", 1), ("Ames, Ann", 3)]
    weekly = {row[0]: row[1] for row in report.tables[2].rows if row[1]}
    assert weekly == {
        "Mon 5 Jan 2026": 1,
        "Mon 19 Jan 2026": 1,
        "Mon 2 Feb 2026": 1,
        "Mon 23 Feb 2026": 1,
    }


# ----------------------------------------------------------------------- 2 appointments


def appointment(pump, when, status):
    reason = "Invented reason" if status == AppointmentStatus.CANCELLED else ""
    return Appointment.objects.create(
        patient=pump.patient,
        pump=pump,
        scheduled_start=when,
        status=status,
        cancellation_reason=reason,
    )


def test_appointments_by_status_with_no_show_rate_and_time_to_refill(refills):
    p = refills["pumps"]
    S = AppointmentStatus
    appointment(p["a"], at(2026, 1, 5, 14), S.COMPLETED)
    appointment(p["a"], at(2026, 1, 12, 14), S.MISSED)  # A's next refill 4 Feb 15:00: 23.04 d
    appointment(p["a"], at(2026, 2, 10, 14), S.CANCELLED)
    appointment(p["a"], at(2026, 3, 3, 14), S.SCHEDULED)
    appointment(p["b"], at(2026, 2, 20, 15), S.MISSED)  # B's next refill 1 Mar 04:00: 8.54 d
    appointment(p["x"], at(2026, 2, 20, 15), S.MISSED)  # other clinic
    report = metrics.BY_KEY["appointments"].build(scope=scope(refills["clinic"]))
    figures = dict(report.figures)
    assert (figures["Booked"], figures["Completed"], figures["Missed"]) == (5, 1, 2)
    assert figures["Cancelled"] == 1
    assert figures["No-show rate"] == "67 %"  # 2 missed of 3 completed or missed
    # (8.5417 + 23.0417) / 2 = 15.79 days
    assert figures["Median time from a missed appointment to the next refill"] == "15.8 days"
    assert report.tables[0].rows == [
        ["Jan 2026", 2, 1, 1, 0, "50 %"],
        ["Feb 2026", 2, 0, 1, 1, "100 %"],
        ["Mar 2026", 1, 0, 0, 0, "—"],
    ]
    missed = report.tables[1].rows
    assert [(r[0].name, r[3]) for r in missed] == [("Bell, Bo", 8.5), ("Ames, Ann", 23.0)]


# ----------------------------------------------------------------------- 3 safety events


def alert(pump, kind, severity, raised, **extra):
    return Alert.objects.create(
        clinic_id=pump.patient.clinic_id,
        patient=pump.patient,
        pump=pump,
        kind=kind,
        severity=int(severity),
        raised_at=raised,
        updated_at=raised,
        **extra,
    )


def test_safety_events_leave_out_alerts_raised_while_a_history_loaded(refills):
    p, nurse = refills["pumps"], refills["nurse"]
    alert(  # acknowledged after 2 hours, resolved by a nurse after 1 day
        p["a"],
        "running-out",
        RiskTier.CRITICAL,
        at(2026, 1, 10, 12),
        state="resolved",
        acknowledged_at=at(2026, 1, 10, 14),
        resolved_at=at(2026, 1, 11, 12),
        resolved_by=nurse,
    )
    alert(  # acknowledged after 1 day, resolved by a nurse after 3 days
        p["a"],
        "missed-appointment",
        RiskTier.HIGH,
        at(2026, 1, 12, 12),
        state="resolved",
        acknowledged_at=at(2026, 1, 13, 12),
        resolved_at=at(2026, 1, 15, 12),
        resolved_by=nurse,
    )
    alert(  # cleared by itself: not in the time to resolve
        p["b"],
        "unbooked-refill",
        RiskTier.MODERATE,
        at(2026, 2, 1, 12),
        state="resolved",
        resolved_at=at(2026, 2, 2, 12),
    )
    alert(  # acknowledged after 6 hours, still unresolved
        p["b"],
        "running-out",
        RiskTier.CRITICAL,
        at(2026, 2, 25, 12),
        state="acknowledged",
        acknowledged_at=at(2026, 2, 25, 18),
    )
    alert(  # raised while the demo's history loaded: never counted
        p["a"],
        "discrepancy",
        RiskTier.CRITICAL,
        at(2026, 1, 3, 12),
        state="resolved",
        resolved_at=at(2026, 1, 3, 12),
        raised_during_history_load=True,
    )
    alert(p["x"], "running-out", RiskTier.CRITICAL, at(2026, 1, 10, 12))  # other clinic
    report = metrics.BY_KEY["safety"].build(scope=scope(refills["clinic"]))
    figures = dict(report.figures)
    assert figures["Staff alerts raised"] == 4
    assert figures["Flagged discrepancies: more left than expected"] == 1  # B, +3 mL
    assert figures["Flagged discrepancies: less left than expected"] == 1  # A, -2.5 mL
    assert figures["Median time to acknowledge"] == "6.0 hours"  # of 2 h, 6 h, 24 h
    assert figures["Median time to resolve (by staff)"] == "2.0 days"  # of 1 and 3 days
    by_kind = {row[0]: row[1:] for row in report.tables[0].rows}
    # Columns: critical, high, moderate, low, all.
    assert by_kind == {
        "Reservoir running out": [2, 0, 0, 0, 2],
        "Missed refill appointment": [0, 1, 0, 0, 1],
        "No refill booked before the refill-by date": [0, 0, 1, 0, 1],
    }
    critical = report.tables[1].rows
    assert [(r[0].name, r[2]) for r in critical] == [
        ("Bell, Bo", "Wed 25 Feb 2026"),
        ("Ames, Ann", "Sat 10 Jan 2026"),
    ]


def test_an_alert_raised_while_a_history_loads_is_stamped(world):
    from reminders.alerts import alert_raise
    from reminders.alerts.rules import Finding
    from reminders.hooks import patient_messages_paused

    pump = world["pumps"]["a"]
    finding = Finding(kind="running-out", severity=RiskTier.HIGH, reasons=["test"], occasion="")
    with patient_messages_paused():
        loaded = alert_raise(pump=pump, finding=finding, now=at(2026, 1, 1))
    assert loaded.raised_during_history_load is True
    finding = Finding(kind="discrepancy", severity=RiskTier.HIGH, reasons=["test"], occasion="")
    live = alert_raise(pump=pump, finding=finding, now=at(2026, 1, 1))
    assert live.raised_during_history_load is False


# ----------------------------------------------------------------------- 4 reminder delivery


def message(clinic, n, channel, status, created, **extra):
    return Notification.objects.create(
        key=f"test-{clinic.pk}-{n}",
        kind="appointment-reminder",
        clinic=clinic,
        channel=channel,
        status=status,
        body="Invented reminder",
        created_at=created,
        **extra,
    )


def test_reminder_delivery_by_channel_status_and_reason(world):
    clinic, other, nurse = world["clinic"], world["other"], world["nurse"]
    message(clinic, 1, "sms", "delivered", at(2026, 1, 5))
    message(clinic, 2, "sms", "delivered", at(2026, 2, 5))
    message(clinic, 3, "sms", "failed", at(2026, 2, 6), last_error="30003 unreachable")
    message(clinic, 4, "email", "sent", at(2026, 3, 1))
    message(
        clinic,
        5,
        "sms",
        "suppressed",
        at(2026, 3, 2),
        suppressed_reason="The carrier reports the number opted out (STOP)",
    )
    message(clinic, 6, "email", "suppressed", at(2026, 3, 3), suppressed_reason="No consent")
    message(clinic, 10, "none", "suppressed", at(2026, 3, 4), suppressed_reason="No channel")
    message(clinic, 7, "sms", "delivered", at(2026, 3, 3), staff_user=nurse)  # staff: not counted
    message(clinic, 8, "sms", "delivered", at(2025, 12, 3))  # before the period
    message(other, 9, "sms", "failed", at(2026, 2, 6))  # other clinic
    report = metrics.BY_KEY["delivery"].build(scope=scope(clinic))
    figures = dict(report.figures)
    assert figures["Messages"] == 7
    # Sent or delivered 3, of 4 attempted (3 + 1 failed).
    assert figures["Delivery rate (sent or delivered, of those attempted)"] == "75 %"
    assert figures["Failed"] == 1
    assert figures["Opt-outs (STOP from the carrier)"] == 1
    # Cole has no consent and no caregiver; Dunn's caregiver takes texts; Xeno is elsewhere.
    assert figures["Patients with no consented channel"] == 1
    assert [r[0].name for r in report.tables[3].rows] == ["Cole, Cy"]
    assert report.tables[1].rows == [["30003 unreachable", 1]]
    grid = {row[0]: row[1:] for row in report.tables[0].rows}
    statuses = list(report.tables[0].header[1:])
    sms = dict(zip(statuses, grid["Text message (SMS)"], strict=True))
    assert (sms["Delivered"], sms["Failed"], sms["Not sent"]) == (2, 1, 1)
    # A message with no channel is shown too: every message is in the grid.
    assert (
        dict(zip(statuses, grid["No reminders (phone calls only)"], strict=True))["Not sent"] == 1
    )


# ----------------------------------------------------------------------- 5 risk census


def forecast(pump, *, tier, refill_by, booked=False, next_refill_at=None):
    return PumpForecast.objects.update_or_create(
        pump=pump,
        defaults={
            "computed_at": at(2026, 3, 31),
            "risk_tier": int(tier),
            "refill_by": refill_by,
            "refill_by_reason": "alarm",
            "booked_before_refill_by": booked,
            "next_refill_at": next_refill_at,
        },
    )[0]


@pytest.fixture
def forecasts(world):
    p = world["pumps"]
    day = dt.timedelta(days=1)
    forecast(p["a"], tier=RiskTier.HIGH, refill_by=TODAY + 10 * day)  # unbooked, listed
    forecast(p["b"], tier=RiskTier.LOW, refill_by=TODAY + 40 * day)
    forecast(p["c"], tier=RiskTier.CRITICAL, refill_by=TODAY + 5 * day, booked=True)
    forecast(  # booked, but after the refill-by date: listed
        p["d"], tier=RiskTier.MODERATE, refill_by=TODAY + 20 * day, next_refill_at=at(2026, 4, 25)
    )
    forecast(p["x"], tier=RiskTier.CRITICAL, refill_by=TODAY)  # other clinic
    return world


def test_risk_census_now_over_time_factors_and_the_unbooked(forecasts):
    clinic, other = forecasts["clinic"], forecasts["other"]
    common = {"taken_at": at(2026, 3, 1, 11)}
    TierSnapshot.objects.create(clinic=clinic, day=dt.date(2026, 3, 1), low=3, high=1, **common)
    TierSnapshot.objects.create(clinic=clinic, day=dt.date(2026, 3, 2), low=2, high=2, **common)
    TierSnapshot.objects.create(clinic=other, day=dt.date(2026, 3, 2), critical=9, **common)
    report = metrics.BY_KEY["census"].build(scope=scope(clinic))
    figures = dict(report.figures)
    assert [figures[f"{t} now"] for t in ("Critical", "High", "Moderate", "Low")] == [1, 1, 1, 1]
    assert figures["Patients with a label risk factor"] == 2  # Ames, Bell
    assert figures["Due within 21 days, nothing booked in time"] == 2
    assert [r[0].name for r in report.tables[0].rows] == ["Ames, Ann", "Dunn, Di"]
    factors = dict(report.tables[2].rows)
    assert factors["Spinal cord injury at T6 or above"] == 1
    assert factors["History of baclofen withdrawal"] == 1
    snapshots = report.tables[3].rows
    assert [row[1:5] for row in snapshots] == [[0, 1, 0, 3], [0, 2, 0, 2]]
    both = metrics.BY_KEY["census"].build(scope=scope(clinic, other))
    assert [row[1] for row in both.tables[3].rows] == [0, 9]  # critical, summed by day


# ----------------------------------------------------------------------- 6 device lifecycle


def test_device_lifecycle_end_of_service_and_replacements_in_time(world):
    p = world["pumps"]
    life = dt.timedelta(days=2557)  # the 8637-20's automatic shut-down
    assert pump_model("8637-20").max_service_life_days == 2557
    day = dt.timedelta(days=1)
    # A: shut-down in 100 days; replacement 120 days before it: in time (>= 90).
    p["a"].implanted_on = TODAY - life + 100 * day
    p["a"].planned_replacement_on = TODAY - 20 * day
    # B: shut-down in 300 days, nothing planned.
    p["b"].implanted_on = TODAY - life + 300 * day
    # C: ERI 10 days ago: end of service in 80 days; replacement in 30 days: only 50 before.
    p["c"].eri_on = TODAY - 10 * day
    p["c"].planned_replacement_on = TODAY + 30 * day
    for key in "abc":
        p[key].save()
    explanted = PumpFactory(
        patient=PatientFactory(clinic=world["clinic"]),
        implanted_on=TODAY - life + 10 * day,
        status=PumpStatus.EXPLANTED,
        explanted_on=TODAY,
    )
    assert explanted.pk
    report = metrics.BY_KEY["devices"].build(scope=scope(world["clinic"]))
    figures = list(report.figures)
    assert figures == [
        ("Active pumps", 4),
        ("ERI recorded", 1),
        ("End of service within 6 months", 2),  # A, C
        ("… with a replacement planned in time", 1),  # A
        ("End of service within 12 months", 3),  # A, B, C
        ("… with a replacement planned in time", 1),
    ]
    rows = report.tables[0].rows
    assert [(r[0].name, r[5], r[7]) for r in rows] == [
        ("Cole, Cy", "Fri 19 Jun 2026", "NO"),
        ("Ames, Ann", "Thu 9 Jul 2026", "yes"),
        ("Bell, Bo", "Mon 25 Jan 2027", "NO"),
    ]


# ----------------------------------------------------------------------- 7 capacity


def test_capacity_marks_the_weeks_with_more_refills_due_than_slots(world):
    clinic = world["clinic"]
    day = dt.timedelta(days=1)
    pumps = list(world["pumps"].values())[:4]
    extra = [PumpFactory(patient=PatientFactory(clinic=clinic)) for _ in range(4)]
    # Today is Tue 31 Mar: this week has 4 working days left (Tue-Fri), 1 slot a day.
    due = [TODAY - 3 * day, TODAY, TODAY + day, TODAY + 2 * day, TODAY + 3 * day]  # 5 > 4
    due += [TODAY + 7 * day, TODAY + 8 * day]  # next week: 2 of 5 slots
    due += [TODAY + 100 * day]  # beyond the 12 weeks
    for pump, refill_by in zip(pumps + extra, due, strict=True):
        forecast(pump, tier=RiskTier.LOW, refill_by=refill_by)
    report = metrics.BY_KEY["capacity"].build(scope=scope(clinic))
    weeks = report.tables[0].rows
    # Counted from today: the first week is marked as partial.
    assert weeks[0] == ["Mon 30 Mar 2026 (from Tue 31 Mar)", 5, 4, 1]
    assert weeks[1] == ["Mon 6 Apr 2026", 2, 5, ""]
    assert report.tables[0].marked == frozenset({0})
    assert dict(report.figures)["Weeks over capacity"] == 1
    assert dict(report.figures)["Refills due in the next 12 weeks"] == 7


# ----------------------------------------------------------------------- query counts


def _queries(kind, s) -> int:
    with CaptureQueriesContext(connection) as captured:
        kind.build(scope=s)
    return len(captured.captured_queries)


def test_no_report_runs_more_queries_with_more_patients(refills, forecasts):
    s = scope(refills["clinic"])
    before = {kind.key: _queries(kind, s) for kind in metrics.CATALOGUE}
    nurse = refills["nurse"]
    for n in range(6):
        pump = PumpFactory(
            patient=PatientFactory(
                clinic=refills["clinic"], consent_sms=False, consent_email=False
            ),
            implanted_on=dt.date(2019, 6, 1),
            eri_on=dt.date(2026, 3, 1),
        )
        services.program_start(
            pump=pump, by=nurse, program=program_input(400, 2000), effective_from=at(2025, 1, 2)
        )
        refill(pump, at(2026, 1, 3 + n))
        refill(pump, at(2026, 2, 3 + n), due_by=dt.date(2026, 2, 1), on_time=False)
        appointment(pump, at(2026, 1, 20 + n), AppointmentStatus.MISSED)
        Alert.objects.filter(pump=pump).delete()  # the no-fill alert of the bare new pump
        alert(pump, "running-out", RiskTier.CRITICAL, at(2026, 1, 10 + n))
        message(refills["clinic"], 100 + n, "sms", "failed", at(2026, 2, 6), last_error=f"e{n}")
        forecast(pump, tier=RiskTier.HIGH, refill_by=TODAY + n * dt.timedelta(days=1))
    after = {kind.key: _queries(kind, s) for kind in metrics.CATALOGUE}
    assert after == before
    assert max(after.values()) <= 10


def test_days_text_reads_hours_under_two_days():
    assert days_text(0.25) == "6.0 hours"
    assert days_text(2.5) == "2.5 days"
    assert days_text(None) == "—"
    assert str(PatientRef(patient_id=1, name="Ames, Ann")) == "Ames, Ann"


# ------------------------------------------- the open cases a median cannot see, beside it


def test_missed_visits_with_no_refill_since_are_counted_beside_the_median_and_listed_first(
    refills,
):
    p = refills["pumps"]
    S = AppointmentStatus
    appointment(p["a"], at(2026, 1, 12, 14), S.MISSED)  # A refilled 4 Feb: 23.0 days
    appointment(p["a"], at(2026, 3, 10, 14), S.MISSED)  # no refill of A since
    appointment(p["b"], at(2026, 3, 5, 14), S.MISSED)  # no refill of B since
    appointment(p["x"], at(2026, 3, 5, 14), S.MISSED)  # other clinic
    report = metrics.BY_KEY["appointments"].build(scope=scope(refills["clinic"]))
    figures = dict(report.figures)
    labels = [label for label, _ in report.figures]
    median_at = labels.index("Median time from a missed appointment to the next refill")
    assert labels[median_at + 1] == "Missed appointments with no refill since (not in the median)"
    assert figures["Median time from a missed appointment to the next refill"] == "23.0 days"
    assert figures["Missed appointments with no refill since (not in the median)"] == 2
    table = report.tables[1]
    assert [(r[0].name, r[2]) for r in table.rows] == [
        ("Ames, Ann", "none yet"),  # Tue 10 Mar, the later of the open ones first
        ("Bell, Bo", "none yet"),
        ("Ames, Ann", "Wed 4 Feb 2026"),
    ]
    assert table.marked == frozenset({0, 1})


def test_alerts_still_open_are_counted_beside_the_medians(refills):
    p = refills["pumps"]
    alert(p["a"], "running-out", RiskTier.CRITICAL, at(2026, 1, 10, 12))  # open
    alert(  # acknowledged after 6 hours, still unresolved
        p["b"],
        "running-out",
        RiskTier.CRITICAL,
        at(2026, 2, 25, 12),
        state="acknowledged",
        acknowledged_at=at(2026, 2, 25, 18),
    )
    alert(  # cleared by itself, never acknowledged: not open
        p["b"], "unbooked-refill", RiskTier.MODERATE, at(2026, 2, 1, 12), state="resolved"
    )
    alert(p["x"], "running-out", RiskTier.CRITICAL, at(2026, 1, 10, 12))  # other clinic
    figures = dict(metrics.BY_KEY["safety"].build(scope=scope(refills["clinic"])).figures)
    assert figures["Alerts not yet acknowledged (not in the median)"] == 1
    assert figures["Alerts not yet resolved (not in the median)"] == 2


def test_pumps_past_their_refill_by_date_are_counted_beside_the_median_interval(refills):
    p = refills["pumps"]
    day = dt.timedelta(days=1)
    forecast(p["a"], tier=RiskTier.CRITICAL, refill_by=TODAY - 2 * day)  # overdue
    forecast(p["b"], tier=RiskTier.LOW, refill_by=TODAY)  # due today: not yet past
    forecast(p["c"], tier=RiskTier.HIGH, refill_by=TODAY - day)  # overdue
    forecast(p["d"], tier=RiskTier.LOW, refill_by=TODAY + 9 * day)
    forecast(p["x"], tier=RiskTier.CRITICAL, refill_by=TODAY - 9 * day)  # other clinic
    figures = dict(metrics.BY_KEY["refills"].build(scope=scope(refills["clinic"])).figures)
    assert figures["Pumps past their refill-by date today (not in the median)"] == 2


def test_every_report_writes_days_as_the_pages_do(refills, forecasts):
    """'Mon 5 Jan 2026' (pumptrack.dates), never a zero-padded 'Mon 05 Jan', in the
    figures, tables and chart labels of every report."""
    import re

    padded = re.compile(r"\b0\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b")
    p = refills["pumps"]
    appointment(p["a"], at(2026, 1, 5, 14), AppointmentStatus.MISSED)
    for kind in metrics.CATALOGUE:
        report = kind.build(scope=scope(refills["clinic"]))
        texts = [str(v) for _, v in report.figures] + list(report.notes)
        texts += [str(v) for t in report.tables for row in t.rows for v in row]
        texts += list(report.chart.labels) if report.chart else []
        assert not [t for t in texts if padded.search(t)], kind.key
    week = metrics.BY_KEY["refills"].build(scope=scope(refills["clinic"])).tables[2].rows[1]
    assert week[0] == "Mon 5 Jan 2026"


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(counts=st.lists(st.integers(0, 3), min_size=len(NotificationStatus), max_size=7))
def test_the_delivery_chart_shows_every_message_in_the_total(world, counts):
    """Whatever the statuses, the chart's bars add up to the messages counted."""
    clinic = world["clinic"]
    Notification.objects.filter(clinic=clinic).delete()
    n = 0
    for status, count in zip(NotificationStatus, counts, strict=True):
        for _ in range(count):
            n += 1
            message(clinic, f"h{n}", ("sms", "email")[n % 2], status.value, at(2026, 2, 1))
    report = metrics.BY_KEY["delivery"].build(scope=scope(clinic))
    chart = report.chart
    assert sum(sum(s.values) for s in chart.series) == dict(report.figures)["Messages"] == n
    shown = {s.name for s in chart.series if sum(s.values)}
    assert shown == {
        status.label for status, count in zip(NotificationStatus, counts, strict=True) if count
    }


def test_weeks_and_months_the_period_only_partly_covers_are_marked(refills):
    """Wed 3 Jun to Thu 10 Sep 2026: June and September and the first and last weeks are
    partial, and say so in the tables and the chart labels (so in the CSV and PDF too)."""
    base = scope(refills["clinic"])
    partial = metrics.Scope(
        clinic_ids=base.clinic_ids,
        tz=NY,
        since=dt.date(2026, 6, 3),
        until=dt.date(2026, 9, 10),
        today=dt.date(2026, 9, 10),
    )
    report = metrics.BY_KEY["refills"].build(scope=partial)
    months = [row[0] for row in report.tables[0].rows]
    assert months == ["Jun 2026 (from 3 Jun)", "Jul 2026", "Aug 2026", "Sep 2026 (to 10 Sep)"]
    weeks = [row[0] for row in report.tables[2].rows]
    assert weeks[0] == "Mon 1 Jun 2026 (from Wed 3 Jun)"
    assert weeks[1] == "Mon 8 Jun 2026"
    assert weeks[-1] == "Mon 7 Sep 2026 (to Thu 10 Sep)"
    assert report.chart.labels[0] == "1 Jun (from 3 Jun)"
    one_week = metrics.Scope(**{**partial.__dict__, "until": dt.date(2026, 6, 5)})
    appointments = metrics.BY_KEY["appointments"].build(scope=one_week)
    assert appointments.chart.labels == ("Jun 2026 (3 Jun to 5 Jun)",)


@settings(max_examples=40, deadline=None)
@given(
    since=st.dates(dt.date(1900, 1, 1), dt.date(9000, 1, 1)),
    length=st.integers(0, 400),
)
def test_a_label_is_marked_exactly_when_its_span_is_cut(since, length):
    from reports.metrics.common import month_label, month_starts, week_label, week_starts

    until = min(since + dt.timedelta(days=length), dt.date(9000, 1, 1))
    for monday in week_starts(since, until):
        whole = since <= monday and monday + dt.timedelta(days=6) <= until
        assert ("(" not in week_label(monday, since, until)) == whole
        assert ("(" not in week_label(monday, since, until, short=True)) == whole
    for first in month_starts(since, until):
        last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        whole = since <= first and last <= until
        assert ("(" not in month_label(first, since, until)) == whole
