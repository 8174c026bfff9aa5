"""Phone numbers: parsed, checked and formatted by django-phonenumber-field.

The models' phone columns are PhoneNumberFields (stored as E.164 strings); these
helpers are for numbers as a nurse types them and as a patient reads them, with
messages a nurse can act on instead of the library's generic one.
"""

from __future__ import annotations

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from phonenumber_field.phonenumber import PhoneNumber

NOT_A_NUMBER = (
    "This does not look like a phone number. Enter it with the area code, "
    "for example +1 617 555 0142."
)
NOT_VALID = "This phone number is not valid. Check the digits and the country code."
NOT_E164 = "Store phone numbers in international form, for example +16175550142."


def _typed(value: str | PhoneNumber | None) -> str:
    """The text as typed: a model's phone attribute is a PhoneNumber that keeps it."""
    if isinstance(value, PhoneNumber):
        return value.raw_input or str(value)
    return str(value or "")


def parse_phone(value: str | PhoneNumber | None, *, region: str | None = None) -> PhoneNumber:
    """The number as a PhoneNumber, or a ValidationError a nurse can act on. A national
    number ("(617) 555-0142") is read in `region`, by default PHONENUMBER_DEFAULT_REGION
    (clinics have no country of their own yet)."""
    try:
        number = PhoneNumber.from_string(
            _typed(value).strip(), region=region or settings.PHONENUMBER_DEFAULT_REGION
        )
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(NOT_A_NUMBER, code="invalid_phone") from exc
    if not number.is_valid():
        raise ValidationError(NOT_VALID, code="invalid_phone")
    return number


def normalize_phone(value: str | PhoneNumber | None, *, region: str | None = None) -> str:
    """Return the number in E.164 ("" for a blank one), or raise a ValidationError a
    nurse can act on."""
    if not _typed(value).strip():
        return ""
    return parse_phone(value, region=region).as_e164


def validate_e164(value: str | PhoneNumber | None) -> None:
    """Accept only the stored form: E.164, or blank."""
    text = str(value or "")
    if text and normalize_phone(text) != text:
        raise ValidationError(NOT_E164, code="invalid_phone")


def phone_text(value: str | PhoneNumber | None) -> str:
    """+16175550100 -> '+1 617-555-0100' (readable, and dialable from abroad). A number
    that cannot be read is shown as stored; a blank one as ""."""
    text = str(value or "")
    try:
        # No default region: only a number stored with its country code is reformatted.
        number = phonenumbers.parse(text, None, keep_raw_input=True, numobj=PhoneNumber())
    except phonenumbers.NumberParseException:
        return text
    return number.as_international
