"""Issue 9 #1, second pass: someone who knows only the password.

A wrong code after a right password is emailed to the owner (at most once per
interval, no health data); the back-off never exceeds PUMPTRACK_OTP_MAX_DELAY_SECONDS,
so the real user always gets in within that time; and the verify page says what a
back-off the user did not cause can mean.
"""

import datetime as dt
import logging

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from accounts import devices
from tests.accounts.test_two_factor_devices import START, code_for, sign_in
from tests.factories import PatientFactory

VERIFY = "accounts:otp_verify"
WARNING = b"someone may know your password"


@pytest.fixture
def enrolled(physician):
    return TOTPDevice.objects.create(user=physician, name="Own phone", confirmed=True)


def test_a_wrong_code_is_emailed_once_per_window_without_health_data(
    client, clinic, physician, enrolled, django_capture_on_commit_callbacks, caplog
):
    patient = PatientFactory(clinic=clinic, given_name="Eulalie", family_name="Mailcanary")
    with time_machine.travel(START, tick=False) as clock:
        sign_in(client, physician)
        with django_capture_on_commit_callbacks(execute=True), caplog.at_level(logging.INFO):
            client.post(reverse(VERIFY), {"token": "000000"})
        (message,) = mail.outbox
        assert message.to == [physician.email]
        # 15:00 UTC on 2 March 2026 is 10:00 in New York, the clinic's zone.
        assert (
            "Your pumptrack password was used to sign in at Monday 2 March 2026 at 10:00 (EST)"
            in message.body
        )
        assert "a wrong two-factor code was entered" in message.body
        assert "change your password now and tell your clinic manager" in message.body
        text = message.subject + message.body
        for word in (patient.given_name, patient.family_name, patient.mrn):
            assert word not in text
        records = [r for r in caplog.records if "wrong two-factor code" in r.getMessage()]
        assert records and all(r.user_id == physician.pk for r in records)
        assert all(physician.username not in r.getMessage() for r in records)

        # More wrong codes within the hour, from this session or another: no more email.
        for _ in range(5):
            clock.shift(dt.timedelta(minutes=11))  # past each back-off, within the hour
            with django_capture_on_commit_callbacks(execute=True):
                client.post(reverse(VERIFY), {"token": "000000"})
        assert len(mail.outbox) == 1

        clock.move_to(START + dt.timedelta(minutes=60))  # an hour after the first email
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse(VERIFY), {"token": "000000"})
        assert len(mail.outbox) == 2


def test_a_right_code_sends_no_wrong_code_email(
    client, physician, enrolled, django_capture_on_commit_callbacks
):
    with time_machine.travel(START, tick=False):
        sign_in(client, physician)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse(VERIFY), {"token": code_for(enrolled)})
    assert response.status_code == 302
    assert mail.outbox == []


def test_the_back_off_never_exceeds_the_cap_and_the_real_user_gets_in(
    client, physician, enrolled, settings
):
    """An attacker posting a wrong code each time the wait ends, for hours."""
    cap = settings.PUMPTRACK_OTP_MAX_DELAY_SECONDS
    with time_machine.travel(START, tick=False) as clock:
        sign_in(client, physician)
        for _ in range(40):
            response = client.post(reverse(VERIFY), {"token": "000000"})
            assert b"did not match" in response.content
            retry_at = devices.device_retry_at(user=physician)
            assert retry_at is not None
            wait = (retry_at - dt.datetime.now(dt.UTC)).total_seconds()
            assert 0 < wait <= cap
            clock.shift(dt.timedelta(seconds=wait))
        # The real user, one cap after the attacker's last guess at worst, is let in.
        client.post(reverse(VERIFY), {"token": "000000"})
        clock.shift(dt.timedelta(seconds=cap))
        done = client.post(reverse(VERIFY), {"token": code_for(enrolled)})
    assert done.status_code == 302


@hsettings(max_examples=30)
@given(
    failures=st.integers(min_value=0, max_value=10_000),
    cap=st.integers(min_value=1, max_value=86_400),
)
def test_the_delay_is_the_doubling_back_off_bounded_by_the_cap(failures, cap):
    """Invariant: 0 without failures; otherwise min(2**(n-1), cap), never above the cap."""
    from django.test import override_settings

    with override_settings(PUMPTRACK_OTP_MAX_DELAY_SECONDS=cap, OTP_TOTP_THROTTLE_FACTOR=1):
        delay = devices.throttle_delay_seconds(failures)
        assert delay <= cap
        if failures == 0:
            assert delay == 0
        else:
            assert delay == min(2 ** (min(failures, 63) - 1), cap)


def test_the_verify_page_says_what_a_back_off_can_mean(client, physician, enrolled):
    with time_machine.travel(START, tick=False):
        sign_in(client, physician)
        first = client.get(reverse(VERIFY))
        assert WARNING not in first.content
        wrong = client.post(reverse(VERIFY), {"token": "000000"})
        too_soon = client.post(reverse(VERIFY), {"token": code_for(enrolled)})
        later_visit = client.get(reverse(VERIFY))
    for response in (wrong, too_soon, later_visit):
        assert b"If you did not just enter a wrong code, " + WARNING in response.content
        assert b"tell your clinic manager" in response.content
        assert reverse("accounts:password_reset").encode() in response.content


def test_the_password_reset_link_signs_out_first(client, physician, enrolled):
    """The half-signed-in session reaches only the verify page: the way out is sign-out."""
    with time_machine.travel(START, tick=False):
        sign_in(client, physician)
        client.post(reverse(VERIFY), {"token": "000000"})
        response = client.post(
            reverse("accounts:logout"), {"next": reverse("accounts:password_reset")}
        )
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_reset")
    assert client.get(reverse("accounts:password_reset")).status_code == 200
