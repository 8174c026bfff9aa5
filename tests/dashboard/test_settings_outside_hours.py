"""Changing hours or working days tells the manager how many visits already booked now
fall outside them, with a link to the calendar (bookfix #2)."""

import datetime as dt

from django.utils import timezone

from accounts.models import Role
from refills import services
from tests.dashboard.test_clinic_admin import settings_post, settings_url
from tests.factories import staff


def test_new_hours_count_the_visits_they_leave_out(client, as_user, clinic, filled_pump, nurse):
    clinic.working_days, clinic.day_starts, clinic.day_ends = "0123456", dt.time(8), dt.time(18)
    clinic.save()
    day = timezone.localdate(timezone=clinic.tz) + dt.timedelta(days=3)
    for hour in (9, 16):
        services.appointment_book(
            pump=filled_pump,
            by=nurse,
            scheduled_start=dt.datetime.combine(day, dt.time(hour), tzinfo=clinic.tz),
            kind="check",
        )
    as_user(staff(clinic, Role.MANAGER))
    # Closing at 16:15 leaves the 16:00 visit of 30 minutes out, not the 09:00 one.
    response = client.post(
        settings_url(clinic),
        settings_post(clinic, day_starts="08:00", day_ends="16:15"),
        follow=True,
    )
    html = response.content.decode()
    assert "1 appointment is already booked outside the clinic&#x27;s new hours" in html or (
        "1 appointment is already booked outside the clinic's new hours" in html
    )
    assert f"day={day.isoformat()}" in html and "see them on the calendar</a>" in html
    # The patient page flags the one visit left out, not the other.
    page = client.get(f"/patients/{filled_pump.patient.pk}/").content.decode()
    assert page.count("Outside the clinic&#x27;s working days or hours") == 1
    # Hours that fit every visit say nothing.
    html = client.post(
        settings_url(clinic), settings_post(clinic, day_ends="18:00"), follow=True
    ).content.decode()
    assert "already booked outside" not in html
