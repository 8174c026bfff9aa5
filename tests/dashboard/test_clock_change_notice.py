"""The pump-clock notice states the zone's real shift (issue 8 #11): Lord Howe moves 30 min."""

import datetime as dt
from zoneinfo import ZoneInfo

from django.template.loader import render_to_string

from refills.clock import clock_change_near


def _notice(zone: str, now: dt.datetime) -> str:
    change = clock_change_near(ZoneInfo(zone), now, days_before=14, days_after=14)
    assert change is not None
    return render_to_string(
        "dashboard/includes/clock_change.html", {"clock_change": change, "now": now}
    )


def test_lord_howe_notice_says_30_minutes_not_one_hour():
    html = _notice("Australia/Lord_Howe", dt.datetime(2025, 9, 28, tzinfo=dt.UTC))
    assert "(forward 30 minutes)" in html
    assert "run 30 minutes off the patient's day" in html
    assert "hour" not in html


def test_new_york_notice_says_one_hour():
    html = _notice("America/New_York", dt.datetime(2025, 10, 25, tzinfo=dt.UTC))
    assert "(back 1 hour)" in html
    assert "run 1 hour off the patient's day" in html
