"""refills/clock.py: daylight-saving changes near a moment, found to the minute."""

import datetime as dt
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest

from refills.clock import clock_change_near, clock_changes

NY = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
UTC = dt.UTC


def test_finds_both_new_york_changes_of_2025_at_the_right_instant():
    changes = clock_changes(
        NY, dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert [c.at.astimezone(UTC) for c in changes] == [
        dt.datetime(2025, 3, 9, 7, 0, tzinfo=UTC),  # 02:00 EST -> 03:00 EDT
        dt.datetime(2025, 11, 2, 6, 0, tzinfo=UTC),  # 02:00 EDT -> 01:00 EST
    ]
    assert [c.shift for c in changes] == [dt.timedelta(hours=1), dt.timedelta(hours=-1)]


def test_southern_hemisphere_and_zones_without_changes():
    changes = clock_changes(
        SYDNEY, dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert [(c.at.date(), c.shift) for c in changes] == [
        (dt.date(2025, 4, 6), dt.timedelta(hours=-1)),
        (dt.date(2025, 10, 5), dt.timedelta(hours=1)),
    ]
    assert (
        clock_changes(UTC, dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2026, 1, 1, tzinfo=UTC))
        == []
    )


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (dt.datetime(2025, 10, 20, tzinfo=UTC), dt.date(2025, 11, 2)),  # 13 days ahead
        (dt.datetime(2025, 10, 18, tzinfo=UTC), None),  # 15 days ahead: not yet
        (dt.datetime(2025, 11, 15, tzinfo=UTC), dt.date(2025, 11, 2)),  # 13 days behind
        (dt.datetime(2025, 11, 17, tzinfo=UTC), None),  # 15 days behind: over
        (dt.datetime(2025, 6, 2, tzinfo=UTC), None),
    ],
)
def test_a_change_near_now(now, expected):
    change = clock_change_near(NY, now, days_before=14, days_after=14)
    assert (change.at.date() if change else None) == expected


def test_naive_times_are_refused():
    with pytest.raises(ValueError):
        clock_changes(NY, dt.datetime(2025, 1, 1), dt.datetime(2025, 2, 1, tzinfo=UTC))


def test_the_module_imports_no_django():
    code = "import sys, refills.clock; sys.exit(any(m.startswith('django') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


LORD_HOWE = ZoneInfo("Australia/Lord_Howe")


def test_lord_howe_changes_by_half_an_hour_and_says_so():
    changes = clock_changes(
        LORD_HOWE, dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert [(c.at.date(), c.shift) for c in changes] == [
        (dt.date(2025, 4, 6), dt.timedelta(minutes=-30)),
        (dt.date(2025, 10, 5), dt.timedelta(minutes=30)),
    ]
    assert [(c.direction, c.shift_text) for c in changes] == [
        ("back", "30 minutes"),
        ("forward", "30 minutes"),
    ]


def test_new_york_shift_is_one_hour_in_words():
    change = clock_change_near(
        NY, dt.datetime(2025, 3, 1, tzinfo=UTC), days_before=14, days_after=0
    )
    assert (change.direction, change.shift_text) == ("forward", "1 hour")


@pytest.mark.parametrize(
    ("minutes", "text"),
    [
        (30, "30 minutes"),
        (60, "1 hour"),
        (90, "1 hour 30 minutes"),
        (120, "2 hours"),
        (1, "1 minute"),
    ],
)
def test_duration_text(minutes, text):
    from refills.clock import duration_text

    assert duration_text(dt.timedelta(minutes=minutes)) == text
