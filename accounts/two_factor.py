"""Two-factor sign-in (TOTP with django-otp): who needs it, and where a session stands.

Required for roles listed in PUMPTRACK_2FA_REQUIRED_ROLES (managers and
physicians by default: they see every patient and can override clinical
warnings) and available to everyone who enrols.

A session has completed sign-in when it has passed the second factor, or when
the user has no confirmed device and their roles do not require one (password
alone is then the whole sign-in). A user with a confirmed device must verify
with it before anything else, whatever their role.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from zoneinfo import ZoneInfo

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.util import random_hex

from accounts.models import User

DEVICE_NAME = "Authenticator app"
# The key of the authenticator being enrolled lives in the session until a code
# from it is confirmed: nothing is written to the database before that.
PENDING_KEY_SESSION_KEY = "pumptrack_pending_totp_key"
_SIGN_IN_COMPLETE_ATTR = "_pumptrack_sign_in_complete"


def _required_roles() -> tuple[str, ...]:
    return tuple(getattr(settings, "PUMPTRACK_2FA_REQUIRED_ROLES", ()))


def role_requires_two_factor(role: str) -> bool:
    return role in _required_roles()


def two_factor_required(user: User) -> bool:
    return user.is_superuser or user.memberships.filter(role__in=_required_roles()).exists()


def confirmed_devices(user: User) -> list[TOTPDevice]:
    return list(TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk"))


def has_confirmed_device(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def sign_in_complete(request: HttpRequest) -> bool:
    """Whether this session may see anything clinical (computed once per request)."""
    cached = getattr(request, _SIGN_IN_COMPLETE_ATTR, None)
    if cached is not None:
        return cached
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        complete = False
    elif user.is_verified():
        complete = True
    else:
        complete = not has_confirmed_device(user) and not two_factor_required(user)
    setattr(request, _SIGN_IN_COMPLETE_ATTR, complete)
    return complete


def pending_key(request: HttpRequest) -> str:
    """The hex key of the authenticator being enrolled in this session; made on first visit."""
    key = request.session.get(PENDING_KEY_SESSION_KEY)
    if not key:
        key = random_hex(20)
        request.session[PENDING_KEY_SESSION_KEY] = key
    return key


def forget_pending_key(request: HttpRequest) -> None:
    request.session.pop(PENDING_KEY_SESSION_KEY, None)


def unsaved_device(user: User, key: str, name: str = DEVICE_NAME) -> TOTPDevice:
    """A device object for the QR code and the code check; never saved here."""
    return TOTPDevice(user=user, key=key, name=name or DEVICE_NAME, confirmed=False)


def qr_code_data_uri(device: TOTPDevice) -> str:
    """An SVG QR code as a data: URI, so no script or external request is needed."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def secret_for_manual_entry(device: TOTPDevice) -> str:
    return base64.b32encode(device.bin_key).decode().rstrip("=")


def user_zone(user: User) -> ZoneInfo:
    """The zone of the user's (first) clinic, for times shown to them."""
    name = user.memberships.order_by("clinic_id").values_list("clinic__timezone", flat=True).first()
    return ZoneInfo(str(name or settings.PUMPTRACK_DEFAULT_CLINIC_TIMEZONE))


# ------------------------------------------------------------------ proof of the mailbox
#
# A first authenticator is enrolled only by a session that proved it reaches the
# account's mailbox (an emailed code, accounts/enrolment.py; or the invitation link the
# account was just created through) or that was verified with a device of this account
# moments ago (removing the last one). The proof is bound to the user and expires.

OWNER_PROVEN_SESSION_KEY = "pumptrack_owner_proven"
ENROLMENT_CODE_SESSION_KEY = "pumptrack_enrolment_code"


def remember_owner_proven(request: HttpRequest, user: User) -> None:
    minutes = settings.PUMPTRACK_ENROLMENT_CODE["PROOF_MINUTES"]
    until = timezone.now() + dt.timedelta(minutes=minutes)
    request.session[OWNER_PROVEN_SESSION_KEY] = {"user": user.pk, "until": until.timestamp()}
    request.session.pop(ENROLMENT_CODE_SESSION_KEY, None)


def owner_proven(request: HttpRequest) -> bool:
    proof = request.session.get(OWNER_PROVEN_SESSION_KEY)
    if not isinstance(proof, dict) or proof.get("user") != request.user.pk:
        return False
    return timezone.now().timestamp() < float(proof.get("until", 0))


def forget_owner_proven(request: HttpRequest) -> None:
    request.session.pop(OWNER_PROVEN_SESSION_KEY, None)
    request.session.pop(ENROLMENT_CODE_SESSION_KEY, None)


def remember_enrolment_code(request: HttpRequest, *, code_id: int, nonce: str) -> None:
    request.session[ENROLMENT_CODE_SESSION_KEY] = {
        "user": request.user.pk,
        "id": code_id,
        "nonce": nonce,
    }


def enrolment_code_in_session(request: HttpRequest) -> tuple[int | None, str]:
    """The code row this session asked for and its nonce ((None, "") if none)."""
    sent = request.session.get(ENROLMENT_CODE_SESSION_KEY)
    if not isinstance(sent, dict) or sent.get("user") != request.user.pk:
        return None, ""
    return sent.get("id"), str(sent.get("nonce", ""))
