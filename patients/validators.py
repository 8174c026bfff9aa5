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


def normalize_mrn(text: str) -> str:
    """The MRN as stored: as typed, without the spaces around it (its case is kept: a
    record number is never silently rewritten)."""
    return (text or "").strip()


def mrn_key(text: str) -> str:
    """What makes two MRNs the same record number within a clinic: case and the spaces
    around it do not count (the database constraint compares Upper(Trim(mrn)))."""
    return normalize_mrn(text).upper()
