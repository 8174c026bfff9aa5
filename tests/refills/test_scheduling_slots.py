"""The refill proposal and the booking rules over generated clinics (refills/scheduling.py).

Invariants, for any clinic (zone, working days, opening hours, closures, appointments
already booked, how many it runs at once) and any refill-by date:

- every slot proposed before the refill-by date is on a working day that no closure
  covers, inside opening hours, free, ahead of now, and on or before the refill-by date;
- if any such slot exists, something is proposed (never "late"), and the latest proposal
  is the first free slot of the latest clinic day that has one (the morning of the last
  safe day: a slot, for the proposal, is a day's earliest free time);
- earlier proposals are at least the buffer before the refill-by date, one per day;
- when no such slot exists the one proposal is "late", and it is open, free and ahead;
- a booking gets no concern exactly when it is open and free.

The oracle below is written out again from the definitions, not with the module's helpers.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from refills.scheduling import (
    Busy,
    ClinicHours,
    Closure,
    Diary,
    booking_concerns,
    propose_slots,
)

ZONES = [
    ZoneInfo(name)
    for name in (
        "America/New_York",
        "Europe/London",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
        "Pacific/Auckland",
        "UTC",
    )
]
UTC = dt.UTC
NY = ZoneInfo("America/New_York")
BASE = dt.date(2026, 1, 1)
STEP = dt.timedelta(minutes=15)


@st.composite
def clinics(draw):
    zone = draw(st.sampled_from(ZONES))
    days = draw(st.frozensets(st.integers(0, 6), min_size=1))
    opens = draw(st.integers(0, 20 * 60))
    closes = min(opens + draw(st.integers(15, 12 * 60)), 24 * 60 - 1)
    today = BASE + dt.timedelta(days=draw(st.integers(0, 400)))
    closures = tuple(
        Closure(today + dt.timedelta(days=start), today + dt.timedelta(days=start + length), "Hol")
        for start, length in draw(
            st.lists(st.tuples(st.integers(-5, 40), st.integers(0, 8)), max_size=4)
        )
    )
    hours = ClinicHours(
        days,
        dt.time(opens // 60, opens % 60),
        dt.time(closes // 60, closes % 60),
        closures,
    )
    now = dt.datetime.combine(today, dt.time(draw(st.integers(0, 23)), draw(st.integers(0, 59))))
    now = now.replace(tzinfo=zone)
    minutes = draw(st.sampled_from([15, 30, 45, 60]))
    taken = []
    for offset, at, length in draw(
        st.lists(
            st.tuples(st.integers(0, 40), st.integers(0, 24 * 4 - 1), st.integers(1, 120)),
            max_size=25,
        )
    ):
        start = dt.datetime.combine(today + dt.timedelta(days=offset), dt.time.min, tzinfo=zone)
        start = (start.astimezone(UTC) + at * STEP).astimezone(zone)
        taken.append(Busy(start, start + dt.timedelta(minutes=length)))
    diary = Diary(tuple(taken), capacity=draw(st.integers(1, 2)), minutes=minutes)
    return zone, hours, now, diary


# --------------------------------------------------------------------------- the oracle


def _open(local: dt.datetime, hours: ClinicHours, minutes: int = 1) -> bool:
    """On a working day, not closed, from opening, and a visit of ``minutes`` has ended by
    closing time (real minutes)."""
    day = local.date()
    closed = any(c.first_day <= day <= c.last_day for c in hours.closures)
    closing = dt.datetime.combine(day, hours.day_ends, tzinfo=local.tzinfo).astimezone(UTC)
    return (
        day.weekday() in hours.working_days
        and not closed
        and hours.day_starts <= local.time()
        and local.astimezone(UTC) + dt.timedelta(minutes=minutes) <= closing
    )


def _day_minutes(hours: ClinicHours) -> int:
    opens = dt.datetime.combine(dt.date.min, hours.day_starts)
    return int((dt.datetime.combine(dt.date.min, hours.day_ends) - opens).total_seconds() // 60)


def _free(start: dt.datetime, diary: Diary) -> bool:
    begins = start.astimezone(UTC)
    ends = begins + dt.timedelta(minutes=diary.minutes)
    clashes = sum(1 for b in diary.taken if b.start < ends and begins < b.end)
    return clashes < diary.capacity


def _real(local: dt.datetime, zone) -> bool:
    back = local.astimezone(UTC).astimezone(zone)
    return back.replace(tzinfo=None) == local.replace(tzinfo=None)


def _good(slot: dt.datetime, *, zone, hours, now, diary) -> bool:
    local = slot.astimezone(zone)
    # A proposal's visit must end by closing; one longer than the whole day starts at opening.
    minutes = min(diary.minutes, _day_minutes(hours))
    return _real(local, zone) and _open(local, hours, minutes) and _free(slot, diary) and slot > now


def _safe_slots_by_day(*, zone, hours, now, diary, last_day) -> dict[dt.date, list[dt.datetime]]:
    """Every good slot on the grid from opening time, from today to ``last_day``."""
    found: dict[dt.date, list[dt.datetime]] = {}
    day = now.astimezone(zone).date()
    while day <= last_day:
        slot = dt.datetime.combine(day, hours.day_starts, tzinfo=zone)
        while slot.date() == day:
            if _good(slot, zone=zone, hours=hours, now=now, diary=diary):
                found.setdefault(day, []).append(slot)
            slot += STEP
        day += dt.timedelta(days=1)
    return found


# --------------------------------------------------------------------------- properties


@given(
    clinic=clinics(),
    refill_in=st.integers(-5, 40),
    buffer_days=st.integers(0, 10),
    earlier_count=st.integers(0, 4),
)
def test_every_proposal_is_open_free_ahead_and_the_latest_is_the_last_safe_day(
    clinic, refill_in, buffer_days, earlier_count
):
    zone, hours, now, diary = clinic
    refill_by = now.date() + dt.timedelta(days=refill_in)
    proposals = propose_slots(
        refill_by=refill_by,
        now=now,
        zone=zone,
        hours=hours,
        diary=diary,
        buffer_days=buffer_days,
        earlier_count=earlier_count,
    )
    safe = _safe_slots_by_day(zone=zone, hours=hours, now=now, diary=diary, last_day=refill_by)
    for slot in proposals.starts:
        assert _good(slot, zone=zone, hours=hours, now=now, diary=diary), slot
    if not safe:
        assert proposals.latest.late and proposals.earlier == ()
        return
    assert not proposals.latest.late
    for slot in proposals.starts:
        assert slot.astimezone(zone).date() <= refill_by
    last_day = max(safe)
    assert proposals.latest.start == min(safe[last_day])
    assert proposals.latest.on_refill_by == (last_day == refill_by)
    # Earlier ones: the first free slot of each of the latest days that leave the buffer.
    cutoff = min(last_day - dt.timedelta(days=1), refill_by - dt.timedelta(days=buffer_days))
    expected = [min(safe[day]) for day in sorted(safe, reverse=True) if day <= cutoff]
    assert list(proposals.earlier) == expected[:earlier_count]


@given(clinic=clinics(), offset=st.integers(0, 30 * 24 * 4))
def test_a_booking_raises_no_concern_exactly_when_it_is_open_and_free(clinic, offset):
    zone, hours, now, diary = clinic
    start = (now.astimezone(UTC) + offset * STEP).astimezone(zone)
    concerns = booking_concerns(
        start=start,
        minutes=diary.minutes,
        zone=zone,
        hours=hours,
        taken=diary.taken,
        capacity=diary.capacity,
    )
    codes = {c.code for c in concerns}
    assert (not concerns) == (_open(start, hours, diary.minutes) and _free(start, diary))
    assert ("slot_taken" in codes) == (not _free(start, diary))


# --------------------------------------------------------------------------- worked examples

OFFICE = ClinicHours(frozenset(range(5)), dt.time(9), dt.time(17))
MONDAY = dt.date(2026, 12, 7)


def at(day, hour, minute=0):
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=NY)


def test_six_in_the_morning_in_a_nine_to_five_clinic_is_outside_hours():
    (concern,) = booking_concerns(
        start=at(MONDAY, 6), minutes=30, zone=NY, hours=OFFICE, taken=(), capacity=1
    )
    assert concern.code == "outside_opening_hours"
    assert concern.message == (
        "06:00 is outside the clinic's opening hours (09:00 to 17:00, clinic time)."
    )


def test_a_holiday_and_a_saturday_and_a_taken_slot_each_say_why():
    holiday = ClinicHours(
        OFFICE.working_days,
        OFFICE.day_starts,
        OFFICE.day_ends,
        (Closure(MONDAY, MONDAY, "Public holiday"),),
    )
    (closed,) = booking_concerns(
        start=at(MONDAY, 10), minutes=30, zone=NY, hours=holiday, taken=(), capacity=1
    )
    assert closed.message == "The clinic is closed on Mon 7 Dec 2026: Public holiday."
    (weekend,) = booking_concerns(
        start=at(MONDAY - dt.timedelta(days=2), 10),
        minutes=30,
        zone=NY,
        hours=OFFICE,
        taken=(),
        capacity=1,
    )
    assert weekend.message == (
        "The clinic does not see patients on Saturdays (working days: Mon, Tue, Wed, Thu, Fri)."
    )
    booked = (Busy(at(MONDAY, 10), at(MONDAY, 10, 30)),)
    (taken,) = booking_concerns(
        start=at(MONDAY, 10, 15), minutes=30, zone=NY, hours=OFFICE, taken=booked, capacity=1
    )
    assert taken.code == "slot_taken" and "10:00–10:30" in taken.message
    assert (
        booking_concerns(
            start=at(MONDAY, 10, 15), minutes=30, zone=NY, hours=OFFICE, taken=booked, capacity=2
        )
        == []
    )
    # Back to back is not an overlap.
    assert (
        booking_concerns(
            start=at(MONDAY, 10, 30), minutes=30, zone=NY, hours=OFFICE, taken=booked, capacity=1
        )
        == []
    )


def test_the_proposal_skips_a_holiday_and_a_full_morning_and_offers_earlier_days():
    friday = MONDAY + dt.timedelta(days=4)
    hours = ClinicHours(
        OFFICE.working_days,
        OFFICE.day_starts,
        OFFICE.day_ends,
        (Closure(friday, friday, "Public holiday"),),
    )
    thursday = friday - dt.timedelta(days=1)
    taken = (Busy(at(thursday, 9), at(thursday, 10)),)
    proposals = propose_slots(
        refill_by=friday + dt.timedelta(days=10),  # a Monday; the clinic works
        now=at(MONDAY - dt.timedelta(days=7), 12),
        zone=NY,
        hours=hours,
        diary=Diary(taken, capacity=1, minutes=30),
        buffer_days=7,
        earlier_count=3,
    )
    refill_by = friday + dt.timedelta(days=10)
    assert proposals.latest.start == at(refill_by, 9) and proposals.latest.on_refill_by
    # At least 7 days before the refill-by Monday (the 21st): Mon 14th, then the week
    # before without its holiday Friday, and Thursday's first free slot after the 9-10.
    assert proposals.earlier == (
        at(MONDAY + dt.timedelta(days=7), 9),
        at(thursday, 10),
        at(thursday - dt.timedelta(days=1), 9),
    )
    # Refill-by on the holiday itself: the Thursday before, after the booked hour.
    proposal = propose_slots(
        refill_by=friday,
        now=at(MONDAY, 12),
        zone=NY,
        hours=hours,
        diary=Diary(taken, capacity=1, minutes=30),
    ).latest
    assert proposal.start == at(thursday, 10)
    assert "closed on the refill-by date (Public holiday)" in proposal.note


def test_a_visit_must_end_by_closing_time():
    """bookfix #3: 16:45 for 30 minutes and 16:30 for 480 minutes at a clinic closing at
    17:00 warn (as a 17:00 start does); 16:30 for 30 minutes ends at 17:00 and is fine."""

    def concerns(start, minutes):
        return booking_concerns(
            start=start, minutes=minutes, zone=NY, hours=OFFICE, taken=(), capacity=1
        )

    assert concerns(at(MONDAY, 16, 30), 30) == []
    late = concerns(at(MONDAY, 16, 45), 30)
    assert [c.code for c in late] == ["outside_opening_hours"]
    assert late[0].message == (
        "A 30-minute visit from 16:45 ends at 17:15, after the clinic closes "
        "(09:00 to 17:00, clinic time)."
    )
    assert [c.code for c in concerns(at(MONDAY, 16, 30), 480)] == ["outside_opening_hours"]
    assert [c.code for c in concerns(at(MONDAY, 17), 30)] == ["outside_opening_hours"]
    # The proposal follows the same rule: the last slot for a 30-minute visit is 16:30.
    proposal = propose_slots(refill_by=MONDAY, now=at(MONDAY, 16, 20), zone=NY, hours=OFFICE).latest
    assert proposal.start == at(MONDAY, 16, 30) and not proposal.late
    proposal = propose_slots(refill_by=MONDAY, now=at(MONDAY, 16, 35), zone=NY, hours=OFFICE).latest
    assert proposal.late
