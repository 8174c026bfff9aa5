"""Time and wording helpers the tier rules share (pure; written out, not locale-dependent)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, tzinfo
from decimal import ROUND_HALF_UP, Decimal

from refills.risk.model import RiskInputs

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _utc(value: datetime | None) -> datetime | None:
    # Aware datetimes sharing one ZoneInfo subtract and compare by wall clock;
    # UTC makes every difference real elapsed time.
    return None if value is None else value.astimezone(UTC)


def _earliest_empty(inputs: RiskInputs) -> datetime | None:
    """The empty date the rules use: the conservative one, never later than the nominal."""
    dates = [_utc(d) for d in (inputs.conservative_empty_at, inputs.empty_at) if d is not None]
    return min(dates) if dates else None


def _start_of_day(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def _day_text(day: date, today: date) -> str:
    # Written out by hand so the text does not depend on the server locale.
    text = f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]}"
    return text if day.year == today.year else f"{text} {day.year}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _is_when(day: date, today: date) -> str:
    """'is 9 days away (Tue 1 Dec)', 'is today (...)', 'was 2 days ago (...)'."""
    days = (day - today).days
    shown = _day_text(day, today)
    if days > 1:
        return f"is {days} days away ({shown})"
    if days == 1:
        return f"is tomorrow ({shown})"
    if days == 0:
        return f"is today ({shown})"
    if days == -1:
        return f"was yesterday ({shown})"
    return f"was {-days} days ago ({shown})"


def _ml_text(value: Decimal) -> str:
    return f"{abs(value).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)} mL"
