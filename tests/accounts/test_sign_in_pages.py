"""Issue 12 #8, sign-in: the menu names the role, the last attempt is announced, the
lock-out page leads back, and signing out says so."""

import pytest
from django.test import override_settings
from django.urls import reverse

from accounts.models import Membership, Role
from tests.factories import ClinicFactory, staff

PASSWORD = "correct horse battery"


def wrong(client, username):
    return client.post(reverse("accounts:login"), {"username": username, "password": "nope"})


def test_the_warning_comes_before_the_last_attempt_only(client, nurse):
    pages = [wrong(client, nurse.username) for _ in range(4)]
    for page in pages[:3]:
        assert b"One attempt left" not in page.content
    assert b"One attempt left before a lock-out of 15 minutes" in pages[3].content
    locked = wrong(client, nurse.username)
    assert locked.status_code == 429
    assert b"locked on this computer for\n      15 minutes" in locked.content
    assert reverse("accounts:login").encode() in locked.content
    assert b"clinic manager" in locked.content


def test_an_unknown_username_gets_the_same_warning(client, db):
    """No account enumeration: the count is per username typed, account or not."""
    pages = [wrong(client, "nobody.here") for _ in range(4)]
    assert b"One attempt left" in pages[3].content


@override_settings(AXES_FAILURE_LIMIT=3, AXES_COOLOFF_TIME=0.5)
def test_the_numbers_come_from_the_axes_settings(client, nurse):
    pages = [wrong(client, nurse.username) for _ in range(2)]
    assert b"One attempt left" not in pages[0].content
    assert b"One attempt left before a lock-out of 30 minutes" in pages[1].content


def test_signing_out_says_so_with_a_way_back(as_user, nurse):
    client = as_user(nurse)
    response = client.post(reverse("accounts:logout"), follow=True)
    assert b"You are signed out of pumptrack" in response.content
    assert b'action="/accounts/login/"' in response.content
    assert client.get(reverse("dashboard:board")).status_code == 302


@pytest.mark.parametrize(
    ("roles", "shown"),
    [
        ([Role.NURSE], "(Nurse)"),
        ([Role.PHYSICIAN, Role.PHYSICIAN], "(Physician)"),
        ([Role.NURSE, Role.PHYSICIAN], "(Nurse at Alpha Clinic, Physician at Beta Clinic)"),
    ],
)
def test_the_menu_shows_the_name_and_the_role_per_clinic(as_user, db, roles, shown):
    clinics = [ClinicFactory(name=name) for name in ("Alpha Clinic", "Beta Clinic")]
    user = staff(clinics[0], roles[0], first_name="Demo", last_name="Login")
    for clinic, role in zip(clinics[1:], roles[1:], strict=False):
        Membership.objects.create(user=user, clinic=clinic, role=role)
    html = as_user(user).get(reverse("dashboard:board")).content.decode()
    assert "Demo Login" in html
    assert shown in html
