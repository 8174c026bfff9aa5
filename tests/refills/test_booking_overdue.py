"""Booking never stands between a patient and the soonest visit (issue 8 #5).

Once the refill-by date had passed, every booking was "after the refill-by date" and
needed a physician, so a nurse could not book even tomorrow. Now a refill may be booked
without an override on any clinic day up to ``latest_day_without_override``: the
refill-by date, or, when the clinic cannot offer a slot by it, its earliest slot and the
next working day. Properties, for any refill-by date (past or future), any "now", any
clinic zone, working days and hours: the earliest slot the clinic offers, and the slot
the booking form proposes, never need an override; any later day than the limit always
does; and the limit is never later than needed.
"""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refills import services
from refills.models import Appointment, AppointmentStatus, Override, PumpForecast
from refills.scheduling import (
    ClinicHours,
    earliest_slot,
    latest_day_without_override,
    latest_safe_start,
    working_day_after,
)
from refills.services import ClinicalValidationError
from tests.conftest import program_input, refill_input

ZONES = [
    ZoneInfo(name)
    for name in (
        "America/New_York",
        "Australia/Lord_Howe",
        "Australia/Sydney",
        "Asia/Kathmandu",
        "Pacific/Chatham",
        "UTC",
    )
]

instants = st.datetimes(min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2027, 12, 31)).map(
    lambda naive: naive.replace(tzinfo=dt.UTC)
)


@st.composite
def clinic_hours(draw) -> ClinicHours:
    days = draw(st.frozensets(st.integers(0, 6), min_size=1))
    opens = draw(st.integers(0, 22 * 4)) * 15
    closes = draw(st.integers(opens // 15 + 1, 24 * 4 - 1)) * 15
    return ClinicHours(days, dt.time(opens // 60, opens % 60), dt.time(closes // 60, closes % 60))


@given(
    now=instants,
    zone=st.sampled_from(ZONES),
    hours=clinic_hours(),
    refill_by_offset=st.integers(-120, 120),
    grace=st.integers(0, 3),
)
def test_the_soonest_visit_never_needs_an_override(now, zone, hours, refill_by_offset, grace):
    today = now.astimezone(zone).date()
    refill_by = today + dt.timedelta(days=refill_by_offset)
    limit = latest_day_without_override(
        refill_by=refill_by, now=now, zone=zone, hours=hours, grace_working_days=grace
    )
    soonest = earliest_slot(now=now, zone=zone, hours=hours)
    # The earliest slot is real: ahead, on a working day, inside opening hours...
    assert soonest >= now
    assert hours.is_working_day(soonest.date())
    assert hours.day_starts <= soonest.time() < hours.day_ends
    # ...and booking it never needs an override.
    assert soonest.date() <= limit
    # Nor does the slot the booking form proposes.
    proposal = latest_safe_start(refill_by=refill_by, now=now, zone=zone, hours=hours)
    assert proposal.start.date() <= limit
    # The limit is never before the refill-by date...
    assert limit >= refill_by
    # ...and never later than needed: the refill-by date itself whenever the clinic can
    # offer a slot by then and the grace days are used up; otherwise the soonest visit.
    next_days = working_day_after(today, max(grace, 1), hours)
    assert limit <= max(refill_by, next_days)
    if soonest.date() <= refill_by and working_day_after(today, grace, hours) <= refill_by:
        assert limit == refill_by


@given(now=instants, zone=st.sampled_from(ZONES), hours=clinic_hours())
def test_an_overdue_patient_can_be_booked_for_the_next_working_day(now, zone, hours):
    today = now.astimezone(zone).date()
    limit = latest_day_without_override(
        refill_by=today - dt.timedelta(days=5), now=now, zone=zone, hours=hours
    )
    assert limit == working_day_after(today, 1, hours)


# --------------------------------------------------------------------------- the services


@pytest.fixture
def overdue_pump(pump, nurse):
    """Filled 80 days ago at 0.2 mL/day: the refill-by date passed about 5 days ago."""
    start = timezone.now() - dt.timedelta(days=80)
    services.program_start(
        pump=pump, by=nurse, program=program_input(400, 2000), effective_from=start
    )
    services.refill_record(
        pump=pump, by=nurse, data=refill_input(performed_at=start, residual="3", added="20")
    )
    pump.refresh_from_db()
    assert pump.forecast.refill_by < timezone.localdate(timezone=pump.patient.clinic.tz)
    return pump


def _at(pump, day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=pump.patient.clinic.tz)


def _next_working_day(pump) -> dt.date:
    clinic = pump.patient.clinic
    return working_day_after(timezone.localdate(timezone=clinic.tz), 1, ClinicHours.of(clinic))


def test_a_nurse_books_an_overdue_patient_for_the_next_working_day(overdue_pump, nurse):
    appointment = services.appointment_book(
        pump=overdue_pump,
        by=nurse,
        scheduled_start=_at(overdue_pump, _next_working_day(overdue_pump)),
    )
    assert appointment.pk and not Override.objects.exists()


def test_a_nurse_books_an_overdue_patient_for_the_earliest_slot(overdue_pump, nurse):
    clinic = overdue_pump.patient.clinic
    soonest = earliest_slot(now=timezone.now(), zone=clinic.tz, hours=ClinicHours.of(clinic))
    services.appointment_book(pump=overdue_pump, by=nurse, scheduled_start=soonest)
    assert not Override.objects.exists()


def test_booking_an_overdue_patient_later_still_needs_a_physician(overdue_pump, nurse):
    later = _next_working_day(overdue_pump) + dt.timedelta(days=1)
    with pytest.raises(ClinicalValidationError) as caught:
        services.appointment_book(
            pump=overdue_pump,
            by=nurse,
            scheduled_start=_at(overdue_pump, later),
            override_reason="Patient prefers next week",
        )
    (message,) = caught.value.message_dict["scheduled_start"]
    assert "has passed or comes before the clinic's next opening" in message
    assert "Book the soonest visit" in message
    assert "Only a physician can override this." in message
    assert not Appointment.objects.exists()


def test_a_missed_visit_of_an_overdue_patient_is_rebooked_for_the_next_working_day(
    overdue_pump, nurse, physician
):
    # Booked in time long ago by a physician's override, then missed.
    appointment = services.appointment_book(
        pump=overdue_pump,
        by=physician,
        scheduled_start=timezone.now() + dt.timedelta(hours=2),
        override_reason="setup",
    )
    services.appointment_mark_missed(
        appointment=appointment, now=appointment.scheduled_start + dt.timedelta(hours=3)
    )
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.MISSED
    services.appointment_reschedule(
        appointment=appointment,
        by=nurse,
        scheduled_start=_at(overdue_pump, _next_working_day(overdue_pump)),
    )
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.SCHEDULED


def test_the_booking_page_books_an_overdue_patient_for_a_nurse(nurse, as_user, overdue_pump):
    client = as_user(nurse)
    url = reverse("dashboard:appointment_create", args=[overdue_pump.patient_id])
    html = client.get(url).content.decode()
    assert "earliest slot" in html
    day = _next_working_day(overdue_pump)
    response = client.post(
        url, {"kind": "refill", "duration_minutes": "30", "day": day.isoformat(), "time": "10:00"}
    )
    assert response.status_code == 302
    assert Appointment.objects.count() == 1


# The stored refill-by date is set directly: the guard reads it, whatever set it.
@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    refill_by_offset=st.integers(-30, 30),
    days=st.frozensets(st.integers(0, 6), min_size=1),
    hour=st.integers(0, 23),
)
def test_through_the_service_earliest_is_free_and_later_needs_a_physician(
    filled_pump, refill_by_offset, days, hour
):
    clinic = filled_pump.patient.clinic
    clinic.working_days = "".join(str(d) for d in sorted(days))
    clinic.save(update_fields=["working_days"])
    now = timezone.now().astimezone(clinic.tz).replace(hour=hour, minute=7)
    today = now.date()
    PumpForecast.objects.filter(pump=filled_pump).update(
        refill_by=today + dt.timedelta(days=refill_by_offset)
    )
    hours = ClinicHours.of(clinic)
    soonest = earliest_slot(now=now, zone=clinic.tz, hours=hours)
    findings = services.appointment_findings(
        pump=filled_pump, kind="refill", scheduled_start=soonest, now=now
    )
    assert findings == []
    limit = latest_day_without_override(
        refill_by=today + dt.timedelta(days=refill_by_offset), now=now, zone=clinic.tz, hours=hours
    )
    # The first working day after the limit, at opening: an ordinary slot but for its date.
    later_day = working_day_after(limit, 1, hours)
    later = dt.datetime.combine(later_day, hours.day_starts, tzinfo=clinic.tz)
    findings = services.appointment_findings(
        pump=filled_pump, kind="refill", scheduled_start=later, now=now
    )
    assert [(f.code, f.severity) for f in findings] == [
        ("appointment_after_refill_by", "physician")
    ]
