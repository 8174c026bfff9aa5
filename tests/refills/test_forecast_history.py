"""Regression examples for issue 8 classes #1-#3 in the pure forecast (domain.md §7.1 #6).

#1 a program change keeps the fast-pump allowance accrued since the fill;
#2 "alarm date - margin" and "fill date + 180" are calendar days in the clinic's zone;
#3 the end of service caps the refill-by date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from refills.forecast import (
    Fill,
    OneOff,
    ProgramChange,
    RefillByReason,
    conservative_volume_ml,
    expected_residual_ml,
    forecast,
    reconcile,
)

FILLED_AT = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
D = Decimal


def make_fill(**overrides: object) -> Fill:
    values: dict[str, object] = {
        "filled_at": FILLED_AT,
        "volume_ml": D(20),
        "concentration_mcg_per_ml": D(2000),
        "daily_dose_mcg": D(400),  # 0.2 mL/day
        "alarm_volume_ml": D(2),
    }
    values.update(overrides)
    return Fill(**values)  # type: ignore[arg-type]


# --- #1 program changes keep the allowance ---------------------------------------------


def test_raising_the_dose_late_in_the_interval_never_moves_the_conservative_alarm_later():
    # 70 days at 0.2 mL/day; conservative (x1.15) the pump has drawn 16.1 of 18 usable mL.
    changed_at = FILLED_AT + timedelta(days=70)
    before = forecast(make_fill(), accuracy=D("0.15"), margin_days=3)
    raised = make_fill(program_changes=(ProgramChange(at=changed_at, daily_dose_mcg=D(420)),))

    after = forecast(raised, accuracy=D("0.15"), margin_days=3)

    # 1.9 mL left above the alarm at 0.21 x 1.15 mL/day: 7.87 days after the change.
    # Restarting from the nominal 6 mL gave 16.6 days: over a week later than before.
    expected_days = D(70) + D("1.9") / (D("0.21") * D("1.15"))
    assert after.days_to_conservative_alarm == expected_days
    assert after.conservative_alarm_at <= before.conservative_alarm_at
    assert after.refill_by <= before.refill_by
    # The nominal view is unchanged by the rule: 6 mL at the change, 4 usable at 0.21.
    assert after.days_to_alarm == D(70) + D(4) / D("0.21")
    assert after.daily_volume_ml == D("0.21")


def test_the_allowance_covers_every_segment_since_the_fill():
    changes = (
        ProgramChange(at=FILLED_AT + timedelta(days=10), daily_dose_mcg=D(600)),  # 0.3
        ProgramChange(at=FILLED_AT + timedelta(days=20), daily_dose_mcg=D(0)),  # stopped
        ProgramChange(at=FILLED_AT + timedelta(days=25), daily_dose_mcg=D(200)),  # 0.1
    )
    fill = make_fill(program_changes=changes, oneoffs=(OneOff(FILLED_AT + timedelta(days=5), 1),))
    at = FILLED_AT + timedelta(days=30)

    # Nominal: 20 - 1 - (0.2x10 + 0.3x10 + 0 + 0.1x5) = 13.5 mL.
    assert expected_residual_ml(fill, at) == D("13.5")
    # Conservative: the one-off as drawn, every delivered mL x 1.15.
    assert conservative_volume_ml(fill, at, accuracy=D("0.15")) == D(19) - D("1.15") * D("5.5")
    result = forecast(fill, accuracy=D("0.15"))
    left = D(19) - D("1.15") * D("5.5") - 2
    assert result.days_to_conservative_alarm == D(30) + left / (D("0.1") * D("1.15"))


def test_reconciliation_at_refill_runs_through_every_segment():
    fill = make_fill(
        program_changes=(ProgramChange(at=FILLED_AT + timedelta(days=30), daily_dose_mcg=D(600)),)
    )
    at = FILLED_AT + timedelta(days=50)

    result = reconcile(fill, at, D(8))

    assert result.expected_ml == D(20) - D(6) - D(6)  # 0.2 x 30 + 0.3 x 20
    assert result.flagged is False


def test_a_program_change_does_not_restart_the_stability_clock():
    fill = make_fill(
        daily_dose_mcg=D(0),
        program_changes=(ProgramChange(at=FILLED_AT + timedelta(days=40), daily_dose_mcg=D(0)),),
    )

    assert forecast(fill, stability_days=180).refill_by == FILLED_AT.date() + timedelta(days=180)


def test_a_program_change_before_the_fill_is_refused():
    with pytest.raises(ValueError, match="before the fill"):
        make_fill(program_changes=(ProgramChange(FILLED_AT - timedelta(seconds=1), D(400)),))


# --- #2 calendar days in the clinic's zone ---------------------------------------------

# Each zone's clocks go back between the refill-by date and the alarm (alarm - margin)
# and forward between the fill and fill + 180 days; the shift is 30 min on Lord Howe.
ZONES = [
    # zone, the day after clocks go back, a winter day before clocks go forward
    pytest.param("America/New_York", date(2024, 11, 4), date(2025, 1, 15), id="new-york"),
    pytest.param("Europe/London", date(2024, 10, 28), date(2025, 1, 15), id="london"),
    pytest.param("Australia/Sydney", date(2025, 4, 7), date(2025, 7, 15), id="sydney"),
    pytest.param("Australia/Lord_Howe", date(2025, 4, 7), date(2025, 7, 15), id="lord-howe"),
]


@pytest.mark.parametrize(("zone_name", "after_fall_back", "winter_day"), ZONES)
def test_alarm_date_minus_margin_is_calendar_days_across_a_clock_change(
    zone_name: str, after_fall_back: date, winter_day: date
) -> None:
    zone = ZoneInfo(zone_name)
    # A conservative alarm at 23:50 local, exactly 10 days (real time) after the fill.
    alarm = datetime(after_fall_back.year, after_fall_back.month, after_fall_back.day, 23, 50)
    alarm = alarm.replace(tzinfo=zone)
    filled_at = (alarm.astimezone(UTC) - timedelta(days=10)).astimezone(zone)
    fill = make_fill(filled_at=filled_at, volume_ml=D(4))  # 2 usable mL at 0.2 mL/day

    result = forecast(fill, accuracy=D(0), margin_days=3)

    assert result.conservative_alarm_at == alarm
    # 72 hours before 23:50 is already the next calendar day across the longer day.
    assert result.refill_by == after_fall_back - timedelta(days=3)
    assert result.refill_by_reason == RefillByReason.ALARM_MARGIN


@pytest.mark.parametrize(("zone_name", "after_fall_back", "winter_day"), ZONES)
def test_fill_plus_stability_is_calendar_days_across_a_clock_change(
    zone_name: str, after_fall_back: date, winter_day: date
) -> None:
    zone = ZoneInfo(zone_name)
    filled_at = datetime(winter_day.year, winter_day.month, winter_day.day, 23, 50, tzinfo=zone)
    fill = make_fill(filled_at=filled_at, daily_dose_mcg=D(0))

    result = forecast(fill, stability_days=180)

    # 180 x 24 h from 23:50 is past midnight after the shorter spring-forward day.
    assert result.refill_by == winter_day + timedelta(days=180)
    assert result.refill_by_reason == RefillByReason.DRUG_STABILITY


def test_the_alarm_date_is_the_floor_of_the_instant_in_the_clinic_zone():
    # 18 mL at 0.23 mL/day conservative, from 21:00 in Sydney: the date is the local one.
    zone = ZoneInfo("Australia/Sydney")
    fill = make_fill(filled_at=datetime(2025, 1, 6, 21, 0, tzinfo=zone))

    result = forecast(fill, margin_days=0)

    local = result.conservative_alarm_at
    assert local.tzinfo is zone
    assert result.refill_by == local.date()
    exact = fill.filled_at + timedelta(days=float(D(18) / D("0.23")))
    assert local <= exact


# --- #3 end of service caps the refill-by date ---------------------------------------


def test_end_of_service_before_the_alarm_sets_refill_by():
    eos = FILLED_AT.date() + timedelta(days=30)

    result = forecast(make_fill(), end_of_service_on=eos)

    assert result.refill_by == eos
    assert result.refill_by_reason == RefillByReason.END_OF_SERVICE == "end-of-service"


def test_a_replacement_planned_after_end_of_service_does_not_count():
    eos = FILLED_AT.date() + timedelta(days=30)

    result = forecast(make_fill(), end_of_service_on=eos, replacement_on=eos + timedelta(days=20))

    assert result.refill_by == eos
    assert result.refill_by_reason == RefillByReason.END_OF_SERVICE


def test_a_replacement_planned_before_end_of_service_sets_refill_by():
    eos = FILLED_AT.date() + timedelta(days=30)
    replacement = eos - timedelta(days=10)

    result = forecast(make_fill(), end_of_service_on=eos, replacement_on=replacement)

    assert result.refill_by == replacement
    assert result.refill_by_reason == RefillByReason.PLANNED_REPLACEMENT


def test_end_of_service_caps_a_stopped_pump_too():
    eos = FILLED_AT.date() + timedelta(days=90)

    result = forecast(make_fill(daily_dose_mcg=D(0)), end_of_service_on=eos)

    assert result.refill_by == eos
    assert result.refill_by_reason == RefillByReason.END_OF_SERVICE


def test_end_of_service_after_every_other_limit_changes_nothing():
    eos = FILLED_AT.date() + timedelta(days=400)

    assert forecast(make_fill(), end_of_service_on=eos) == forecast(make_fill())
