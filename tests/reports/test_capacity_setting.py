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
