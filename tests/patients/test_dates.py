"""pumptrack.dates (Django's dateformat) writes exactly what the hand-written copies and
strftime wrote, for every day of a leap year and the next."""

import datetime as dt

from dashboard.chart import day_text
from pumptrack.dates import DATE_PADDED, WEEKDAY_DATE_PADDED, date_text
from reminders.messages import format_date

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DAYS = [dt.date(2024, 1, 1) + dt.timedelta(days=n) for n in range(731)]


def test_the_weekday_date_is_what_pages_and_messages_wrote_by_hand():
    for day in DAYS:
        by_hand = f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]} {day.year}"
        assert date_text(day) == format_date(day) == day_text(day) == by_hand


def test_the_padded_formats_are_what_strftime_wrote_in_the_c_locale():
    for day in DAYS:
        assert date_text(day, WEEKDAY_DATE_PADDED) == f"{day:%a %d %b %Y}"
        assert date_text(day, DATE_PADDED) == f"{day:%d %b %Y}"


def test_a_moment_is_written_as_its_day_in_the_zone_asked_for():
    moment = dt.datetime(2025, 3, 4, 3, 0, tzinfo=dt.UTC)
    assert day_text(moment, dt.timezone(dt.timedelta(hours=-5))) == "Mon 3 Mar 2025"
