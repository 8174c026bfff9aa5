"""The latest safe refill appointment to propose after a refill.

"Latest safe" is the refill-by date itself when the clinic is open that day,
otherwise the working day before it: the longest interval the forecast allows,
so the patient is not brought in earlier than needed, never later than safe.
Pure Python: the caller passes the clinic's zone, its opening hours and the
current instant.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from refills.scheduling import (
    SLOT_MINUTES,
    ClinicHours,
    HasOpeningHours,
    earliest_slot,
    first_open_slot,
)

__all__ = ["SLOT_MINUTES", "ClinicHours", "HasOpeningHours", "Proposal", "latest_safe_start"]


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
    return (
        f"The refill-by date is not a clinic working day, so this is the working day "
        f"{(refill_by - day).days} day(s) before it."
    )
