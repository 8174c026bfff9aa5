"""Clinic working hours: the proposed refill appointment falls on a day and time the clinic is open.

The pure proposal is in refills/scheduling.py; each clinic keeps its own working
weekdays and opening hours (patients.Clinic), defaulting to PUMPTRACK_CLINIC_HOURS.
"""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from patients.models import Clinic
from refills.models import PumpForecast
from refills.scheduling import ClinicHours, latest_safe_start
from tests.factories import ClinicFactory

NY = ZoneInfo("America/New_York")
OFFICE = ClinicHours(frozenset(range(5)), dt.time(9), dt.time(17))  # Mon–Fri 09:00–17:00
TUE_TO_SAT = ClinicHours(frozenset({1, 2, 3, 4, 5}), dt.time(8), dt.time(16))
MONDAY = dt.date(2025, 3, 3)


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=NY)


def days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


# --------------------------------------------------------------------------- pure


def test_a_clinic_open_on_saturday_gets_a_saturday_proposal():
    sunday = MONDAY + days(13)
    proposal = latest_safe_start(refill_by=sunday, now=at(MONDAY, 12), zone=NY, hours=TUE_TO_SAT)
    assert proposal.start == at(MONDAY + days(12), 8)  # Saturday, opening time
    assert proposal.start.strftime("%A") == "Saturday"
    assert not proposal.on_refill_by and not proposal.late
    assert (
        "This is the day before the refill-by date: the refill-by date is not a clinic working day."
        in proposal.note
    )


def test_a_clinic_closed_on_monday_proposes_the_saturday_before():
    monday = MONDAY + days(14)
    proposal = latest_safe_start(refill_by=monday, now=at(MONDAY, 12), zone=NY, hours=TUE_TO_SAT)
    assert proposal.start == at(MONDAY + days(12), 8)
    proposal = latest_safe_start(refill_by=monday, now=at(MONDAY, 12), zone=NY, hours=OFFICE)
    assert proposal.start == at(monday, 9) and proposal.on_refill_by


def test_the_opening_time_is_the_first_slot_of_the_day():
    friday = MONDAY + days(4)
    proposal = latest_safe_start(refill_by=friday, now=at(MONDAY, 12), zone=NY, hours=TUE_TO_SAT)
    assert proposal.start == at(friday, 8)
    # Before opening on the refill-by day itself: the opening time, not a slot at dawn.
    proposal = latest_safe_start(refill_by=friday, now=at(friday, 6), zone=NY, hours=TUE_TO_SAT)
    assert proposal.start == at(friday, 8) and not proposal.late


def test_no_slot_is_proposed_that_would_end_after_closing():
    saturday = MONDAY + days(5)
    proposal = latest_safe_start(
        refill_by=saturday, now=at(saturday, 15, 20), zone=NY, hours=TUE_TO_SAT
    )
    # A 30-minute visit from 15:30 ends at 16:00, when the clinic closes: it fits.
    assert proposal.start == at(saturday, 15, 30) and not proposal.late
    # 15:35: the next slot, 15:45, would end at 16:15, after closing.
    proposal = latest_safe_start(
        refill_by=saturday, now=at(saturday, 15, 35), zone=NY, hours=TUE_TO_SAT
    )
    assert proposal.late
    assert proposal.start == at(saturday + days(3), 8)  # Tuesday: Sunday and Monday closed


def test_a_late_proposal_is_the_next_open_slot_not_the_middle_of_the_night():
    wednesday = MONDAY + days(2)
    proposal = latest_safe_start(
        refill_by=wednesday, now=at(wednesday, 18, 30), zone=NY, hours=OFFICE
    )
    assert proposal.late and "without an override" in proposal.note
    assert proposal.start == at(wednesday + days(1), 9)
    friday = MONDAY + days(4)
    proposal = latest_safe_start(refill_by=MONDAY, now=at(friday, 17, 5), zone=NY, hours=OFFICE)
    assert proposal.late and proposal.start == at(MONDAY + days(7), 9)


def test_defaults_keep_monday_to_friday_nine_to_five():
    defaults = settings.PUMPTRACK_CLINIC_HOURS  # with no PUMPTRACK_CLINIC_* variables set
    assert defaults == {
        "WORKING_DAYS": (0, 1, 2, 3, 4),
        "DAY_STARTS": dt.time(9),
        "DAY_ENDS": dt.time(17),
    }
    sunday = MONDAY + days(13)
    proposal = latest_safe_start(refill_by=sunday, now=at(MONDAY, 12), zone=NY, hours=OFFICE)
    assert proposal.start == at(MONDAY + days(11), 9)  # the Friday before, 09:00
    wednesday = MONDAY + days(2)
    proposal = latest_safe_start(
        refill_by=wednesday, now=at(wednesday, 13, 7), zone=NY, hours=OFFICE
    )
    assert proposal.start == at(wednesday, 13, 15)


@pytest.mark.parametrize(
    ("working_days", "starts", "ends"),
    [
        (frozenset(), dt.time(9), dt.time(17)),
        (frozenset({7}), dt.time(9), dt.time(17)),
        (frozenset({0}), dt.time(17), dt.time(9)),
        (frozenset({0}), dt.time(9), dt.time(9)),
    ],
)
def test_clinic_hours_refuse_nonsense(working_days, starts, ends):
    with pytest.raises(ValueError):
        ClinicHours(working_days, starts, ends)


# --------------------------------------------------------------------------- settings


def test_the_environment_sets_the_defaults_and_nonsense_is_refused_at_start_up():
    from pumptrack.settings.base import _clinic_hours

    hours = _clinic_hours(["Tue", "wed", "thu", "fri", "sat", ""], "08:00", "16:00")
    assert hours == {
        "WORKING_DAYS": (1, 2, 3, 4, 5),
        "DAY_STARTS": dt.time(8),
        "DAY_ENDS": dt.time(16),
    }
    for bad in (
        (["funday"], "09:00", "17:00"),
        ([], "09:00", "17:00"),
        (["mon"], "9am", "17:00"),
        (["mon"], "17:00", "09:00"),
    ):
        with pytest.raises(ImproperlyConfigured):
            _clinic_hours(*bad)


# --------------------------------------------------------------------------- the clinic


def _new_clinic() -> Clinic:
    """A clinic with the model's defaults (the test factory opens its clinics all day)."""
    return Clinic.objects.create(name="Defaults ITB Clinic", phone="+16175550100")


def test_a_new_clinic_takes_the_default_hours(db):
    clinic = _new_clinic()
    clinic.refresh_from_db()
    assert clinic.working_days == "01234"
    assert ClinicHours.of(clinic) == OFFICE


def test_a_new_clinic_follows_the_settings_in_force(db, settings):
    settings.PUMPTRACK_CLINIC_HOURS = {
        "WORKING_DAYS": (1, 2, 3, 4, 5),
        "DAY_STARTS": dt.time(8),
        "DAY_ENDS": dt.time(16),
    }
    assert ClinicHours.of(_new_clinic()) == TUE_TO_SAT


def test_clinic_validation_needs_a_working_day_and_opening_before_closing(db):
    clinic = ClinicFactory()
    clinic.working_days = ""
    clinic.day_starts, clinic.day_ends = dt.time(17), dt.time(9)
    with pytest.raises(ValidationError) as caught:
        clinic.full_clean()
    assert set(caught.value.message_dict) == {"working_days", "day_ends"}
    clinic.working_days = "0077"
    with pytest.raises(ValidationError) as caught:
        clinic.full_clean()
    assert "working_days" in caught.value.message_dict


@pytest.mark.parametrize(
    "values",
    [{"working_days": ""}, {"day_starts": dt.time(17), "day_ends": dt.time(9)}],
)
def test_the_database_refuses_a_clinic_that_is_never_open(db, values):
    clinic = ClinicFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Clinic.objects.filter(pk=clinic.pk).update(**values)


def test_the_admin_edits_working_days_as_tick_boxes(as_user, db):
    from accounts.models import User

    clinic = ClinicFactory()
    client = as_user(User.objects.create_superuser("admin-hours", "a@example.org", "unused-123"))
    url = reverse("admin:patients_clinic_change", args=[clinic.pk])
    page = client.get(url).content.decode()
    assert 'type="checkbox" name="working_days" value="0"' in page
    data = {
        "name": clinic.name,
        "timezone": clinic.timezone,
        "phone": clinic.phone,
        "after_hours_phone": "",
        "default_refill_margin_days": 3,
        "working_days": ["5", "1", "2", "3", "4"],
        "day_starts": "08:00",
        "day_ends": "16:00",
    }
    assert client.post(url, data).status_code == 302
    clinic.refresh_from_db()
    assert clinic.working_days == "12345"
    assert ClinicHours.of(clinic) == TUE_TO_SAT
    response = client.post(url, {**data, "working_days": [], "day_ends": "07:00"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Choose at least one working day." in html
    assert "must close after it opens" in html
    clinic.refresh_from_db()
    assert clinic.working_days == "12345"
    changelist = client.get(reverse("admin:patients_clinic_changelist")).content.decode()
    assert "Tue–Sat 08:00–16:00" in changelist


# --------------------------------------------------------------------------- the pages


def test_the_booking_page_proposes_a_slot_in_the_clinics_hours(nurse_client, filled_pump):
    """A clinic open Tuesday to Saturday: refill-by on a Monday proposes the Saturday before."""
    from dashboard.selectors import clinic_today

    clinic = filled_pump.patient.clinic
    clinic.working_days, clinic.day_starts, clinic.day_ends = "12345", dt.time(8), dt.time(16)
    clinic.save()
    today = clinic_today(clinic)
    monday = today + days(14 - today.weekday())  # a Monday at least 8 days ahead
    PumpForecast.objects.filter(pump=filled_pump).update(refill_by=monday)
    url = reverse("dashboard:appointment_create", args=[filled_pump.patient_id])
    html = nurse_client.get(url).content.decode()
    saturday = monday - days(2)
    assert f'value="{saturday.isoformat()}"' in html
    assert 'value="08:00"' in html
