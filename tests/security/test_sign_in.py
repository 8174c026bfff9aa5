"""Sign-in: lockout after repeated failures, two-factor for managers and physicians, idle expiry."""

import datetime as dt

import pytest
import time_machine
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import two_factor
from accounts.models import Role
from tests.conftest import prove_mailbox
from tests.factories import staff

PASSWORD = "correct horse battery"


@pytest.fixture
def clock():
    with time_machine.travel(dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC), tick=False) as c:
        yield c


def sign_in(client, user, password=PASSWORD):
    return client.post(reverse("accounts:login"), {"username": user.username, "password": password})


def current_token(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def test_nurse_signs_in_with_password_alone(client, nurse):
    response = sign_in(client, nurse)
    assert response.status_code == 302
    assert client.get(reverse("dashboard:board")).status_code == 200


def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(client, nurse):
    for _ in range(5):
        assert sign_in(client, nurse, "wrong password").status_code in (200, 429)
    locked = sign_in(client, nurse)
    assert locked.status_code == 429
    assert b"Too many failed sign-ins" in locked.content
    assert "_auth_user_id" not in client.session


def test_lockout_is_per_username_so_colleagues_can_still_sign_in(client, clinic, nurse):
    colleague = staff(clinic, Role.NURSE)
    for _ in range(5):
        sign_in(client, nurse, "wrong password")
    assert sign_in(client, colleague).status_code == 302


@pytest.mark.parametrize("role", [Role.PHYSICIAN, Role.MANAGER])
def test_physicians_and_managers_must_enrol_in_two_factor(client, clinic, role, clock):
    user = staff(clinic, role)
    sign_in(client, user)

    response = client.get(reverse("dashboard:board"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:otp_setup"))

    page = client.get(reverse("accounts:otp_setup"))
    assert page.status_code == 200
    # The password alone does not show the secret: the mailbox first.
    assert b"data:image/svg+xml;base64," not in page.content
    prove_mailbox(client, user)
    page = client.get(reverse("accounts:otp_setup"))
    assert page.status_code == 200
    assert b"data:image/svg+xml;base64," in page.content
    # The key being enrolled stays in the session: nothing is stored before a code proves it.
    assert not TOTPDevice.objects.filter(user=user).exists()
    key = client.session[two_factor.PENDING_KEY_SESSION_KEY]
    app = TOTPDevice(key=key)

    wrong = client.post(reverse("accounts:otp_setup"), {"token": "000000"})
    assert b"did not match" in wrong.content
    assert not TOTPDevice.objects.filter(user=user).exists()
    done = client.post(reverse("accounts:otp_setup"), {"token": current_token(app)})
    assert done.status_code == 302
    device = TOTPDevice.objects.get(user=user)
    assert device.confirmed and device.key == key
    assert client.get(reverse("dashboard:board")).status_code == 200


def test_enrolled_user_must_enter_a_code_at_each_sign_in(client, physician, clock):
    device = TOTPDevice.objects.create(user=physician, name="phone", confirmed=True)
    sign_in(client, physician)

    response = client.get(reverse("dashboard:board"))
    assert response["Location"].startswith(reverse("accounts:otp_verify"))
    refused = client.post(reverse("accounts:otp_verify"), {"token": "123456"})
    assert b"did not match" in refused.content
    assert client.get(reverse("dashboard:board")).status_code == 302

    clock.shift(dt.timedelta(seconds=5))  # past django-otp's throttle after a wrong code
    client.post(reverse("accounts:otp_verify"), {"token": current_token(device)})
    assert client.get(reverse("dashboard:board")).status_code == 200


def test_two_factor_redirect_never_leaves_the_site(client, physician):
    device = TOTPDevice.objects.create(user=physician, name="phone", confirmed=True)
    sign_in(client, physician)
    response = client.post(
        reverse("accounts:otp_verify") + "?next=https://evil.example.com/",
        {"token": current_token(device)},
    )
    assert response["Location"] == "/"


def test_idle_session_ends_after_thirty_minutes(client, nurse):
    start = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False) as clock:
        sign_in(client, nurse)
        clock.shift(dt.timedelta(minutes=29))
        assert client.get(reverse("dashboard:board")).status_code == 200
        # Activity pushed the expiry forward: another 29 minutes is still fine.
        clock.shift(dt.timedelta(minutes=29))
        assert client.get(reverse("dashboard:board")).status_code == 200
        clock.shift(dt.timedelta(minutes=31))
        response = client.get(reverse("dashboard:board"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("weak", ["password", "12345678", "short"])
def test_weak_passwords_are_refused(weak):
    with pytest.raises(ValidationError):
        validate_password(weak)
