"""Validators shared by patient-facing contact fields."""

from zoneinfo import ZoneInfo, available_timezones

from django.core.exceptions import ValidationError

# The phone helpers live in patients.phones; these names stay importable from here.
from .phones import normalize_phone, validate_e164

__all__ = ["normalize_phone", "region_timezones", "validate_e164", "validate_timezone", "zone"]


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


def validate_timezone(value) -> None:
    """A region zone's name, or a ZoneInfo of one (a RegionTimeZoneField's value)."""
    name = str(value or "")
    if name and name not in region_timezones():
        raise ValidationError(
            "Unknown time zone. Use a name such as America/New_York or Europe/London.",
            code="invalid_timezone",
        )


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
