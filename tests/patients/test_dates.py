"""pumptrack.dates (Django's dateformat) writes exactly what the hand-written copies and
strftime wrote, for every day of a leap year and the next."""

import datetime as dt

from dashboard.chart import day_text
from pumptrack.dates import DATE_PADDED, WEEKDAY_DATE_PADDED, date_text
from refills.validation.dates import day_text as validation_day_text
from reminders.messages import format_date

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DAYS = [dt.date(2024, 1, 1) + dt.timedelta(days=n) for n in range(731)]


def test_the_weekday_date_is_what_pages_and_messages_wrote_by_hand():
    for day in DAYS:
        by_hand = f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]} {day.year}"
        assert date_text(day) == format_date(day) == day_text(day) == by_hand
        # refills.validation stays pure with its own copy; its messages match the pages.
        assert validation_day_text(day) == by_hand


def test_the_padded_formats_are_what_strftime_wrote_in_the_c_locale():
    for day in DAYS:
        assert date_text(day, WEEKDAY_DATE_PADDED) == f"{day:%a %d %b %Y}"
        assert date_text(day, DATE_PADDED) == f"{day:%d %b %Y}"


def test_a_moment_is_written_as_its_day_in_the_zone_asked_for():
    moment = dt.datetime(2025, 3, 4, 3, 0, tzinfo=dt.UTC)
    assert day_text(moment, dt.timezone(dt.timedelta(hours=-5))) == "Mon 3 Mar 2025"


def test_validation_messages_write_days_like_the_pages():
    from refills.validation import check_lot

    (finding,) = check_lot(
        lot_number="L1", lot_expiry=dt.date(2026, 11, 30), refill_day=dt.date(2026, 12, 1)
    )
    assert "Mon 30 Nov 2026" in finding.message and "Tue 1 Dec 2026" in finding.message
    assert "Tue 01 Dec" not in finding.message


def test_a_sweep_a_moment_ago_reads_just_now_never_0_minutes():
    from dashboard.templatetags.pumptrack_tags import ago

    now = dt.datetime(2026, 12, 1, 22, 0, tzinfo=dt.UTC)
    assert ago(now - dt.timedelta(seconds=20), now) == "just now"
    assert ago(now - dt.timedelta(minutes=1), now) == "1\xa0minute ago"
    assert ago(now - dt.timedelta(minutes=3), now) == "3\xa0minutes ago"
