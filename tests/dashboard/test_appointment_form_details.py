"""The booking form's details (bookfix #6, #7): a time skipped by a clock change is
refused, a repeated one is the first and the page says so; the outside-hours warning sits
under Time; moving an appointment to the time it already has says nothing changed."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.forms import AppointmentForm
from refills import services
from refills.models import Appointment

NY = ZoneInfo("America/New_York")


def _form(day, time, zone=NY):
    return AppointmentForm(
        {"kind": "refill", "day": day, "time": time, "duration_minutes": "30"}, zone=zone
    )


def test_a_time_skipped_by_the_clocks_going_forward_is_refused_under_time():
    form = _form("2027-03-14", "02:30")
    assert not form.is_valid()
    assert "does not exist on Sun 14 Mar 2027" in " ".join(form.errors["time"])


def test_a_repeated_time_when_the_clocks_go_back_is_the_first_and_said():
    form = _form("2026-11-01", "01:30")
    assert form.is_valid(), form.errors
    assert form.scheduled_start().utcoffset() == dt.timedelta(hours=-4)
    assert "happens twice" in form.ambiguous_note and "EDT (UTC-04:00)" in form.ambiguous_note


@settings(max_examples=40, deadline=None)
@given(
    zone=st.sampled_from([NY, ZoneInfo("Europe/London"), ZoneInfo("Australia/Sydney")]),
    at=st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2028, 1, 1)),
)
def test_an_accepted_time_is_stored_as_the_wall_clock_time_typed(zone, at):
    """Invariant: whatever is accepted shows back the same wall-clock time in the zone."""
    at = at.replace(second=0, microsecond=0)
    form = _form(at.date().isoformat(), f"{at:%H:%M}", zone)
    if form.is_valid():
        stored = form.scheduled_start().astimezone(dt.UTC).astimezone(zone)
        assert stored.replace(tzinfo=None) == at
    else:
        assert "does not exist" in " ".join(form.errors["time"])


@pytest.fixture
def office(clinic):
    clinic.working_days, clinic.day_starts, clinic.day_ends = "0123456", dt.time(9), dt.time(17)
    clinic.save()
    return clinic


def test_outside_hours_is_shown_under_time(nurse_client, office, filled_pump):
    day = timezone.localdate(timezone=office.tz) + dt.timedelta(days=3)
    url = reverse("dashboard:appointment_create", args=[filled_pump.patient_id])
    data = {"kind": "refill", "duration_minutes": "30", "day": day.isoformat(), "time": "06:00"}
    form = nurse_client.post(url, data).context["form"]
    assert any("outside the clinic's opening hours" in e for e in form.errors["time"])
    assert "day" not in form.errors


def test_moving_to_the_same_time_says_nothing_changed(nurse_client, office, filled_pump, nurse):
    day = timezone.localdate(timezone=office.tz) + dt.timedelta(days=3)
    start = dt.datetime.combine(day, dt.time(10), tzinfo=office.tz)
    appointment = services.appointment_book(pump=filled_pump, by=nurse, scheduled_start=start)
    url = reverse("dashboard:appointment_reschedule", args=[appointment.pk])
    html = nurse_client.post(
        url, {"day": day.isoformat(), "time": "10:00"}, follow=True
    ).content.decode()
    assert "Nothing changed" in html and "Appointment moved" not in html
    assert Appointment.objects.get(pk=appointment.pk).scheduled_start == start
