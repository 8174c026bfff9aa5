"""Invariants of the reservoir projection over generated program histories (issue 8).

A history is a fill, 0-5 program changes (a dose of 0 stops the pump) and one-off
volumes, in clinic zones with daylight-saving and half-hour shifts. Whatever the
history, no projected date may be later than a more pessimistic history's, and the
refill-by date respects every limit of domain §7.1 #6 in calendar days.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from refills.forecast import (
    Fill,
    Forecast,
    OneOff,
    ProgramChange,
    conservative_volume_ml,
    expected_residual_ml,
    forecast,
)

ZONES = [
    UTC,
    ZoneInfo("America/New_York"),
    ZoneInfo("Europe/London"),
    ZoneInfo("Australia/Sydney"),
    ZoneInfo("Australia/Lord_Howe"),  # 30-minute daylight-saving shift
    ZoneInfo("Asia/Kolkata"),  # half-hour offset, no daylight saving
    ZoneInfo("Pacific/Chatham"),  # 45-minute offset with daylight saving
]
FAR = datetime.max.replace(tzinfo=UTC)


def decimals(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(
        min_value=Decimal(low), max_value=Decimal(high), places=places, allow_nan=False
    )


# Mostly running programs; about one segment in eight stopped.
doses = st.integers(min_value=0, max_value=7).flatmap(
    lambda k: st.just(Decimal(0)) if k == 0 else decimals("1", "2000", 1)
)
# Program changes and one-offs anywhere in the first 200 days, to the second.
offsets = st.tuples(
    st.integers(min_value=0, max_value=199), st.integers(min_value=0, max_value=86399)
).map(lambda day_second: day_second[0] * 86400 + day_second[1])


@dataclass(frozen=True)
class Case:
    fill: Fill
    accuracy: Decimal
    margin_days: int
    stability_days: int
    replacement_on: date | None
    end_of_service_on: date | None

    def run(self, **changes: object) -> Forecast:
        values = {
            "accuracy": self.accuracy,
            "margin_days": self.margin_days,
            "stability_days": self.stability_days,
            "replacement_on": self.replacement_on,
            "end_of_service_on": self.end_of_service_on,
        }
        values.update(changes)
        fill = values.pop("fill", self.fill)
        return forecast(fill, **values)  # type: ignore[arg-type]


def _after(fill_at: datetime, seconds: int) -> datetime:
    return (fill_at.astimezone(UTC) + timedelta(seconds=seconds)).astimezone(fill_at.tzinfo)


@st.composite
def cases(draw: st.DrawFn, *, max_changes: int = 5) -> Case:
    filled_at = draw(
        st.datetimes(
            min_value=datetime(2000, 1, 1),
            max_value=datetime(2040, 1, 1),
            timezones=st.sampled_from(ZONES),
            allow_imaginary=False,
        )
    )
    alarm = draw(decimals("2", "5", 1))
    changes = tuple(
        ProgramChange(at=_after(filled_at, offset), daily_dose_mcg=dose)
        for offset, dose in draw(st.lists(st.tuples(offsets, doses), max_size=max_changes))
    )
    oneoffs = tuple(
        OneOff(at=_after(filled_at, offset), volume_ml=ml)
        for offset, ml in draw(st.lists(st.tuples(offsets, decimals("0", "2", 2)), max_size=3))
    )
    fill = Fill(
        filled_at=filled_at,
        volume_ml=draw(decimals("0", "40", 1)),
        concentration_mcg_per_ml=Decimal(draw(st.sampled_from([500, 1000, 2000, 3000]))),
        daily_dose_mcg=draw(doses),
        alarm_volume_ml=alarm,
        oneoff_ml=draw(decimals("0", "1", 2)),
        empty_volume_ml=draw(decimals("0", str(alarm), 1)),
        program_changes=changes,
        oneoffs=oneoffs,
    )
    fill_day = filled_at.date()
    optional_day = st.one_of(
        st.none(),
        st.integers(min_value=-30, max_value=400).map(lambda n: fill_day + timedelta(days=n)),
    )
    return Case(
        fill=fill,
        accuracy=draw(decimals("0", "0.3", 3)),
        margin_days=draw(st.integers(min_value=0, max_value=14)),
        stability_days=draw(st.integers(min_value=1, max_value=365)),
        replacement_on=draw(optional_day),
        end_of_service_on=draw(optional_day),
    )


def instants(result: Forecast) -> list[datetime]:
    """Every projected instant; None (never) counts as the far future."""
    return [
        FAR if x is None else x
        for x in (
            result.conservative_alarm_at,
            result.alarm_at,
            result.conservative_empty_at,
            result.empty_at,
        )
    ]


def dates(result: Forecast, zone: object) -> list[date]:
    return [x.date() if x is FAR else x.astimezone(zone).date() for x in instants(result)]  # type: ignore[arg-type]


def assert_never_later(after: Forecast, before: Forecast, zone: object) -> None:
    for new, old in zip(instants(after), instants(before), strict=True):
        assert new <= old
    for new, old in zip(dates(after, zone), dates(before, zone), strict=True):
        assert new <= old
    assert after.refill_by <= before.refill_by


# --- ordering and limits --------------------------------------------------------------


@given(case=cases())
def test_conservative_alarm_before_nominal_alarm_before_empty(case: Case) -> None:
    result = case.run()
    zone = case.fill.filled_at.tzinfo
    cons_alarm, alarm, cons_empty, empty = instants(result)
    assert cons_alarm <= alarm <= empty
    assert cons_alarm <= cons_empty <= empty
    d_cons_alarm, d_alarm, d_cons_empty, d_empty = dates(result, zone)
    assert d_cons_alarm <= d_alarm <= d_empty
    assert d_cons_alarm <= d_cons_empty <= d_empty
    # Nothing alarms before the fill.
    assert cons_alarm >= case.fill.filled_at.replace(microsecond=0)


@given(case=cases())
def test_refill_by_respects_every_limit_in_calendar_days(case: Case) -> None:
    result = case.run()
    fill = case.fill
    if result.conservative_alarm_at is not None:
        # The alarm instant is in the clinic's zone; its date minus whole days.
        assert result.conservative_alarm_at.tzinfo is fill.filled_at.tzinfo
        limit = result.conservative_alarm_at.date() - timedelta(days=case.margin_days)
        assert result.refill_by <= limit
    assert result.refill_by <= fill.filled_at.date() + timedelta(days=case.stability_days)
    if case.replacement_on is not None:
        assert result.refill_by <= case.replacement_on
    if case.end_of_service_on is not None:
        assert result.refill_by <= case.end_of_service_on
    # And it is one of them, not earlier than all of them.
    candidates = [fill.filled_at.date() + timedelta(days=case.stability_days)]
    if result.conservative_alarm_at is not None:
        candidates.append(result.conservative_alarm_at.date() - timedelta(days=case.margin_days))
    candidates += [d for d in (case.replacement_on, case.end_of_service_on) if d is not None]
    assert result.refill_by in candidates


@given(case=cases())
def test_the_conservative_alarm_is_where_the_fast_volume_reaches_the_alarm(case: Case) -> None:
    result = case.run()
    fill = case.fill
    at = result.conservative_alarm_at
    if at is None or result.days_to_conservative_alarm == 0:
        return
    # A second after the projected instant the fast-pump volume is at or below the alarm
    # (never later than the truth) ...
    later = at + timedelta(seconds=1)
    assert conservative_volume_ml(fill, later, accuracy=case.accuracy) <= fill.alarm_volume_ml
    # ... and a second before it, the volume was still above the alarm (not too early
    # either: the instant is the first one at or below, floored to the second).
    earlier = at - timedelta(seconds=1)
    if earlier >= fill.filled_at:
        assert conservative_volume_ml(fill, earlier, accuracy=case.accuracy) > (
            fill.alarm_volume_ml
        )
    # ... and the nominal volume is never below the fast one.
    assert expected_residual_ml(fill, later) >= conservative_volume_ml(
        fill, later, accuracy=case.accuracy
    )


# --- monotonicity ---------------------------------------------------------------------


@given(case=cases(), data=st.data())
def test_a_higher_dose_in_any_segment_never_makes_a_date_later(case: Case, data) -> None:
    fill = case.fill
    more = data.draw(decimals("0.1", "500", 1))
    index = data.draw(st.integers(min_value=0, max_value=len(fill.program_changes)))
    if index == 0:
        higher = replace(fill, daily_dose_mcg=fill.daily_dose_mcg + more)
    else:
        changes = list(fill.program_changes)
        change = changes[index - 1]
        changes[index - 1] = replace(change, daily_dose_mcg=change.daily_dose_mcg + more)
        higher = replace(fill, program_changes=tuple(changes))
    assert_never_later(case.run(fill=higher), case.run(), fill.filled_at.tzinfo)


@given(case=cases(), data=st.data())
def test_less_in_the_reservoir_or_a_higher_alarm_never_makes_a_date_later(case: Case, data):
    fill = case.fill
    less = data.draw(decimals("0.1", "10", 1))
    lower = replace(fill, volume_ml=max(fill.volume_ml - less, Decimal(0)))
    assert_never_later(case.run(fill=lower), case.run(), fill.filled_at.tzinfo)
    higher_alarm = replace(fill, alarm_volume_ml=fill.alarm_volume_ml + less)
    assert_never_later(case.run(fill=higher_alarm), case.run(), fill.filled_at.tzinfo)


def _dose_in_effect(fill: Fill, at: datetime) -> Decimal:
    dose = fill.daily_dose_mcg
    for change in fill.program_changes:  # sorted; the later of two at one instant wins
        if change.at <= at:
            dose = change.daily_dose_mcg
    return dose


@given(case=cases(max_changes=4), data=st.data())
def test_an_added_program_change_at_a_higher_rate_never_makes_a_date_later(case: Case, data):
    fill = case.fill
    offset = data.draw(offsets)
    at = _after(fill.filled_at, offset)
    more = data.draw(decimals("0.1", "500", 1))
    added = ProgramChange(at=at, daily_dose_mcg=_dose_in_effect(fill, at) + more)
    with_change = replace(fill, program_changes=(*fill.program_changes, added))
    assert_never_later(case.run(fill=with_change), case.run(), fill.filled_at.tzinfo)


@given(case=cases(), data=st.data())
def test_a_larger_or_added_one_off_never_makes_a_date_later(case: Case, data) -> None:
    fill = case.fill
    more = data.draw(decimals("0.01", "3", 2))
    bigger_first = replace(fill, oneoff_ml=fill.oneoff_ml + more)
    assert_never_later(case.run(fill=bigger_first), case.run(), fill.filled_at.tzinfo)
    at = _after(fill.filled_at, data.draw(offsets))
    added = replace(fill, oneoffs=(*fill.oneoffs, OneOff(at=at, volume_ml=more)))
    assert_never_later(case.run(fill=added), case.run(), fill.filled_at.tzinfo)


@given(case=cases(), data=st.data())
def test_a_higher_accuracy_allowance_never_makes_a_conservative_date_later(case: Case, data):
    wider = case.run(accuracy=case.accuracy + data.draw(decimals("0.001", "0.2", 3)))
    base = case.run()
    assert (wider.conservative_alarm_at or FAR) <= (base.conservative_alarm_at or FAR)
    assert wider.refill_by <= base.refill_by


# --- a single segment is the old single-fill answer -----------------------------------


def _old_after_days(start: datetime, days: Decimal) -> datetime:
    # The projection instant of the single-fill forecast before issue 8.
    microseconds = int((days * Decimal(86_400_000_000)).to_integral_value(rounding=ROUND_FLOOR))
    instant = start.astimezone(UTC) + timedelta(microseconds=microseconds)
    return instant.replace(microsecond=0).astimezone(start.tzinfo)


@given(case=cases(max_changes=0))
def test_a_single_segment_history_gives_the_single_fill_answer(case: Case) -> None:
    fill = replace(case.fill, oneoffs=())
    result = case.run(fill=fill)
    v_day = fill.daily_dose_mcg / fill.concentration_mcg_per_ml
    assert result.daily_volume_ml == v_day
    if v_day == 0:
        assert instants(result) == [FAR] * 4
        return
    fast = v_day * (1 + case.accuracy)
    usable_alarm = fill.volume_ml - fill.alarm_volume_ml - fill.oneoff_ml
    usable_empty = fill.volume_ml - fill.empty_volume_ml - fill.oneoff_ml
    for days, rate, usable in (
        (result.days_to_alarm, v_day, usable_alarm),
        (result.days_to_conservative_alarm, fast, usable_alarm),
        (result.days_to_empty, v_day, usable_empty),
        (result.days_to_conservative_empty, fast, usable_empty),
    ):
        # The old formula exactly; a fill at or below the volume alarms at the fill.
        assert days == (usable / rate if usable > 0 else 0)
    assert result.alarm_at == _old_after_days(fill.filled_at, result.days_to_alarm)
    assert result.conservative_alarm_at == _old_after_days(
        fill.filled_at, result.days_to_conservative_alarm
    )
    assert result.empty_at == _old_after_days(fill.filled_at, result.days_to_empty)
