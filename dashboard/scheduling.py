"""The latest safe refill appointment to propose after a refill.

"Latest safe" is the refill-by date itself when the clinic is open that day,
otherwise the working day before it: the longest interval the forecast allows,
so the patient is not brought in earlier than needed, never later than safe.
Pure Python: the caller passes the clinic's zone and the current instant.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# Monday to Friday. A clinic calendar (holidays, clinic days) would replace this.
WORKING_DAYS = frozenset({0, 1, 2, 3, 4})
DAY_STARTS = dt.time(9, 0)
DAY_ENDS = dt.time(17, 0)
SLOT_MINUTES = 15


@dataclass(frozen=True)
class Proposal:
    start: dt.datetime  # aware, in the clinic's zone
    on_refill_by: bool  # the proposal is the refill-by date itself
    late: bool  # no working day is left before the refill-by date: book now and escalate
    note: str


def _next_slot(after: dt.datetime) -> dt.datetime:
    minutes = (after.minute // SLOT_MINUTES + 1) * SLOT_MINUTES
    return after.replace(minute=0, second=0, microsecond=0) + dt.timedelta(minutes=minutes)


def latest_safe_start(*, refill_by: dt.date, now: dt.datetime, zone: dt.tzinfo) -> Proposal:
    """The start of the last working day on or before ``refill_by`` that is still ahead."""
    local_now = now.astimezone(zone)
    today = local_now.date()
    day = refill_by
    while day >= today:
        if day.weekday() in WORKING_DAYS:
            start = dt.datetime.combine(day, DAY_STARTS, tzinfo=zone)
            if day > today or start > local_now:
                return Proposal(
                    start=start,
                    on_refill_by=day == refill_by,
                    late=False,
                    note=_note(day, refill_by),
                )
            slot = _next_slot(local_now)
            if slot.time() <= DAY_ENDS and slot.date() == today:
                return Proposal(
                    start=slot,
                    on_refill_by=day == refill_by,
                    late=False,
                    note=_note(day, refill_by),
                )
        day -= dt.timedelta(days=1)
    # The refill-by date has passed (or today's hours are over): the earliest slot.
    slot = _next_slot(local_now)
    return Proposal(
        start=slot,
        on_refill_by=False,
        late=True,
        note="The refill-by date has passed: this is the earliest slot. Booking after the "
        "refill-by date needs a physician's override with a reason.",
    )


def _note(day: dt.date, refill_by: dt.date) -> str:
    if day == refill_by:
        return "This is the refill-by date itself."
    return (
        f"The refill-by date is not a clinic working day, so this is the working day "
        f"{(refill_by - day).days} day(s) before it."
    )
