"""Daylight-saving changes near a given moment, for pumps that dose by the clock.

A flex program or scheduled boluses run on the pump's own clock, which does not
follow daylight-saving changes: after one, each step starts early or late in the
patient's day by the zone's shift (an hour in most zones, 30 minutes on Lord Howe
Island) until someone resets the pump clock ("Time changes may affect flex
dosing", Saulino 2016; domain.md §1.6). Pure Python: no Django, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo


@dataclass(frozen=True)
class ClockChange:
    at: datetime  # the first instant on the new offset, in the zone
    offset_before: timedelta
    offset_after: timedelta

    @property
    def shift(self) -> timedelta:
        return self.offset_after - self.offset_before

    @property
    def direction(self) -> str:
        return "forward" if self.shift > timedelta(0) else "back"

    @property
    def shift_text(self) -> str:
        """The size of the change in words: "1 hour", "30 minutes", "1 hour 30 minutes"."""
        return duration_text(abs(self.shift))


def duration_text(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if minutes or not hours:
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    return " ".join(parts)


def clock_changes(zone: tzinfo, start: datetime, end: datetime) -> list[ClockChange]:
    """Every change of the zone's UTC offset in [start, end), to the minute.

    Scans hour by hour (offset changes in real zones are hours apart and last far
    longer than an hour), then narrows each change down by bisection.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    changes: list[ClockChange] = []
    step = timedelta(hours=1)

    # Arithmetic in UTC: adding an hour to a zone-aware time adds wall-clock time,
    # which is exactly what is ambiguous around a change.
    def offset_at(instant: datetime) -> timedelta:
        return instant.astimezone(zone).utcoffset()

    here = start.astimezone(UTC)
    end = end.astimezone(UTC)
    offset = offset_at(here)
    while here < end:
        later = min(here + step, end)
        later_offset = offset_at(later)
        if later_offset != offset:
            low, high = here, later
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if offset_at(middle) == offset:
                    low = middle
                else:
                    high = middle
            # Offsets change on a whole minute; ``high`` is within a second after it.
            high = high.replace(second=0, microsecond=0)
            changes.append(
                ClockChange(
                    at=high.astimezone(zone), offset_before=offset, offset_after=later_offset
                )
            )
            offset = later_offset
        here = later
    return changes


def clock_change_near(
    zone: tzinfo, now: datetime, *, days_before: int, days_after: int
) -> ClockChange | None:
    """The change within ``days_before`` days ahead of ``now`` or ``days_after`` behind
    it (the nearest ahead first), or None."""
    ahead = clock_changes(zone, now, now + timedelta(days=days_before))
    if ahead:
        return ahead[0]
    behind = clock_changes(zone, now - timedelta(days=days_after), now)
    return behind[-1] if behind else None
