"""Authenticator devices (TOTP): add, remove and check a code.

Every add and remove is announced to the user by email, so a device added by
someone else is noticed. The emails carry no health data: what happened, when,
and whom to call.

Who may call these is the views' business: adding a device to an account that
already has one needs a session verified with a device and the password again;
removing one needs the password again (see accounts/views.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import two_factor
from accounts.models import User

logger = logging.getLogger(__name__)


class DeviceError(ValueError):
    """A device change refused for a reason the user can act on."""


@dataclass(frozen=True)
class CodeCheck:
    """The outcome of checking a sign-in code against a user's confirmed devices.

    ``device`` is the device that accepted it (None if none did). ``checked`` is
    False when every device was still waiting out django-otp's back-off, so the
    code was not looked at; ``retry_at`` is when the next try is allowed.
    """

    device: TOTPDevice | None
    checked: bool
    retry_at: dt.datetime | None


def _totp(device: TOTPDevice) -> TOTP:
    return TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)


# ------------------------------------------------------------------ the back-off, capped
#
# django-otp (1.7) waits OTP_TOTP_THROTTLE_FACTOR * 2**(n-1) seconds after the n-th
# wrong code in a row, with no useful upper limit: anyone who knows only the
# password could keep the real user out for ever by entering a wrong code each time
# the wait ends. Here the wait is min(that, PUMPTRACK_OTP_MAX_DELAY_SECONDS), without
# forking the library: our own gate applies the cap, and before a device is asked
# its failure count is lowered to the largest n whose uncapped wait still fits under
# the cap, so django-otp's own check inside verify_token never waits longer than ours.
#
# Guess rate at worst: one code per cap. With the default 300 s that is 288 guesses
# a day; a 6-digit TOTP with tolerance 1 accepts 3 of 10**6 codes, so about 1 chance
# in 1,160 per day (even odds after about 2 years of continuous guessing), and the
# owner is emailed about wrong codes (see device_wrong_code_notice below).


def _factor() -> float:
    return float(getattr(settings, "OTP_TOTP_THROTTLE_FACTOR", 1))


def _cap_seconds() -> float:
    return float(settings.PUMPTRACK_OTP_MAX_DELAY_SECONDS)


def _largest_count_under_cap() -> int:
    """The largest failure count n with factor * 2**(n-1) <= cap (at least 1)."""
    factor, cap = _factor(), _cap_seconds()
    if factor <= 0:
        return 1  # throttling is off; any count will do
    count = 1
    while factor * 2**count <= cap:
        count += 1
    return count


def throttle_delay_seconds(failure_count: int) -> float:
    """Seconds to wait after failure_count wrong codes in a row (0: none), capped."""
    factor = _factor()
    if factor <= 0 or failure_count <= 0:
        return 0.0
    # 2**62 s is far beyond any cap; the exponent is bounded so it stays cheap.
    return min(factor * 2 ** (min(failure_count, 63) - 1), _cap_seconds())


def _locked_until(device: TOTPDevice) -> dt.datetime | None:
    """When this device accepts a try again, or None if it does now."""
    if device.throttling_failure_timestamp is None:
        return None
    delay = throttle_delay_seconds(device.throttling_failure_count)
    until = device.throttling_failure_timestamp + dt.timedelta(seconds=delay)
    return until if timezone.now() < until else None


def _next_try(devices: list[TOTPDevice]) -> dt.datetime | None:
    """The earliest moment any of these devices accepts a try again (None: now)."""
    waits = []
    for device in devices:
        until = _locked_until(device)
        if until is None:
            return None
        waits.append(until)
    return min(waits) if waits else None


def device_check_code(*, user: User, token: str) -> CodeCheck:
    """Check a code against every confirmed device of the user, honouring the back-off.

    A device that is still waiting after a wrong code is not asked, so a right code
    typed too soon is reported as "too soon", never as wrong. The wait is capped at
    PUMPTRACK_OTP_MAX_DELAY_SECONDS. A wrong code (after a right password, since only
    such a session gets here) is announced to the owner: device_wrong_code_notice.
    """
    devices = two_factor.confirmed_devices(user)
    ready = [d for d in devices if _locked_until(d) is None]
    if not ready:
        return CodeCheck(device=None, checked=False, retry_at=_next_try(devices))
    ceiling = _largest_count_under_cap()
    for device in ready:
        # verify_token saves the device, so the lowered count is stored with the result.
        device.throttling_failure_count = min(device.throttling_failure_count, ceiling)
        if device.verify_token(token):
            return CodeCheck(device=device, checked=True, retry_at=None)
    device_wrong_code_notice(user=user, at=timezone.now())
    return CodeCheck(device=None, checked=True, retry_at=_next_try(devices))


def device_retry_at(*, user: User) -> dt.datetime | None:
    """When the user may next try a code, if every device is waiting out a back-off."""
    devices = two_factor.confirmed_devices(user)
    return _next_try(devices) if devices else None


def device_add(*, user: User, key: str, token: str, name: str = "") -> TOTPDevice:
    """Confirm the authenticator with this key by a current code from it, and store it.

    The key was shown to the user (QR code) and kept in their session; nothing is
    stored until a code proves the app holds it.
    """
    device = two_factor.unsaved_device(user, key, name.strip() or two_factor.DEVICE_NAME)
    totp = _totp(device)
    try:
        matched = totp.verify(int(token), device.tolerance)
    except (TypeError, ValueError):
        matched = False
    if not matched:
        raise DeviceError("That code did not match. Scan the code again and retry.")
    device.confirmed = True
    device.last_t = totp.t()  # the code just used cannot be replayed to sign in
    device.drift = totp.drift
    with transaction.atomic():
        # Left-overs of the enrolment this replaces (older versions stored them).
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        device.full_clean()
        device.save()
    _announce(user=user, what="added", device_name=device.name, at=timezone.now())
    logger.info("authenticator added", extra={"user_id": user.pk, "device_id": device.pk})
    return device


def device_remove(*, user: User, device_id: int) -> int:
    """Remove one of the user's own devices; returns how many confirmed devices remain.

    Raises TOTPDevice.DoesNotExist for a device that is not the user's.
    """
    device = TOTPDevice.objects.get(user=user, pk=device_id, confirmed=True)
    name = device.name
    device.delete()
    _announce(user=user, what="removed", device_name=name, at=timezone.now())
    logger.info("authenticator removed", extra={"user_id": user.pk, "device_id": device_id})
    return TOTPDevice.objects.filter(user=user, confirmed=True).count()


# --------------------------------------------------------------------------- email


def device_change_email(*, user: User, what: str, device_name: str, at: dt.datetime) -> tuple:
    """Subject and body of the notice (no health data: what, when, whom to call)."""
    local = timezone.localtime(at, two_factor.user_zone(user))
    when = f"{local:%A} {local.day} {local:%B %Y at %H:%M} ({local.tzname()})"
    subject = f"pumptrack: an authenticator was {what} on your account"
    if what == "added":
        change = (
            f'An authenticator app ("{device_name}") was added to your pumptrack sign-in '
            f"on {when}. Codes from it now let someone sign in with your password."
        )
    else:
        change = (
            f'The authenticator app "{device_name}" was removed from your pumptrack sign-in '
            f"on {when}."
        )
    body = (
        f"Hello {user.first_name or user.get_username()},\n\n"
        f"{change}\n\n"
        "If this was not you, call your clinic manager straight away: someone may know "
        "your password.\n\n"
        "This message was sent automatically by pumptrack."
    )
    return subject, body


def _announce(*, user: User, what: str, device_name: str, at: dt.datetime) -> None:
    if not user.email:
        logger.warning("no email address for a device notice", extra={"user_id": user.pk})
        return
    subject, body = device_change_email(user=user, what=what, device_name=device_name, at=at)
    # After commit: no notice for a change that was rolled back. robust: a mail
    # server that is down must not undo the change (it is logged instead).
    transaction.on_commit(
        partial(send_mail, subject, body, None, [user.email], fail_silently=False), robust=True
    )


# ------------------------------------------------------------------ wrong-code notice


def wrong_code_email(*, user: User, at: dt.datetime) -> tuple[str, str]:
    """Subject and body of the wrong-code notice (no health data: what, when, what to do)."""
    local = timezone.localtime(at, two_factor.user_zone(user))
    when = f"{local:%A} {local.day} {local:%B %Y at %H:%M} ({local.tzname()})"
    subject = "pumptrack: your password was used with a wrong two-factor code"
    body = (
        f"Hello {user.first_name or user.get_username()},\n\n"
        f"Your pumptrack password was used to sign in at {when} and a wrong "
        "two-factor code was entered. If this was not you, change your password now "
        "and tell your clinic manager.\n\n"
        "This message was sent automatically by pumptrack."
    )
    return subject, body


def device_wrong_code_notice(*, user: User, at: dt.datetime) -> bool:
    """Log a wrong sign-in code and email the owner, at most once per interval.

    The interval (PUMPTRACK_OTP_NOTICE_INTERVAL_MINUTES) is claimed with one
    conditional UPDATE, so concurrent wrong codes from several sessions or
    workers still send one email. Returns whether an email was queued.
    """
    logger.warning("wrong two-factor code after a right password", extra={"user_id": user.pk})
    interval = dt.timedelta(minutes=settings.PUMPTRACK_OTP_NOTICE_INTERVAL_MINUTES)
    claimed = (
        User.objects.filter(pk=user.pk)
        .filter(Q(two_factor_notice_at__isnull=True) | Q(two_factor_notice_at__lte=at - interval))
        .update(two_factor_notice_at=at)
    )
    if not claimed:
        return False
    if not user.email:
        logger.warning("no email address for a wrong-code notice", extra={"user_id": user.pk})
        return False
    subject, body = wrong_code_email(user=user, at=at)
    transaction.on_commit(
        partial(send_mail, subject, body, None, [user.email], fail_silently=False), robust=True
    )
    return True
