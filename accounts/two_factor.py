"""Two-factor sign-in (TOTP with django-otp).

Required for roles listed in PUMPTRACK_2FA_REQUIRED_ROLES (managers and
physicians by default: they see every patient and can override clinical
warnings) and available to everyone who enrols.
"""

from __future__ import annotations

import base64
import io

import qrcode
import qrcode.image.svg
from django.conf import settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User

DEVICE_NAME = "Authenticator app"


def two_factor_required(user: User) -> bool:
    roles = getattr(settings, "PUMPTRACK_2FA_REQUIRED_ROLES", ())
    return user.is_superuser or user.memberships.filter(role__in=roles).exists()


def confirmed_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def pending_device(user: User) -> TOTPDevice:
    """The unconfirmed device being enrolled; one at a time, made on first visit."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def qr_code_data_uri(device: TOTPDevice) -> str:
    """An SVG QR code as a data: URI, so no script or external request is needed."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def secret_for_manual_entry(device: TOTPDevice) -> str:
    return base64.b32encode(device.bin_key).decode().rstrip("=")
