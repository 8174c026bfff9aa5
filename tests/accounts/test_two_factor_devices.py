"""Two-factor devices: no enrolment around a confirmed device, adding and removing
need the password again, every change is emailed, and the back-off is explained."""

import base64
import datetime as dt
import re

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Role
from tests.conftest import prove_mailbox, verify_second_factor
from tests.factories import PatientFactory, staff

PASSWORD = "correct horse battery"
START = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)  # 10:00 in New York


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def sign_in(client, user):
    response = client.post(
        reverse("accounts:login"), {"username": user.username, "password": PASSWORD}
    )
    assert response.status_code == 302
    return client


def code_for_key(hex_key: str) -> str:
    device = TOTPDevice(key=hex_key)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():06d}"


def code_for(device: TOTPDevice) -> str:
    return code_for_key(device.key)


def key_shown_on(page) -> str | None:
    """The hex key behind the manual-entry secret a set-up page shows, if it shows one."""
    match = re.search(rb'user-select-all">([A-Z2-7]+)<', page.content)
    if match is None:
        return None
    secret = match.group(1).decode()
    return base64.b32decode(secret + "=" * (-len(secret) % 8)).hex()


@pytest.fixture
def enrolled(physician):
    """A physician whose account already has a confirmed authenticator."""
    return TOTPDevice.objects.create(user=physician, name="Own phone", confirmed=True)


# --------------------------------------------------------------------------- the bypass


def test_a_password_alone_cannot_enrol_a_second_authenticator(client, physician, enrolled, clock):
    """Issue 9 #1: with the password only, set-up must not lead past the first device."""
    sign_in(client, physician)
    page = client.get(reverse("accounts:otp_setup"))
    key = key_shown_on(page) if page.status_code == 200 else None
    if key is not None:
        client.post(reverse("accounts:otp_setup"), {"token": code_for_key(key)})

    assert page.status_code == 302
    assert page["Location"].startswith(reverse("accounts:otp_verify"))
    assert list(TOTPDevice.objects.filter(user=physician)) == [enrolled]
    board = client.get(reverse("dashboard:board"))
    assert board.status_code == 302
    assert board["Location"].startswith(reverse("accounts:otp_verify"))


def test_set_up_posted_directly_by_a_password_only_session_is_refused(
    client, physician, enrolled, clock
):
    sign_in(client, physician)
    response = client.post(reverse("accounts:otp_setup"), {"token": "123456"})
    assert response["Location"].startswith(reverse("accounts:otp_verify"))
    assert TOTPDevice.objects.filter(user=physician).count() == 1


def test_first_enrolment_without_a_device_still_works_and_is_emailed(
    client, clinic, clock, django_capture_on_commit_callbacks
):
    manager = staff(clinic, Role.MANAGER)
    sign_in(client, manager)
    prove_mailbox(client, manager)
    mail.outbox.clear()
    page = client.get(reverse("accounts:otp_setup"))
    assert page.status_code == 200
    assert b'name="password"' not in page.content  # the sign-in just asked for it
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            reverse("accounts:otp_setup"), {"token": code_for_key(key_shown_on(page))}
        )
    assert done.status_code == 302
    assert client.get(reverse("dashboard:board")).status_code == 200
    assert [m.to for m in mail.outbox] == [[manager.email]]
    assert "added" in mail.outbox[0].subject


# --------------------------------------------------------------------------- adding


def test_adding_a_device_needs_a_verified_session_and_the_password(
    client, physician, enrolled, clock, django_capture_on_commit_callbacks
):
    client.force_login(physician)
    verify_second_factor(client, physician)
    before = set(TOTPDevice.objects.filter(user=physician).values_list("pk", flat=True))
    page = client.get(reverse("accounts:otp_setup"))
    assert page.status_code == 200
    assert b'name="password"' in page.content
    code = code_for_key(key_shown_on(page))

    for password in ("", "wrong password"):
        refused = client.post(
            reverse("accounts:otp_setup"), {"token": code, "password": password, "name": "Tab"}
        )
        assert refused.status_code == 200
    assert set(TOTPDevice.objects.filter(user=physician).values_list("pk", flat=True)) == before
    assert mail.outbox == []

    with django_capture_on_commit_callbacks(execute=True):
        added = client.post(
            reverse("accounts:otp_setup"), {"token": code, "password": PASSWORD, "name": "Tab"}
        )
    assert added["Location"] == reverse("accounts:devices")
    assert TOTPDevice.objects.filter(user=physician, name="Tab", confirmed=True).exists()
    assert len(mail.outbox) == 1


# --------------------------------------------------------------------------- listing, removing


def test_the_device_page_lists_only_the_users_own_devices(as_user, clinic, physician, enrolled):
    colleague = staff(clinic, Role.NURSE)
    TOTPDevice.objects.create(user=colleague, name="Colleague tablet", confirmed=True)
    page = as_user(physician).get(reverse("accounts:devices"))
    assert page.status_code == 200
    assert b"Own phone" in page.content
    assert b"Colleague tablet" not in page.content


def test_removing_a_device_needs_the_password_and_is_emailed(
    as_user, physician, enrolled, clock, django_capture_on_commit_callbacks
):
    client = as_user(physician)  # verified with the conftest's "Test authenticator"
    url = reverse("accounts:device_remove", args=[enrolled.pk])
    assert client.get(url).status_code == 200
    client.post(url, {"password": "wrong password"})
    assert TOTPDevice.objects.filter(pk=enrolled.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"password": PASSWORD})
    assert response["Location"] == reverse("accounts:devices")
    assert not TOTPDevice.objects.filter(pk=enrolled.pk).exists()
    assert len(mail.outbox) == 1 and "removed" in mail.outbox[0].subject


def test_nobody_removes_another_users_device(as_user, clinic, physician):
    colleague = staff(clinic, Role.NURSE)
    theirs = TOTPDevice.objects.create(user=colleague, name="phone", confirmed=True)
    client = as_user(physician)
    url = reverse("accounts:device_remove", args=[theirs.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"password": PASSWORD}).status_code == 404
    assert TOTPDevice.objects.filter(pk=theirs.pk).exists()


def test_a_password_only_session_cannot_list_or_remove_devices(client, physician, enrolled):
    sign_in(client, physician)
    for response in (
        client.get(reverse("accounts:devices")),
        client.post(reverse("accounts:device_remove", args=[enrolled.pk]), {"password": PASSWORD}),
    ):
        assert response["Location"].startswith(reverse("accounts:otp_verify"))
    assert TOTPDevice.objects.filter(pk=enrolled.pk).exists()


def test_removing_the_last_device_sends_the_user_to_set_up_again(as_user, client, physician):
    as_user(physician)
    only = TOTPDevice.objects.get(user=physician)
    response = client.post(
        reverse("accounts:device_remove", args=[only.pk]), {"password": PASSWORD}
    )
    assert response["Location"] == reverse("accounts:otp_setup")
    board = client.get(reverse("dashboard:board"))
    assert board["Location"].startswith(reverse("accounts:otp_setup"))
    client.logout()
    sign_in(client, physician)
    again = client.get(reverse("dashboard:board"))
    assert again["Location"].startswith(reverse("accounts:otp_setup"))


# --------------------------------------------------------------------------- the emails


def test_device_emails_say_what_when_and_whom_to_call_and_carry_no_health_data(
    as_user, clinic, physician, enrolled, clock, django_capture_on_commit_callbacks
):
    patient = PatientFactory(clinic=clinic, given_name="Eulalie", family_name="Mailcanary")
    client = as_user(physician)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("accounts:device_remove", args=[enrolled.pk]), {"password": PASSWORD})
    (message,) = mail.outbox
    text = message.subject + message.body
    assert '"Own phone"' in message.body
    assert "removed" in message.subject
    # When, in the clinic's zone (15:00 UTC is 10:00 in New York in March).
    assert "Monday 2 March 2026 at 10:00 (EST)" in message.body
    assert "if this was not you, call your clinic manager" in message.body.lower()
    for word in (patient.given_name, patient.family_name, patient.mrn):
        assert word not in text


# --------------------------------------------------------------------------- the back-off


def test_a_right_code_too_soon_after_a_wrong_one_is_not_called_wrong(client, physician, enrolled):
    with time_machine.travel(START, tick=False) as clock:
        sign_in(client, physician)
        wrong = client.post(reverse("accounts:otp_verify"), {"token": "000000"})
        assert b"did not match" in wrong.content
        assert b"try again in 1 second" in wrong.content

        too_soon = client.post(reverse("accounts:otp_verify"), {"token": code_for(enrolled)})
        assert too_soon.status_code == 200
        assert b"did not match" not in too_soon.content
        assert b"not checked" in too_soon.content
        assert b"try again in 1 second" in too_soon.content

        clock.shift(dt.timedelta(seconds=2))
        done = client.post(reverse("accounts:otp_verify"), {"token": code_for(enrolled)})
        assert done.status_code == 302
        assert client.get(reverse("dashboard:board")).status_code == 200


def test_a_long_back_off_is_shown_as_a_time_in_the_clinic_zone(
    client, physician, enrolled, settings
):
    settings.PUMPTRACK_OTP_MAX_DELAY_SECONDS = 3600  # above the 512 s wait below
    with time_machine.travel(START, tick=False):
        sign_in(client, physician)
        enrolled.throttling_failure_count = 9  # the next wait is 2**9 = 512 s
        enrolled.save()
        response = client.post(reverse("accounts:otp_verify"), {"token": "000000"})
    # Failed at 10:00:00 New York time; 2**9 s later is 10:08:32.
    assert b"try again at 10:08:32 (EST)" in response.content
