"""Dates written for people, with Django's dateformat.

Day and month names come from Django's catalogue for the active language (English
here), never from the server's C locale, so a worker on another machine writes the
same text. One place for the formats that pages, messages and validation errors share.
"""

from __future__ import annotations

import datetime as dt

from django.utils import dateformat

WEEKDAY_DATE = "D j M Y"  # Tue 4 Mar 2025
WEEKDAY_DATE_PADDED = "D d M Y"  # Tue 04 Mar 2025
DATE_PADDED = "d M Y"  # 04 Mar 2025


def date_text(day: dt.date, format_string: str = WEEKDAY_DATE) -> str:
    return dateformat.format(day, format_string)
