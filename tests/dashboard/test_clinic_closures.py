"""Clinic closures (holidays): a manager enters them on the clinic's Closures page.

Only a manager of the clinic may (any other role: 403; another clinic's clinic or
closure: 404, nothing of it read or changed); bad input is refused in place and saves
nothing; every change is in the audit trail with who made it.
"""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts import services as staff_services
from accounts.models import Role
from patients.models import ClinicClosure
from pumptrack.dates import date_text
from refills import services
from reports.audit import audit_entries
from tests.factories import staff

DAY = dt.timedelta(days=1)


def closures_url(clinic):
    return reverse("dashboard:clinic_closures", args=[clinic.pk])


def remove_url(closure):
    return reverse("dashboard:clinic_closure_remove", args=[closure.clinic_id, closure.pk])


def today(clinic):
    return timezone.localdate(timezone=clinic.tz)


def test_a_manager_adds_a_holiday_and_it_is_listed_and_audited(as_user, clinic, manager):
    client = as_user(manager)
    holiday = today(clinic) + 10 * DAY
    response = client.post(
        closures_url(clinic), {"first_day": holiday.isoformat(), "reason": "Public holiday"}
    )
    assert response.status_code == 302
    closure = ClinicClosure.objects.get(clinic=clinic)
    assert (closure.first_day, closure.last_day, closure.reason) == (
        holiday,
        holiday,
        "Public holiday",
    )
    html = client.get(closures_url(clinic)).content.decode()
    assert "Public holiday" in html and closure.days_text in html
    entries = [e for e in audit_entries(clinic_ids=[clinic.pk]) if e.model == "Clinic closure"]
    assert [(e.change, e.user_id) for e in entries] == [("created", manager.pk)]


def test_a_range_warns_about_visits_already_booked_on_those_days(
    as_user, clinic, manager, nurse, filled_pump
):
    start = today(clinic) + 5 * DAY
    services.appointment_book(
        pump=filled_pump,
        by=nurse,
        scheduled_start=dt.datetime.combine(start + DAY, dt.time(10), tzinfo=clinic.tz),
    )
    response = as_user(manager).post(
        closures_url(clinic),
        {
            "first_day": start.isoformat(),
            "last_day": (start + 2 * DAY).isoformat(),
            "reason": "Staff training",
        },
        follow=True,
    )
    html = response.content.decode()
    assert "1 appointment is booked on these days" in html
    assert ClinicClosure.objects.get().last_day == start + 2 * DAY


@pytest.mark.parametrize(
    ("first", "last", "reason", "message"),
    [
        (10, 8, "Holiday", "cannot be before the first day"),
        (10, 10 + 400, "Holiday", "at most 366 days"),
        (-5, -2, "Holiday", "have passed"),
        (10, None, "   ", "Say why the clinic is closed"),
    ],
)
def test_nonsense_is_refused_in_place_and_nothing_is_saved(
    as_user, clinic, manager, first, last, reason, message
):
    data = {"first_day": (today(clinic) + first * DAY).isoformat(), "reason": reason}
    if last is not None:
        data["last_day"] = (today(clinic) + last * DAY).isoformat()
    response = as_user(manager).post(closures_url(clinic), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ClinicClosure.objects.exists()


def test_an_overlapping_closure_is_refused_naming_the_one_recorded(clinic, manager):
    first = today(clinic) + 3 * DAY
    staff_services.clinic_closure_add(
        clinic=clinic, by=manager, first_day=first, last_day=first + 4 * DAY, reason="Move"
    )
    with pytest.raises(ValidationError) as caught:
        staff_services.clinic_closure_add(
            clinic=clinic, by=manager, first_day=first + 4 * DAY, reason="Holiday"
        )
    assert "already closed" in str(caught.value) and "Move" in str(caught.value)
    assert ClinicClosure.objects.count() == 1


def test_a_manager_removes_a_closure_and_the_removal_is_audited(as_user, clinic, manager):
    closure = staff_services.clinic_closure_add(
        clinic=clinic, by=manager, first_day=today(clinic) + 3 * DAY, reason="Holiday"
    )
    assert as_user(manager).post(remove_url(closure)).status_code == 302
    assert not ClinicClosure.objects.exists()
    entries = [e for e in audit_entries(clinic_ids=[clinic.pk]) if e.model == "Clinic closure"]
    assert sorted((e.change, e.user_id) for e in entries) == [
        ("created", manager.pk),
        ("deleted", manager.pk),
    ]
    # The trail says which days and why, not only "Clinic closure #3".
    day_text = date_text(today(clinic) + 3 * DAY)
    assert {e.record for e in entries} == {f"Clinic closure #{closure.pk} ({day_text}: Holiday)"}


def test_removing_a_closure_asks_first(as_user, clinic, manager):
    staff_services.clinic_closure_add(
        clinic=clinic, by=manager, first_day=today(clinic) + 3 * DAY, reason="Holiday"
    )
    html = as_user(manager).get(closures_url(clinic)).content.decode()
    assert "Open the clinic again on" in html and "Yes, remove this closure" in html


@pytest.mark.parametrize("role", [Role.NURSE, Role.PHYSICIAN, Role.SCHEDULER, Role.AUDITOR])
def test_other_roles_get_403_and_the_service_refuses_them_too(as_user, clinic, manager, role):
    closure = staff_services.clinic_closure_add(
        clinic=clinic, by=manager, first_day=today(clinic) + 3 * DAY, reason="Holiday"
    )
    user = staff(clinic, role)
    client = as_user(user)
    assert client.get(closures_url(clinic)).status_code == 403
    data = {"first_day": (today(clinic) + 9 * DAY).isoformat(), "reason": "Mine"}
    assert client.post(closures_url(clinic), data).status_code == 403
    assert client.post(remove_url(closure)).status_code == 403
    with pytest.raises(PermissionDenied):
        staff_services.clinic_closure_add(
            clinic=clinic, by=user, first_day=today(clinic) + 9 * DAY, reason="Mine"
        )
    with pytest.raises(PermissionDenied):
        staff_services.clinic_closure_remove(closure=closure, by=user)
    assert list(ClinicClosure.objects.values_list("reason", flat=True)) == ["Holiday"]


def test_another_clinics_closures_are_404(as_user, clinic, manager, other_clinic):
    other_manager = staff(other_clinic, Role.MANAGER)
    theirs = staff_services.clinic_closure_add(
        clinic=other_clinic,
        by=other_manager,
        first_day=today(other_clinic) + 3 * DAY,
        reason="Their secret holiday",
    )
    client = as_user(manager)
    assert client.get(closures_url(other_clinic)).status_code == 404
    assert client.post(remove_url(theirs)).status_code == 404
    # Their closure's id under our clinic's URL is not ours either.
    url = reverse("dashboard:clinic_closure_remove", args=[clinic.pk, theirs.pk])
    assert client.post(url).status_code == 404
    assert ClinicClosure.objects.filter(pk=theirs.pk).exists()
    assert "Their secret holiday" not in client.get(closures_url(clinic)).content.decode()
