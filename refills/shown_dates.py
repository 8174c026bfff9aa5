"""What "today" says about each date shown on the patient page and the emergency card.

Issue 8 ("no date may be calmer than the truth"), domain.md §4.3 and §7.1 #9: a printed card
or a page read after a date has passed must say so, and a projected alarm or empty date that
falls on or after the pump's end of service (or automatic shut-down) is not reachable, because
the pump stops first. Pure: the dates, "now" and the clinic's zone are passed in; the texts
are here so templates and the PDF hold no clinical rule. A clinical rule, so it lives in refills
(an API or any other page can use it), not in the dashboard.

A date is *passed* when it is before the clinic's today: a plain date (refill-by, ERI, end of
service) when its day is before today; a moment (alarm, empty, appointment) when it is at or
before ``now``. So every date on a day before today is flagged and none on a day after it is.
End of service and shut-down are flagged on their own day too (the pump may stop that day).
The last refill date is a record of the past by nature and is not a projected date: it is not
flagged.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pumptrack.dates import date_text as _day_text

ALARM_PASSED = "passed — the reservoir may be at/below the alarm volume"
PASSED_TEXT = {
    "refill_by": "passed — refill overdue",
    "conservative_alarm": ALARM_PASSED,
    "alarm": ALARM_PASSED,
    "empty": "passed — may be empty",
    "next_refill": "passed — check whether this refill was done",
    "eri": "passed — the pump must be replaced before end of service",
    "end_of_service": "passed — the pump may have stopped delivering",
    "shutdown": "passed — the pump may have stopped delivering",
}
STOPS_TODAY_TEXT = "today — the pump may stop delivering today"
# Projected dates the pump cannot reach when it stops first.
STOPPABLE = ("conservative_alarm", "alarm", "empty", "next_refill")


@dataclass(frozen=True)
class ShownDate:
    kind: str
    when: dt.datetime | dt.date
    day: dt.date  # the calendar day in the clinic's zone
    passed: bool
    after_end_of_service: bool = False
    note: str = ""  # what to print beside the date ("" when nothing to say)


@dataclass(frozen=True)
class ShownDates:
    today: dt.date
    refill_by: ShownDate | None = None
    conservative_alarm: ShownDate | None = None
    alarm: ShownDate | None = None
    empty: ShownDate | None = None
    next_refill: ShownDate | None = None
    eri: ShownDate | None = None
    end_of_service: ShownDate | None = None  # the earliest stop: ERI + grace or shut-down
    end_of_service_basis: str = ""
    shutdown: ShownDate | None = None  # the automatic shut-down, when it is not the earliest
    stopped_line: str = ""  # "The pump may have stopped delivering: ..." when it may have

    def shown(self) -> list[ShownDate]:
        return [
            d
            for d in (
                self.refill_by,
                self.conservative_alarm,
                self.alarm,
                self.empty,
                self.next_refill,
                self.eri,
                self.end_of_service,
                self.shutdown,
            )
            if d is not None
        ]


def _local_day(when: dt.datetime | dt.date, zone: dt.tzinfo) -> dt.date:
    if isinstance(when, dt.datetime):
        return when.astimezone(zone).date()
    return when


def shown_dates(
    *,
    now: dt.datetime,
    zone: dt.tzinfo,
    refill_by: dt.date | None = None,
    conservative_alarm_at: dt.datetime | None = None,
    alarm_at: dt.datetime | None = None,
    empty_at: dt.datetime | None = None,
    next_refill_at: dt.datetime | None = None,
    eri_on: dt.date | None = None,
    eri_to_eos_days: int | None = None,
    shutdown_on: dt.date | None = None,
) -> ShownDates:
    """Flag each date for the clinic's today; mark what the pump cannot reach.

    End of service is the earliest known stop: ERI + the model's ERI-to-EOS days (when ERI
    is recorded) or the automatic shut-down (Pump.end_of_service_on)."""
    today = now.astimezone(zone).date()
    eri_stop = (
        eri_on + dt.timedelta(days=eri_to_eos_days)
        if eri_on is not None and eri_to_eos_days is not None
        else None
    )
    stops = [d for d in (eri_stop, shutdown_on) if d is not None]
    stop_day = min(stops) if stops else None
    basis = ""
    if stop_day is not None:
        basis = f"ERI + {eri_to_eos_days} days" if stop_day == eri_stop else "automatic shut-down"

    def make(kind: str, when) -> ShownDate | None:
        if when is None:
            return None
        day = _local_day(when, zone)
        if kind in ("end_of_service", "shutdown"):
            passed = day <= today
        elif isinstance(when, dt.datetime):
            passed = when <= now
        else:
            passed = day < today
        notes = []
        if passed:
            notes.append(
                STOPS_TODAY_TEXT
                if kind in ("end_of_service", "shutdown") and day == today
                else PASSED_TEXT[kind]
            )
        after = kind in STOPPABLE and stop_day is not None and day >= stop_day
        if after:
            notes.append(f"the pump stops before this date (end of service {_day_text(stop_day)})")
        return ShownDate(
            kind=kind,
            when=when,
            day=day,
            passed=passed,
            after_end_of_service=after,
            note="; ".join(notes),
        )

    end_of_service = make("end_of_service", stop_day)
    stopped_line = ""
    if end_of_service is not None and end_of_service.passed:
        what = "end of service" if stop_day == eri_stop else "its automatic shut-down"
        stopped_line = (
            f"The pump may have stopped delivering: {what} was {_day_text(stop_day)}."
            if stop_day < today
            else f"The pump may stop delivering today: {what} is {_day_text(stop_day)}."
        )
    return ShownDates(
        today=today,
        refill_by=make("refill_by", refill_by),
        conservative_alarm=make("conservative_alarm", conservative_alarm_at),
        alarm=make("alarm", alarm_at),
        empty=make("empty", empty_at),
        next_refill=make("next_refill", next_refill_at),
        eri=make("eri", eri_on),
        end_of_service=end_of_service,
        end_of_service_basis=basis,
        shutdown=make("shutdown", shutdown_on) if shutdown_on and shutdown_on != stop_day else None,
        stopped_line=stopped_line,
    )
