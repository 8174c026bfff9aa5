"""A second refill booked for the same pump (bookfix #4) warns and needs a reason: two
confirmation texts would go out and one visit would be wasted. Moving the existing one
never clashes with itself, and a replacement visit is not a refill."""

import datetime as dt

import pytest
from django.utils import timezone

from refills import services
from refills.models import Appointment, AppointmentKind, Override
from refills.services import ClinicalValidationError


def at(clinic, days, hour=10):
    day = timezone.localdate(timezone=clinic.tz) + dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(hour), tzinfo=clinic.tz)


def test_a_second_refill_for_the_same_pump_needs_a_reason(filled_pump, nurse):
    clinic = filled_pump.patient.clinic
    first = services.appointment_book(pump=filled_pump, by=nurse, scheduled_start=at(clinic, 3))
    with pytest.raises(ClinicalValidationError) as caught:
        services.appointment_book(pump=filled_pump, by=nurse, scheduled_start=at(clinic, 8))
    assert [f.code for f in caught.value.findings] == ["refill_already_booked"]
    assert "already booked for this pump" in str(caught.value)
    assert Appointment.objects.filter(pump=filled_pump).count() == 1
    # Moving the existing one is not a second booking.
    services.appointment_reschedule(appointment=first, by=nurse, scheduled_start=at(clinic, 4))
    # With a reason it is booked, and the reason is kept.
    second = services.appointment_book(
        pump=filled_pump,
        by=nurse,
        scheduled_start=at(clinic, 8),
        override_reason="Early top-up before travel, then the routine refill",
    )
    assert Override.objects.get(appointment=second).rule == "refill_already_booked"


def test_other_kinds_of_visit_do_not_count(filled_pump, nurse):
    clinic = filled_pump.patient.clinic
    services.appointment_book(pump=filled_pump, by=nurse, scheduled_start=at(clinic, 3))
    services.appointment_book(
        pump=filled_pump,
        by=nurse,
        scheduled_start=at(clinic, 9),
        kind=AppointmentKind.REPLACEMENT,
    )
