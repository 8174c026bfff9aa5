"""Quiet hours: patient messages go out only in the daytime of the recipient's zone.

A message that falls due at night is held until the next allowed hour, never
dropped. Pure functions; the zone comes from the recipient (caregiver, then
patient, then clinic).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def next_allowed(
    now: dt.datetime, zone: ZoneInfo, *, from_hour: int, until_hour: int
) -> dt.datetime:
    """`now` if it is inside [from_hour, until_hour) locally, else the next from_hour (UTC)."""
    local = now.astimezone(zone)
    if from_hour <= local.hour < until_hour:
        return now
    day = local.date() if local.hour < from_hour else local.date() + dt.timedelta(days=1)
    # Wall-clock time in the zone: 08:00 stays 08:00 across a daylight-saving change.
    opening = dt.datetime.combine(day, dt.time(from_hour), tzinfo=zone)
    return opening.astimezone(dt.UTC)


def is_allowed(now: dt.datetime, zone: ZoneInfo, *, from_hour: int, until_hour: int) -> bool:
    return next_allowed(now, zone, from_hour=from_hour, until_hour=until_hour) == now
