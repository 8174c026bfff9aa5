"""When a refill can be booked: the clinic's opening hours and the earliest slot.

The guard on refill bookings (refills/services/appointments.py ``appointment_findings``) must never
stand between a patient and the soonest visit. A refill may be booked without a
physician's override on any clinic day up to ``latest_day_without_override``: the
refill-by date, or, when the clinic cannot offer a slot that early (the refill-by date
has passed, or the clinic is shut until after it), the earliest day it can offer, and
never less than ``grace_working_days`` working days after today (an overdue patient is
booked for today or the next working day by a nurse or scheduler, not a physician).
Only a later date needs the override.

Pure Python: the caller passes the clinic's zone, its opening hours and the current
instant. Days are calendar days in the clinic's zone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

SLOT_MINUTES = 15


class HasOpeningHours(Protocol):
    """What ClinicHours.of reads: patients.models.Clinic has these attributes."""

    working_weekdays: frozenset[int]
    day_starts: dt.time
    day_ends: dt.time


@dataclass(frozen=True)
class ClinicHours:
    """When a clinic sees patients: weekdays (Monday = 0) and opening hours, clinic time."""

    working_days: frozenset[int]
    day_starts: dt.time
    day_ends: dt.time

    def __post_init__(self) -> None:
        if not self.working_days:
            raise ValueError("A clinic needs at least one working day.")
        if not set(self.working_days) <= set(range(7)):
            raise ValueError("Working days are weekday numbers from 0 (Monday) to 6 (Sunday).")
        if self.day_starts >= self.day_ends:
            raise ValueError("The clinic must open before it closes.")
        object.__setattr__(self, "working_days", frozenset(self.working_days))

    @classmethod
    def of(cls, clinic: HasOpeningHours) -> ClinicHours:
        return cls(
            working_days=frozenset(clinic.working_weekdays),
            day_starts=clinic.day_starts,
            day_ends=clinic.day_ends,
        )

    def is_working_day(self, day: dt.date) -> bool:
        return day.weekday() in self.working_days


def next_slot(after: dt.datetime) -> dt.datetime:
    minutes = (after.minute // SLOT_MINUTES + 1) * SLOT_MINUTES
    return after.replace(minute=0, second=0, microsecond=0) + dt.timedelta(minutes=minutes)


def first_open_slot(local_now: dt.datetime, day: dt.date, hours: ClinicHours):
    """The first slot on ``day`` that is still ahead and inside opening hours, or None."""
    if not hours.is_working_day(day):
        return None
    start = dt.datetime.combine(day, hours.day_starts, tzinfo=local_now.tzinfo)
    if start > local_now:
        return start
    slot = next_slot(local_now)
    # A slot starting at closing time is not one: the clinic is shut by then.
    if slot.date() == day and slot.time() < hours.day_ends:
        return slot
    return None


def earliest_slot(*, now: dt.datetime, zone: dt.tzinfo, hours: ClinicHours) -> dt.datetime:
    """The soonest slot the clinic can offer: later today if one is left, otherwise the
    opening of the next working day. Aware, in the clinic's zone."""
    local_now = now.astimezone(zone)
    day = local_now.date()
    while (start := first_open_slot(local_now, day, hours)) is None:
        day += dt.timedelta(days=1)
    return start


def working_day_after(day: dt.date, count: int, hours: ClinicHours) -> dt.date:
    """The ``count``-th working day after ``day`` (``day`` itself when count is 0)."""
    while count > 0:
        day += dt.timedelta(days=1)
        if hours.is_working_day(day):
            count -= 1
    return day


def latest_day_without_override(
    *,
    refill_by: dt.date,
    now: dt.datetime,
    zone: dt.tzinfo,
    hours: ClinicHours,
    grace_working_days: int = 1,
) -> dt.date:
    """The last clinic day a refill may be booked on without a physician's override."""
    today = now.astimezone(zone).date()
    return max(
        refill_by,
        earliest_slot(now=now, zone=zone, hours=hours).date(),
        working_day_after(today, grace_working_days, hours),
    )


# --------------------------------------------------------------------------- the proposal
# The latest safe refill appointment to propose after a refill: the refill-by date itself
# when the clinic is open that day, otherwise the working day before it (the longest
# interval the forecast allows, so the patient is not brought in earlier than needed,
# never later than safe). A clinical rule, so it lives here, not in the pages.


@dataclass(frozen=True)
class Proposal:
    start: dt.datetime  # aware, in the clinic's zone
    on_refill_by: bool  # the proposal is the refill-by date itself
    late: bool  # no working day is left before the refill-by date: book now and escalate
    note: str


def latest_safe_start(
    *, refill_by: dt.date, now: dt.datetime, zone: dt.tzinfo, hours: ClinicHours
) -> Proposal:
    """The start of the last working day on or before ``refill_by`` that is still ahead."""
    local_now = now.astimezone(zone)
    today = local_now.date()
    day = refill_by
    while day >= today:
        start = first_open_slot(local_now, day, hours)
        if start is not None:
            return Proposal(
                start=start,
                on_refill_by=day == refill_by,
                late=False,
                note=_note(day, refill_by),
            )
        day -= dt.timedelta(days=1)
    # The refill-by date has passed (or no opening is left before it): the earliest slot
    # the clinic can offer, today or on the next working day. Booking it never needs an
    # override (refills.scheduling.latest_day_without_override).
    return Proposal(
        start=earliest_slot(now=now, zone=zone, hours=hours),
        on_refill_by=False,
        late=True,
        note="The refill-by date has passed, or the clinic has no opening before it: this "
        "is the earliest slot. Book it now; a nurse or scheduler can book the soonest visit "
        "without an override.",
    )


def _note(day: dt.date, refill_by: dt.date) -> str:
    if day == refill_by:
        return "This is the refill-by date itself."
    days = (refill_by - day).days
    before = "the day before it" if days == 1 else f"{days} days before it"
    return f"The refill-by date is not a clinic working day, so this is the working day, {before}."
