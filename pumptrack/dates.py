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


# What a person may type for a day: the pages' own text ("Tue 1 Dec 2026", "1 Dec 2026",
# "01 December 2026") and the ISO form the date inputs send. Day-first only: "1/12/2026"
# is ambiguous between clinics, so it is not guessed.
_TYPED_DAY_FORMATS = ("%Y-%m-%d", "%d %b %Y", "%d %B %Y", "%a %d %b %Y", "%A %d %B %Y")


def parse_day_text(text: str) -> dt.date | None:
    """The day written in `text` in one of the formats above, or None."""
    cleaned = " ".join(text.replace(",", " ").split())
    for format_string in _TYPED_DAY_FORMATS:
        try:
            return dt.datetime.strptime(cleaned, format_string).date()
        except ValueError:
            continue
    return None
