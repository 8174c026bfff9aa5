"""Review finding: the lock-out page says "ask your clinic manager", so the manager
must see the lock-out on the staff page and be able to lift it, for their own
clinic's members only."""

import datetime as dt
import logging

import pytest
from axes.models import AccessAttempt
from django.core.exceptions import PermissionDenied
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts import selectors, services
from accounts.models import Membership, Role
from tests.conftest import verify_second_factor
from tests.factories import ClinicFactory, staff

PASSWORD = "correct horse battery"  # tests.factories.UserFactory's


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    verify_second_factor(client, user)
    return client


def lock_out(user) -> None:
    client = Client()
    for _ in range(5):
        response = client.post(
            reverse("accounts:login"), {"username": user.get_username(), "password": "nope"}
        )
    assert response.status_code == 429


def signs_in(user) -> bool:
    response = Client().post(
        reverse("accounts:login"), {"username": user.get_username(), "password": PASSWORD}
    )
    return response.status_code == 302


def unlock_url(clinic, user):
    membership = Membership.objects.get(clinic=clinic, user=user)
    return reverse("dashboard:staff_sign_in_unlock", args=[clinic.pk, membership.pk])


@pytest.fixture
def manager(clinic):
    return staff(clinic, Role.MANAGER)


@pytest.fixture
def clinic_b(db):
    return ClinicFactory(name="Clinic B")


@pytest.fixture
def manager_b(clinic_b):
    return staff(clinic_b, Role.MANAGER)


def test_the_staff_page_shows_the_lock_out_and_the_manager_lifts_it(
    clinic, manager, nurse, physician, caplog
):
    lock_out(nurse)
    assert not signs_in(nurse)
    client = signed_in(manager)
    page = client.get(reverse("dashboard:clinic_staff", args=[clinic.pk])).content.decode()
    assert page.count("locked out until") == 1  # the nurse only, not the physician
    last = AccessAttempt.objects.get(username=nurse.username).attempt_time
    until = timezone.localtime(last + dt.timedelta(minutes=15), clinic.tz)
    assert f"locked out until {until:%H:%M}" in page
    assert unlock_url(clinic, nurse) in page
    assert unlock_url(clinic, physician) not in page
    member_page = client.get(
        reverse(
            "dashboard:staff_member",
            args=[clinic.pk, Membership.objects.get(user=nurse).pk],
        )
    ).content.decode()
    assert f"Sign-in locked out until {until:%H:%M}" in member_page

    with caplog.at_level(logging.INFO, logger="accounts.services"):
        response = client.post(unlock_url(clinic, nurse), follow=True)
    assert "lock-out was lifted" in response.content.decode()
    assert "locked out until" not in response.content.decode()
    assert not AccessAttempt.objects.filter(username=nurse.username).exists()
    logged = [r.getMessage() for r in caplog.records if "lock-out" in r.getMessage()]
    assert logged == [
        f"sign-in lock-out of user {nurse.pk} lifted (1 records) by user {manager.pk} "
        f"at clinic {clinic.pk}"
    ]
    assert nurse.get_full_name() not in logged[0]
    assert signs_in(nurse)


def test_unlocking_is_a_post(clinic, manager, nurse):
    lock_out(nurse)
    response = signed_in(manager).get(unlock_url(clinic, nurse))
    assert response.status_code == 405
    assert AccessAttempt.objects.filter(username=nurse.username).exists()


def test_another_clinics_manager_cannot_unlock(clinic, clinic_b, nurse, manager_b):
    """Clinic B's manager, through either clinic's URL, gets a 404 and the lock stays."""
    lock_out(nurse)
    attacker = signed_in(manager_b)
    membership = Membership.objects.get(user=nurse)
    own_clinic_url = reverse("dashboard:staff_sign_in_unlock", args=[clinic_b.pk, membership.pk])
    assert attacker.post(unlock_url(clinic, nurse)).status_code == 404
    assert attacker.post(own_clinic_url).status_code == 404
    with pytest.raises(PermissionDenied):
        services.staff_sign_in_unlock(membership=membership, by=manager_b)
    assert AccessAttempt.objects.filter(username=nurse.username).exists()
    assert not signs_in(nurse)
    page = attacker.get(reverse("dashboard:clinic_staff", args=[clinic_b.pk])).content
    assert b"locked out until" not in page


def test_a_nurse_cannot_unlock_a_colleague(clinic, nurse, physician):
    lock_out(physician)
    assert signed_in(nurse).post(unlock_url(clinic, physician)).status_code == 403
    assert not signs_in(physician)


def test_a_platform_operators_lock_out_is_not_a_clinics(clinic, manager):
    operator = staff(clinic, Role.NURSE, is_superuser=True, is_staff=True)
    lock_out(operator)
    response = signed_in(manager).post(unlock_url(clinic, operator), follow=True)
    assert "lifted by operators" in response.content.decode()
    assert AccessAttempt.objects.filter(username=operator.username).exists()


@settings(max_examples=20, deadline=None)
@given(
    failures=st.integers(min_value=0, max_value=8),
    minutes_ago=st.integers(min_value=0, max_value=40),
)
@override_settings(AXES_FAILURE_LIMIT=5, AXES_COOLOFF_TIME=0.25)
def test_shown_locked_exactly_while_axes_locks(django_db_blocker, failures, minutes_ago):
    """Invariant: a member is shown locked out iff they have at least the limit of
    failures within the cool-off, and the time shown is the last failure plus the
    cool-off."""
    with django_db_blocker.unblock():
        from django.db import transaction

        with transaction.atomic():
            user = staff(ClinicFactory(), Role.NURSE)
            now = timezone.now()
            attempt = AccessAttempt.objects.create(
                username=user.username,
                ip_address="10.0.0.1",
                user_agent="test",
                failures_since_start=failures,
                get_data="",
                post_data="",
                http_accept="",
                path_info="/accounts/login/",
            )
            at = now - dt.timedelta(minutes=minutes_ago)
            AccessAttempt.objects.filter(pk=attempt.pk).update(attempt_time=at)
            shown = selectors.sign_in_locked_until(users=[user], now=now)
            transaction.set_rollback(True)
    locked = failures >= 5 and minutes_ago < 15
    assert (user.pk in shown) == locked
    if locked:
        assert shown[user.pk] == at + dt.timedelta(minutes=15)
