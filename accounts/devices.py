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

from django.core.mail import send_mail
from django.db import transaction
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


def _next_try(devices: list[TOTPDevice]) -> dt.datetime | None:
    """The earliest moment any of these devices accepts a try again (None: now)."""
    waits = []
    for device in devices:
        allowed, data = device.verify_is_allowed()
        if allowed:
            return None
        waits.append((data or {}).get("locked_until"))
    known = [w for w in waits if w is not None]
    return min(known) if known else None


def device_check_code(*, user: User, token: str) -> CodeCheck:
    """Check a code against every confirmed device of the user, honouring the back-off.

    A device that is still waiting after a wrong code is not asked, so a right code
    typed too soon is reported as "too soon", never as wrong.
    """
    devices = two_factor.confirmed_devices(user)
    ready = [d for d in devices if d.verify_is_allowed()[0]]
    if not ready:
        return CodeCheck(device=None, checked=False, retry_at=_next_try(devices))
    for device in ready:
        if device.verify_token(token):
            return CodeCheck(device=device, checked=True, retry_at=None)
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
