"""Model fields for patient and clinic data."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from timezone_field import TimeZoneField

from .validators import validate_timezone


class RegionTimeZoneField(TimeZoneField):
    """django-timezone-field (the value is a ZoneInfo, stored as its name) limited to the
    region zones of patients.validators.region_timezones, with its nurse-readable message.

    Two differences from the library's field, both to keep what the forms and services
    promise: an unknown name is kept as typed until validation refuses it (the library
    raises on assignment, before full_clean() can put the message on the field), and the
    choices are not written into migrations (they follow the machine's tz database, which
    would make `makemigrations --check` fail wherever it differs).
    """

    def __init__(self, *args, **kwargs):
        kwargs["use_pytz"] = False
        super().__init__(*args, **kwargs)

    def _get_python_and_db_repr(self, value):
        try:
            return super()._get_python_and_db_repr(value)
        except ValidationError:
            return (str(value), str(value))

    def validate(self, value, model_instance):
        validate_timezone(value)  # first, so a wrong name gets this message only
        super().validate(value, model_instance)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("use_pytz", None)
        return name, path, args, kwargs


def as_zone(value: ZoneInfo | str) -> ZoneInfo:
    """The zone of a RegionTimeZoneField value (a ZoneInfo, or a name not yet validated)."""
    return value if isinstance(value, ZoneInfo) else ZoneInfo(value)
