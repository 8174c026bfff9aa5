"""Refill slots per day: a clinic setting a manager edits on the clinic settings page,
which the capacity report reads."""

import pytest
from django.urls import reverse

from accounts.models import Role
from tests.dashboard.test_clinic_admin import settings_post, settings_url
from tests.factories import staff


def test_a_manager_sets_the_refill_slots_and_capacity_follows(client, as_user, clinic):
    as_user(staff(clinic, Role.MANAGER))
    page = client.get(settings_url(clinic)).content.decode()
    assert 'name="refill_slots_per_day"' in page
    response = client.post(
        settings_url(clinic),
        settings_post(clinic, refill_slots_per_day=3, working_days=list("01234")),
    )
    assert response.status_code == 302
    clinic.refresh_from_db()
    assert clinic.refill_slots_per_day == 3
    report = client.get(reverse("reports:capacity")).context["report"]
    # 3 slots on each of the 5 working days of a whole week (the second row).
    assert report.tables[0].rows[1][2] == 15


@pytest.mark.parametrize("value", ["0", "-2", "501", "many"])
def test_a_nonsense_slot_count_is_refused_and_nothing_changes(client, as_user, clinic, value):
    as_user(staff(clinic, Role.MANAGER))
    before = clinic.refill_slots_per_day
    response = client.post(settings_url(clinic), settings_post(clinic, refill_slots_per_day=value))
    assert response.status_code == 200
    clinic.refresh_from_db()
    assert clinic.refill_slots_per_day == before


def test_a_nurse_cannot_change_the_slots(client, as_user, clinic):
    as_user(staff(clinic, Role.NURSE))
    response = client.post(settings_url(clinic), settings_post(clinic, refill_slots_per_day=99))
    assert response.status_code == 403
    clinic.refresh_from_db()
    assert clinic.refill_slots_per_day == 8


def test_a_closed_day_is_taken_off_the_week_slots(client, as_user, clinic):
    """bookfix #5: a week with a closure shows fewer slots (a closed day offers none)."""
    import datetime as dt

    from django.utils import timezone

    from accounts import services as staff_services

    manager = staff(clinic, Role.MANAGER)
    as_user(manager)
    client.post(
        settings_url(clinic),
        settings_post(clinic, refill_slots_per_day=3, working_days=list("01234")),
    )
    today = timezone.localdate(timezone=clinic.tz)
    next_monday = today + dt.timedelta(days=7 - today.weekday())
    # Wednesday to Saturday closed (Saturday is no working day anyway).
    staff_services.clinic_closure_add(
        clinic=clinic,
        by=manager,
        first_day=next_monday + dt.timedelta(days=2),
        last_day=next_monday + dt.timedelta(days=5),
        reason="Move to the new building",
    )
    rows = client.get(reverse("reports:capacity")).context["report"].tables[0].rows
    assert rows[1][2] == 3 * 2  # Monday and Tuesday only
    assert rows[2][2] == 15
