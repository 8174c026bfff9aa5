"""Validators shared by patient-facing contact fields."""

from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
from django.core.exceptions import ValidationError


def normalize_phone(value: str, *, region: str = "US") -> str:
    """Return the number in E.164, or raise a ValidationError a nurse can act on."""
    value = (value or "").strip()
    if not value:
        return ""
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(
            "This does not look like a phone number. Enter it with the area code, "
            "for example +1 617 555 0142.",
            code="invalid_phone",
        ) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError(
            "This phone number is not valid. Check the digits and the country code.",
            code="invalid_phone",
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def validate_e164(value: str) -> None:
    if value and normalize_phone(value) != value:
        raise ValidationError(
            "Store phone numbers in international form, for example +16175550142.",
            code="invalid_phone",
        )


def region_timezones() -> set[str]:
    """The zones a clinic or patient may use: zoneinfo's Area/Location names, and UTC.
    Not the bare abbreviations and aliases (EST, GMT+0, Factory, localtime,
    posixrules), whose meaning is the server's or nobody's, nor the "right/" copies
    (leap seconds: wrong civil time) and "posix/" duplicates of system tz data."""
    return {
        name
        for name in available_timezones()
        if "/" in name and not name.startswith(("posix/", "right/"))
    } | {"UTC"}


def validate_timezone(value: str) -> None:
    if value and value not in region_timezones():
        raise ValidationError(
            "Unknown time zone. Use a name such as America/New_York or Europe/London.",
            code="invalid_timezone",
        )


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
