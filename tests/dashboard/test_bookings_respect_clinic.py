"""Bookings that respect the clinic (issue 12 item 3): outside opening hours, on a day the
clinic does not work or is closed, or in a slot already taken, a booking or a move needs a
reason, which is kept (an Override on the appointment) and shown; a normal booking is
never questioned. The calendar greys closed days and links its weekly counts."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import services as staff_services
from refills import services
from refills.models import Appointment, Override
from refills.services import ClinicalValidationError
from tests.factories import PatientFactory, PumpFactory

DAY = dt.timedelta(days=1)
CALENDAR = reverse("dashboard:calendar")


@pytest.fixture
def office(clinic):
    """Monday to Friday, 09:00 to 17:00."""
    clinic.working_days, clinic.day_starts, clinic.day_ends = "01234", dt.time(9), dt.time(17)
    clinic.save()
    return clinic


def next_weekday(clinic, weekday: int, weeks_ahead: int = 1) -> dt.date:
    today = timezone.localdate(timezone=clinic.tz)
    return today + dt.timedelta(days=(weekday - today.weekday()) % 7 + 7 * weeks_ahead)


def at(clinic, day, hour, minute=0):
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=clinic.tz)


def codes(caught) -> list[str]:
    return [f.code for f in caught.value.findings]


def test_a_normal_booking_is_not_questioned(office, filled_pump, nurse):
    tuesday = next_weekday(office, 1)
    appointment = services.appointment_book(
        pump=filled_pump, by=nurse, scheduled_start=at(office, tuesday, 10)
    )
    assert not appointment.overrides.exists()


def test_six_in_the_morning_needs_a_reason_which_is_kept(office, filled_pump, nurse):
    tuesday = next_weekday(office, 1)
    with pytest.raises(ClinicalValidationError) as caught:
        services.appointment_book(
            pump=filled_pump, by=nurse, scheduled_start=at(office, tuesday, 6)
        )
    assert codes(caught) == ["outside_opening_hours"]
    assert "06:00 is outside the clinic's opening hours (09:00 to 17:00" in str(caught.value)
    assert not Appointment.objects.exists()
    appointment = services.appointment_book(
        pump=filled_pump,
        by=nurse,
        scheduled_start=at(office, tuesday, 6),
        override_reason="Patient's only transport arrives at 06:00",
    )
    (override,) = appointment.overrides.all()
    assert override.rule == "outside_opening_hours"
    assert override.reason == "Patient's only transport arrives at 06:00"
    assert override.overridden_by == nurse


def test_a_weekend_and_a_holiday_each_need_a_reason(office, filled_pump, nurse, manager):
    saturday = next_weekday(office, 5)
    with pytest.raises(ClinicalValidationError) as caught:
        services.appointment_book(
            pump=filled_pump, by=nurse, scheduled_start=at(office, saturday, 10)
        )
    assert codes(caught) == ["clinic_not_working_day"]
    wednesday = next_weekday(office, 2)
    staff_services.clinic_closure_add(
        clinic=office, by=manager, first_day=wednesday, reason="Public holiday"
    )
    with pytest.raises(ClinicalValidationError) as caught:
        services.appointment_book(
            pump=filled_pump, by=nurse, scheduled_start=at(office, wednesday, 10)
        )
    assert codes(caught) == ["clinic_closed"]
    assert "Public holiday" in str(caught.value)


def test_a_double_booking_at_the_clinic_needs_a_reason_but_a_move_never_clashes_with_itself(
    office, filled_pump, nurse, filler
):
    other = filler(PumpFactory(patient=PatientFactory(clinic=office)), nurse, days_ago=30)
    tuesday = next_weekday(office, 1)
    first = services.appointment_book(
        pump=filled_pump, by=nurse, scheduled_start=at(office, tuesday, 10)
    )
    with pytest.raises(ClinicalValidationError) as caught:
        services.appointment_book(pump=other, by=nurse, scheduled_start=at(office, tuesday, 10, 15))
    assert codes(caught) == ["slot_taken"] and "10:00–10:30" in str(caught.value)
    # Right after it is free; and moving the first by 15 minutes overlaps only itself.
    services.appointment_book(pump=other, by=nurse, scheduled_start=at(office, tuesday, 10, 30))
    with pytest.raises(ClinicalValidationError):  # ...but now 10:15 runs into 10:30
        services.appointment_reschedule(
            appointment=first, by=nurse, scheduled_start=at(office, tuesday, 10, 15)
        )
    services.appointment_reschedule(
        appointment=first, by=nurse, scheduled_start=at(office, tuesday, 9, 45)
    )
    assert Override.objects.count() == 0


def test_the_booking_page_asks_for_the_reason_and_the_patient_page_shows_it(
    as_user, office, filled_pump, nurse
):
    client = as_user(nurse)
    url = reverse("dashboard:appointment_create", args=[filled_pump.patient_id])
    saturday = next_weekday(office, 5)
    data = {"kind": "refill", "day": saturday.isoformat(), "time": "07:00", "duration_minutes": 30}
    html = client.post(url, data).content.decode()
    assert "The clinic does not see patients on Saturdays" in html
    assert "07:00 is outside the clinic&#x27;s opening hours" in html
    assert "To proceed, give an override reason." in html
    assert not Appointment.objects.exists()
    response = client.post(url, {**data, "override_reason": "Only day the family can drive"})
    assert response.status_code == 302
    page = client.get(reverse("dashboard:patient", args=[filled_pump.patient_id])).content
    page = page.decode()
    assert "Booked anyway: Only day the family can drive" in page
    assert "The clinic does not see patients on Saturdays" in page


def test_the_week_greys_a_closure_hides_closed_weekdays_and_links_the_counts(
    as_user, office, filled_pump, nurse, manager
):
    wednesday = next_weekday(office, 2)
    staff_services.clinic_closure_add(
        clinic=office, by=manager, first_day=wednesday, reason="Staff training"
    )
    html = as_user(nurse).get(CALENDAR, {"day": wednesday.isoformat()}).content.decode()
    cards = html.split('class="card mb-2 calendar-day')[1:]
    shown = [card.split('<h3 class="h6 mb-0">')[1].split("<")[0] for card in cards]
    assert len(shown) == 5  # Monday to Friday; the weekend is not shown
    closed = [card for card in cards if "calendar-closed" in card.split(">")[0]]
    assert len(closed) == 1 and "Closed: Staff training" in closed[0]
    # The weekly counts lead to those patients on the board.
    refill_by = filled_pump.forecast.refill_by
    monday = refill_by - dt.timedelta(days=refill_by.weekday())
    start = max(monday, timezone.localdate(timezone=office.tz))
    link = (
        f'href="/?clinic={office.pk}&amp;due_from={start.isoformat()}'
        f'&amp;due_to={(monday + 6 * DAY).isoformat()}"'
    )
    assert link in html
    board = as_user(nurse).get(
        "/",
        {
            "clinic": office.pk,
            "due_from": start.isoformat(),
            "due_to": (monday + 6 * DAY).isoformat(),
        },
    )
    assert filled_pump.patient.family_name in board.content.decode()
    later = as_user(nurse).get(
        "/", {"clinic": office.pk, "due_from": (monday + 7 * DAY).isoformat()}
    )
    assert filled_pump.patient.family_name not in later.content.decode()
