"""Days written into validation messages, the way every page writes them: "Tue 1 Dec 2026".

Written out by hand, not with strftime ("%a %d %b" pads the day and follows the
server's C locale) nor Django's dateformat: refills.validation stays pure (no Django
import). tests/patients/test_dates.py keeps it equal to pumptrack.dates.date_text for
every day of two years.
"""

from __future__ import annotations

import datetime as dt

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day_text(day: dt.date) -> str:
    """'Tue 1 Dec 2026' (a datetime is written as its own calendar day)."""
    if isinstance(day, dt.datetime):
        day = day.date()
    return f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"
