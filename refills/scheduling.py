"""When a refill can be booked: the clinic's opening hours, closures and taken slots.

The guard on refill bookings (refills/services/appointments.py ``appointment_findings``) must never
stand between a patient and the soonest visit. A refill may be booked without a
physician's override on any clinic day up to ``latest_day_without_override``: the
refill-by date, or, when the clinic cannot offer a slot that early (the refill-by date
has passed, or the clinic is shut until after it), the earliest day it can offer, and
never less than ``grace_working_days`` working days after today (an overdue patient is
booked for today or the next working day by a nurse or scheduler, not a physician).
Only a later date needs the override.

A booking outside opening hours, on a day the clinic does not work or is closed, or in a
slot already taken is never accepted silently: ``booking_concerns`` names each problem
and the service asks for a reason to proceed.

Pure Python: the caller passes the clinic's zone, its opening hours and closures, the
slots already taken and the current instant. Days are calendar days in the clinic's zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

# Proposed times fall on this grid from the opening time (09:00, 09:15, ...).
SLOT_MINUTES = 15

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_UTC = dt.UTC


def day_text(day: dt.date) -> str:
    """ "Tue 1 Dec 2026", as pumptrack.dates writes it (spelt out: this module is pure)."""
    return f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


class HasOpeningHours(Protocol):
    """What ClinicHours.of reads: patients.models.Clinic has these attributes."""

    working_weekdays: frozenset[int]
    day_starts: dt.time
    day_ends: dt.time


@dataclass(frozen=True)
class Closure:
    """Days the clinic is shut (first and last included), with the reason staff see."""

    first_day: dt.date
    last_day: dt.date
    reason: str

    def covers(self, day: dt.date) -> bool:
        return self.first_day <= day <= self.last_day


class Busy(NamedTuple):
    """An appointment already booked: its start and end instants (aware)."""

    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class ClinicHours:
    """When a clinic sees patients: weekdays (Monday = 0), opening hours (clinic time) and
    the days it is closed. ``day_ends`` is the model's "closes at": every visit must have
    ended by then (a 16:45 visit of 30 minutes at a clinic closing at 17:00 does not fit),
    in proposals and in the booking warnings alike."""

    working_days: frozenset[int]
    day_starts: dt.time
    day_ends: dt.time
    closures: tuple[Closure, ...] = ()

    def __post_init__(self) -> None:
        if not self.working_days:
            raise ValueError("A clinic needs at least one working day.")
        if not set(self.working_days) <= set(range(7)):
            raise ValueError("Working days are weekday numbers from 0 (Monday) to 6 (Sunday).")
        if self.day_starts >= self.day_ends:
            raise ValueError("The clinic must open before it closes.")
        object.__setattr__(self, "working_days", frozenset(self.working_days))
        object.__setattr__(self, "closures", tuple(self.closures))

    @classmethod
    def of(cls, clinic: HasOpeningHours, closures: Iterable[Closure] = ()) -> ClinicHours:
        return cls(
            working_days=frozenset(clinic.working_weekdays),
            day_starts=clinic.day_starts,
            day_ends=clinic.day_ends,
            closures=tuple(closures),
        )

    def closure_on(self, day: dt.date) -> Closure | None:
        return next((closure for closure in self.closures if closure.covers(day)), None)

    def works_on_weekday(self, day: dt.date) -> bool:
        return day.weekday() in self.working_days

    def is_working_day(self, day: dt.date) -> bool:
        """A working weekday that no closure covers."""
        return self.works_on_weekday(day) and self.closure_on(day) is None

    def is_open_at(self, local: dt.datetime) -> bool:
        """``local`` (clinic time) is on a working day, inside opening hours."""
        return self.is_working_day(local.date()) and (
            self.day_starts <= local.time() < self.day_ends
        )

    @property
    def open_minutes(self) -> int:
        """How long the clinic is open on a working day (wall clock)."""
        opens = dt.datetime.combine(dt.date.min, self.day_starts)
        return (dt.datetime.combine(dt.date.min, self.day_ends) - opens) // dt.timedelta(minutes=1)

    def fits_in_hours(self, local: dt.datetime, minutes: int) -> bool:
        """A visit of ``minutes`` from ``local`` (clinic time) starts at or after opening
        and has ended by closing time on the same day (real minutes: a daylight-saving
        change in between is counted as it happens)."""
        if local.time() < self.day_starts:
            return False
        closing = dt.datetime.combine(local.date(), self.day_ends, tzinfo=local.tzinfo)
        return end_of(local, minutes) <= closing.astimezone(_UTC)


# --------------------------------------------------------------------------- slots


def end_of(start: dt.datetime, minutes: int) -> dt.datetime:
    """The instant ``minutes`` after ``start`` (real time, not wall-clock arithmetic)."""
    return start.astimezone(_UTC) + dt.timedelta(minutes=minutes)


def overlapping(start: dt.datetime, minutes: int, taken: Iterable[Busy]) -> list[Busy]:
    end = end_of(start, minutes)
    return [busy for busy in taken if busy.start < end and start < busy.end]


def is_free(start: dt.datetime, minutes: int, taken: Sequence[Busy], capacity: int) -> bool:
    """Fewer than ``capacity`` booked appointments overlap [start, start + minutes).

    Conservative: it counts every appointment that overlaps the slot, even two that do
    not overlap each other, so it may call a slot full that would just fit, never the
    reverse."""
    return len(overlapping(start, minutes, taken)) < capacity


def _exists(local: dt.datetime, zone: dt.tzinfo) -> bool:
    """False for a wall-clock time skipped by a daylight-saving change (02:30 on the
    spring-forward night): no appointment can start then."""
    return local.astimezone(_UTC).astimezone(zone).replace(tzinfo=None) == local.replace(
        tzinfo=None
    )


def open_slots_on(
    day: dt.date, local_now: dt.datetime, hours: ClinicHours, minutes: int = SLOT_MINUTES
) -> Iterator[dt.datetime]:
    """Every slot of ``day`` (clinic time, on the grid from the opening time) where a
    visit of ``minutes`` fits inside opening hours, on a working day, still ahead of
    ``local_now``."""
    if not hours.is_working_day(day):
        return
    zone = local_now.tzinfo
    # A visit longer than the opening day still gets the opening slot: proposals must
    # always find a day (earliest_slot would otherwise search for ever).
    minutes = min(minutes, hours.open_minutes)
    slot = dt.datetime.combine(day, hours.day_starts, tzinfo=zone)
    step = dt.timedelta(minutes=SLOT_MINUTES)
    while slot.date() == day and slot.time() < hours.day_ends:
        if slot > local_now and _exists(slot, zone) and hours.fits_in_hours(slot, minutes):
            yield slot
        slot += step  # wall-clock step: the grid stays on the clinic's clock


def first_free_slot(
    day: dt.date,
    local_now: dt.datetime,
    hours: ClinicHours,
    *,
    taken: Sequence[Busy] = (),
    capacity: int = 1,
    minutes: int = 30,
) -> dt.datetime | None:
    """The earliest open, free slot of ``day`` still ahead, or None."""
    for slot in open_slots_on(day, local_now, hours, minutes):
        if is_free(slot, minutes, taken, capacity):
            return slot
    return None


def first_open_slot(local_now: dt.datetime, day: dt.date, hours: ClinicHours):
    """The first slot on ``day`` that is still ahead and inside opening hours, or None."""
    return first_free_slot(day, local_now, hours)


def earliest_slot(
    *,
    now: dt.datetime,
    zone: dt.tzinfo,
    hours: ClinicHours,
    taken: Sequence[Busy] = (),
    capacity: int = 1,
    minutes: int = 30,
) -> dt.datetime:
    """The soonest free slot the clinic can offer: later today if one is left, otherwise
    on the next working day. Aware, in the clinic's zone."""
    local_now = now.astimezone(zone)
    day = local_now.date()
    while True:
        start = first_free_slot(
            day, local_now, hours, taken=taken, capacity=capacity, minutes=minutes
        )
        if start is not None:
            return start
        day += dt.timedelta(days=1)


# --------------------------------------------------------------------------- the booking rules


@dataclass(frozen=True)
class Concern:
    """Why a booking is unusual; the service turns each into a warning with a reason."""

    code: str
    message: str


def _clock(at: dt.time) -> str:
    return f"{at:%H:%M}"


def booking_concerns(
    *,
    start: dt.datetime,
    minutes: int,
    zone: dt.tzinfo,
    hours: ClinicHours,
    taken: Sequence[Busy],
    capacity: int,
) -> list[Concern]:
    """What is wrong with booking [start, start + minutes): a closure, a day the clinic
    does not work, a time outside opening hours, a slot already full. [] for a normal one."""
    local = start.astimezone(zone)
    day = local.date()
    concerns = []
    closure = hours.closure_on(day)
    if closure is not None:
        concerns.append(
            Concern("clinic_closed", f"The clinic is closed on {day_text(day)}: {closure.reason}.")
        )
    elif not hours.works_on_weekday(day):
        working = ", ".join(_WEEKDAYS[d] for d in sorted(hours.working_days))
        concerns.append(
            Concern(
                "clinic_not_working_day",
                f"The clinic does not see patients on {_WEEKDAY_NAMES[day.weekday()]}s "
                f"(working days: {working}).",
            )
        )
    if not hours.fits_in_hours(local, minutes):
        concerns.append(_outside_hours(local, minutes, zone, hours))
    clash = overlapping(start, minutes, taken)
    if len(clash) >= capacity:
        times = ", ".join(
            f"{_clock(b.start.astimezone(zone).time())}–{_clock(b.end.astimezone(zone).time())}"
            for b in sorted(clash)
        )
        concerns.append(
            Concern(
                "slot_taken",
                f"This time is already taken: {_overlap(len(clash))} ({times}), and the "
                f"clinic books {capacity} at a time.",
            )
        )
    return concerns


def _overlap(count: int) -> str:
    if count == 1:
        return "1 appointment at this clinic overlaps it"
    return f"{count} appointments at this clinic overlap it"


def _outside_hours(
    local: dt.datetime, minutes: int, zone: dt.tzinfo, hours: ClinicHours
) -> Concern:
    opening = f"({_clock(hours.day_starts)} to {_clock(hours.day_ends)}, clinic time)"
    if hours.day_starts <= local.time() < hours.day_ends:
        ends = end_of(local, minutes).astimezone(zone)
        message = (
            f"A {minutes}-minute visit from {_clock(local.time())} ends at "
            f"{_clock(ends.time())}{'' if ends.date() == local.date() else ' the next day'}, "
            f"after the clinic closes {opening}."
        )
    else:
        message = f"{_clock(local.time())} is outside the clinic's opening hours {opening}."
    return Concern("outside_opening_hours", message)


def working_day_after(day: dt.date, count: int, hours: ClinicHours) -> dt.date:
    """The ``count``-th working day after ``day`` (``day`` itself when count is 0)."""
    while count > 0:
        day += dt.timedelta(days=1)
        if hours.is_working_day(day):
            count -= 1
    return day


@dataclass(frozen=True)
class Diary:
    """The clinic's booked slots, and how many appointments it runs at once, for a
    proposal of ``minutes`` per visit."""

    taken: tuple[Busy, ...] = ()
    capacity: int = 1
    minutes: int = 30

    def __post_init__(self) -> None:
        if self.capacity < 1 or self.minutes < 1:
            raise ValueError("A clinic sees at least one patient at a time, for a minute.")
        object.__setattr__(self, "taken", tuple(self.taken))

    def slot_args(self) -> dict:
        return {"taken": self.taken, "capacity": self.capacity, "minutes": self.minutes}


EMPTY_DIARY = Diary()


def latest_day_without_override(
    *,
    refill_by: dt.date,
    now: dt.datetime,
    zone: dt.tzinfo,
    hours: ClinicHours,
    grace_working_days: int = 1,
    diary: Diary = EMPTY_DIARY,
) -> dt.date:
    """The last clinic day a refill may be booked on without a physician's override."""
    today = now.astimezone(zone).date()
    return max(
        refill_by,
        earliest_slot(now=now, zone=zone, hours=hours, **diary.slot_args()).date(),
        working_day_after(today, grace_working_days, hours),
    )


# --------------------------------------------------------------------------- the proposal
# The refill appointments to propose after a refill. The latest safe one: the first free
# slot of the last clinic day on or before the refill-by date (the longest interval the
# forecast allows, so the patient is not brought in earlier than needed, never later than
# safe; the morning of that day, so the rest of it is left if the patient is late). And,
# because a visit on the last safe day leaves no room if it is missed, earlier free slots
# at least ``buffer_days`` before the refill-by date, one per clinic day, latest first.
# A clinical rule, so it lives here, not in the pages.


@dataclass(frozen=True)
class Proposal:
    start: dt.datetime  # aware, in the clinic's zone
    on_refill_by: bool  # the proposal is the refill-by date itself
    late: bool  # no working day is left before the refill-by date: book now and escalate
    note: str


@dataclass(frozen=True)
class Proposals:
    latest: Proposal
    earlier: tuple[dt.datetime, ...]  # each at least buffer_days before the refill-by date
    buffer_days: int

    @property
    def starts(self) -> tuple[dt.datetime, ...]:
        return (self.latest.start, *self.earlier)


LATE_NOTE = (
    "The refill-by date has passed, or the clinic has no free slot before it: this is the "
    "earliest slot that is free. Book it now; a nurse or scheduler can book the soonest visit "
    "without an override."
)


def propose_slots(
    *,
    refill_by: dt.date,
    now: dt.datetime,
    zone: dt.tzinfo,
    hours: ClinicHours,
    diary: Diary = EMPTY_DIARY,
    buffer_days: int = 7,
    earlier_count: int = 3,
) -> Proposals:
    """The latest safe slot and up to ``earlier_count`` earlier ones (see above).

    Every slot proposed before the refill-by date is on a working day, not closed,
    inside opening hours, free and ahead of ``now``; when the clinic has no such slot
    left, the one proposal is its earliest free slot after (``late``)."""
    local_now = now.astimezone(zone)
    today = local_now.date()
    latest = None
    day = refill_by
    while day >= today and latest is None:
        start = first_free_slot(day, local_now, hours, **diary.slot_args())
        if start is not None:
            latest = Proposal(start, day == refill_by, False, _note(day, refill_by, hours))
        day -= dt.timedelta(days=1)
    if latest is None:
        # Booking the earliest free slot never needs an override
        # (refills.scheduling.latest_day_without_override).
        soonest = earliest_slot(now=now, zone=zone, hours=hours, **diary.slot_args())
        return Proposals(Proposal(soonest, False, True, LATE_NOTE), (), buffer_days)
    earlier = []
    day = min(latest.start.date() - dt.timedelta(days=1), refill_by - dt.timedelta(buffer_days))
    while day >= today and len(earlier) < earlier_count:
        start = first_free_slot(day, local_now, hours, **diary.slot_args())
        if start is not None:
            earlier.append(start)
        day -= dt.timedelta(days=1)
    return Proposals(latest, tuple(earlier), buffer_days)


def latest_safe_start(
    *,
    refill_by: dt.date,
    now: dt.datetime,
    zone: dt.tzinfo,
    hours: ClinicHours,
    diary: Diary = EMPTY_DIARY,
) -> Proposal:
    """The first free slot of the last clinic day on or before ``refill_by`` still ahead."""
    return propose_slots(refill_by=refill_by, now=now, zone=zone, hours=hours, diary=diary).latest


def _note(day: dt.date, refill_by: dt.date, hours: ClinicHours) -> str:
    if day == refill_by:
        return "This is the refill-by date itself."
    closure = hours.closure_on(refill_by)
    if closure is not None:
        why = f"the clinic is closed on the refill-by date ({closure.reason})"
    elif not hours.works_on_weekday(refill_by):
        why = "the refill-by date is not a clinic working day"
    else:
        why = "no slot is free on the refill-by date"
    days = (refill_by - day).days
    before = "the day before" if days == 1 else f"{days} days before"
    return f"This is {before} the refill-by date: {why}."
