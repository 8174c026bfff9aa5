"""Reservoir projection and reconciliation maths (domain.md §2, §7.1, §9)."""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refills.forecast import (
    Direction,
    Fill,
    RefillByReason,
    bolus_daily_total_mcg,
    daily_volume_ml,
    device_end_of_service,
    dose_change_ratio,
    expected_residual_ml,
    flex_daily_total_mcg,
    forecast,
    mg_per_ml_suspect,
    projected_volume_ml,
    reconcile,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NEW_YORK = ZoneInfo("America/New_York")
FILLED_AT = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def make_fill(**overrides: object) -> Fill:
    values: dict[str, object] = {
        "filled_at": FILLED_AT,
        "volume_ml": Decimal(20),
        "concentration_mcg_per_ml": Decimal(2000),
        "daily_dose_mcg": Decimal(400),
        "alarm_volume_ml": Decimal(2),
    }
    values.update(overrides)
    return Fill(**values)  # type: ignore[arg-type]


def one_decimal(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


# --- domain §9 worked examples --------------------------------------------------------


@pytest.mark.parametrize(
    ("volume_ml", "concentration", "dose_mcg", "v_day", "t_nominal", "t_conservative", "day"),
    [
        pytest.param(40, 2000, Decimal(400), "0.2", "190", "165.2", 158, id="case-1-40ml"),
        pytest.param(20, 500, Decimal(300), "0.6", "30", "26.1", 19, id="case-2-20ml-500"),
        pytest.param(
            20,
            1000,
            Decimal(150) + bolus_daily_total_mcg(Decimal(25), 2),
            "0.2",
            "90",
            "78.3",
            71,
            id="case-3-basal-plus-boluses",
        ),
    ],
)
def test_worked_examples_match_domain_table(
    volume_ml: int,
    concentration: int,
    dose_mcg: Decimal,
    v_day: str,
    t_nominal: str,
    t_conservative: str,
    day: int,
) -> None:
    fill = make_fill(
        volume_ml=Decimal(volume_ml),
        concentration_mcg_per_ml=Decimal(concentration),
        daily_dose_mcg=dose_mcg,
    )

    result = forecast(fill, accuracy=Decimal("0.15"), margin_days=7, stability_days=180)

    assert daily_volume_ml(dose_mcg, Decimal(concentration)) == Decimal(v_day)
    assert result.daily_volume_ml == Decimal(v_day)
    assert result.days_to_alarm == Decimal(t_nominal)
    assert one_decimal(result.days_to_conservative_alarm) == Decimal(t_conservative)
    assert result.refill_by == FILLED_AT.date() + timedelta(days=day)
    assert result.refill_by_reason == RefillByReason.ALARM_MARGIN
    assert result.capped_by_stability is False


def test_case_3_dose_is_basal_plus_two_25_mcg_boluses() -> None:
    assert Decimal(150) + bolus_daily_total_mcg(Decimal(25), 2) == Decimal(200)


def test_case_4_concentration_typed_as_mg_per_ml_is_suspected_and_gives_absurd_interval() -> None:
    fill = make_fill(concentration_mcg_per_ml=Decimal(2))

    result = forecast(fill)

    assert mg_per_ml_suspect(Decimal(2)) is True
    assert result.daily_volume_ml == Decimal(200)
    assert result.days_to_alarm == Decimal("0.09")


@pytest.mark.parametrize("value", ["0.05", "0.5", "1", "2", "3", "2.0", "0.50"])
def test_mg_per_ml_strengths_are_suspect(value: str) -> None:
    assert mg_per_ml_suspect(Decimal(value)) is True


@pytest.mark.parametrize("value", ["50", "500", "1000", "2000", "3000", "0.2", "4"])
def test_mcg_per_ml_strengths_are_not_suspect(value: str) -> None:
    assert mg_per_ml_suspect(Decimal(value)) is False


def test_case_5_ismp_flex_60_mcg_per_hour_is_a_24_fold_dose() -> None:
    total_mcg = flex_daily_total_mcg([(Decimal(60), Decimal(24))])
    fill = make_fill(concentration_mcg_per_ml=Decimal(500), daily_dose_mcg=total_mcg)

    result = forecast(fill)

    assert total_mcg == Decimal(1440)
    assert result.daily_volume_ml == Decimal("2.88")
    assert one_decimal(result.days_to_alarm) == Decimal("6.3")
    assert dose_change_ratio(Decimal(60), total_mcg) == Decimal(24)


def test_reconciliation_example_more_left_than_expected_is_flagged_under_delivery() -> None:
    fill = make_fill(volume_ml=Decimal(20))  # 400 mcg/day at 2000 mcg/mL = 0.2 mL/day
    at = FILLED_AT + timedelta(days=60)

    result = reconcile(fill, at, Decimal("10.5"))

    assert expected_residual_ml(fill, at) == Decimal("8.0")
    assert result.expected_ml == Decimal("8.0")
    assert result.discrepancy_ml == Decimal("2.5")
    assert result.expected_delivered_ml == Decimal("12.0")
    assert result.actual_delivered_ml == Decimal("9.5")
    assert result.relative_error.quantize(Decimal("0.0001")) == Decimal("0.2083")
    assert result.flagged is True
    assert result.direction == Direction.UNDER_DELIVERY == "under-delivery"
    assert result.message.startswith("2.5 mL more left than expected")
    assert "20.8%" in result.message
    assert "under-delivery" in result.message
    assert "Withdrawal risk" in result.message


def test_reconciliation_example_half_ml_less_is_within_tolerance() -> None:
    fill = make_fill(volume_ml=Decimal(20))
    at = FILLED_AT + timedelta(days=60)

    result = reconcile(fill, at, Decimal("7.5"))

    assert result.discrepancy_ml == Decimal("-0.5")
    assert result.relative_error.quantize(Decimal("0.001")) == Decimal("-0.042")
    assert result.flagged is False
    assert result.direction is None
    assert result.message == "0.5 mL less left than expected (7.5 mL found, 8.0 mL expected): " + (
        "within tolerance."
    )


# --- reconciliation details -----------------------------------------------------------


def test_less_left_than_expected_beyond_2_ml_is_flagged_over_delivery() -> None:
    fill = make_fill(volume_ml=Decimal(20))

    result = reconcile(fill, FILLED_AT + timedelta(days=60), Decimal("5.5"))

    assert result.flagged is True
    assert result.direction == Direction.OVER_DELIVERY
    assert "over-delivery" in result.message
    assert "overdose" in result.message


def test_discrepancy_thresholds_are_strict() -> None:
    # 40 mL, 150 days at 0.2 mL/day: 30 mL expected delivered, 10 mL expected left.
    fill = make_fill(volume_ml=Decimal(40))
    at = FILLED_AT + timedelta(days=150)

    exactly_2_ml = reconcile(fill, at, Decimal(12))
    just_over = reconcile(fill, at, Decimal("12.01"))

    assert exactly_2_ml.flagged is False
    assert just_over.flagged is True


def test_relative_error_alone_flags_a_small_absolute_discrepancy() -> None:
    fill = make_fill(volume_ml=Decimal(20))  # 10 days: 2 mL expected delivered

    result = reconcile(fill, FILLED_AT + timedelta(days=10), Decimal("18.5"))

    assert result.discrepancy_ml == Decimal("0.5")
    assert result.relative_error == Decimal("0.25")
    assert result.flagged is True
    assert result.direction == Direction.UNDER_DELIVERY


def test_relative_error_is_none_when_nothing_was_expected_to_be_delivered() -> None:
    fill = make_fill(volume_ml=Decimal(20))

    result = reconcile(fill, FILLED_AT, Decimal(20))

    assert result.relative_error is None
    assert result.flagged is False
    assert result.message == "Residual matches the expected volume (20.0 mL)."


def test_expected_residual_is_clamped_at_empty_so_a_dry_pump_is_not_a_discrepancy() -> None:
    fill = make_fill(volume_ml=Decimal(20))  # empty after 100 days
    at = FILLED_AT + timedelta(days=120)

    result = reconcile(fill, at, Decimal(0))

    assert expected_residual_ml(fill, at) == Decimal(0)
    assert result.discrepancy_ml == Decimal(0)
    assert result.flagged is False
    assert result.expected_empty is True
    assert "projected to be empty" in result.message


def test_expected_residual_is_clamped_at_the_models_empty_volume() -> None:
    fill = make_fill(volume_ml=Decimal(20), empty_volume_ml=Decimal(1))

    assert expected_residual_ml(fill, FILLED_AT + timedelta(days=200)) == Decimal(1)


def test_expected_residual_subtracts_the_oneoff_volume_once() -> None:
    fill = make_fill(volume_ml=Decimal(20), oneoff_ml=Decimal("0.5"))

    assert expected_residual_ml(fill, FILLED_AT) == Decimal("19.5")
    assert expected_residual_ml(fill, FILLED_AT + timedelta(days=10)) == Decimal("17.5")


def test_projected_volume_is_the_expected_residual() -> None:
    fill = make_fill()
    at = FILLED_AT + timedelta(days=33, hours=7)

    assert projected_volume_ml(fill, at) == expected_residual_ml(fill, at)


def test_expected_residual_before_the_fill_is_rejected() -> None:
    with pytest.raises(ValueError, match="before the fill"):
        expected_residual_ml(make_fill(), FILLED_AT - timedelta(seconds=1))


# --- refill-by limits -----------------------------------------------------------------


def test_long_interval_is_capped_by_drug_stability() -> None:
    # 0.1 mL/day in a 40 mL pump: conservative alarm at 330 days.
    fill = make_fill(volume_ml=Decimal(40), daily_dose_mcg=Decimal(200))

    result = forecast(fill, stability_days=180)

    assert result.days_to_conservative_alarm > 180
    assert result.refill_by == FILLED_AT.date() + timedelta(days=180)
    assert result.refill_by_reason == RefillByReason.DRUG_STABILITY == "drug-stability"
    assert result.capped_by_stability is True


def test_planned_replacement_before_the_alarm_sets_refill_by() -> None:
    fill = make_fill(concentration_mcg_per_ml=Decimal(500), daily_dose_mcg=Decimal(300))
    replacement_on = FILLED_AT.date() + timedelta(days=10)

    result = forecast(fill, margin_days=7, replacement_on=replacement_on)

    assert result.refill_by == replacement_on
    assert result.refill_by_reason == RefillByReason.PLANNED_REPLACEMENT == "planned-replacement"
    assert result.capped_by_stability is False


def test_planned_replacement_after_the_alarm_margin_does_not_change_refill_by() -> None:
    fill = make_fill(concentration_mcg_per_ml=Decimal(500), daily_dose_mcg=Decimal(300))

    result = forecast(fill, margin_days=7, replacement_on=FILLED_AT.date() + timedelta(days=100))

    assert result.refill_by == FILLED_AT.date() + timedelta(days=19)
    assert result.refill_by_reason == RefillByReason.ALARM_MARGIN


def test_tie_between_alarm_margin_and_replacement_reports_the_alarm() -> None:
    fill = make_fill(concentration_mcg_per_ml=Decimal(500), daily_dose_mcg=Decimal(300))

    result = forecast(fill, margin_days=7, replacement_on=FILLED_AT.date() + timedelta(days=19))

    assert result.refill_by_reason == RefillByReason.ALARM_MARGIN


def test_zero_dose_never_alarms_and_falls_back_to_stability() -> None:
    fill = make_fill(daily_dose_mcg=Decimal(0))

    result = forecast(fill, stability_days=180)

    assert result.daily_volume_ml == 0
    assert result.alarm_at is None
    assert result.conservative_alarm_at is None
    assert result.empty_at is None
    assert result.conservative_empty_at is None
    assert result.days_to_alarm is None
    assert result.days_to_conservative_alarm is None
    assert result.refill_by == FILLED_AT.date() + timedelta(days=180)
    assert result.refill_by_reason == RefillByReason.DRUG_STABILITY
    assert result.capped_by_stability is True
    assert expected_residual_ml(fill, FILLED_AT + timedelta(days=90)) == Decimal(20)


def test_zero_dose_with_planned_replacement_uses_the_replacement_date() -> None:
    replacement_on = FILLED_AT.date() + timedelta(days=45)

    result = forecast(make_fill(daily_dose_mcg=Decimal(0)), replacement_on=replacement_on)

    assert result.refill_by == replacement_on
    assert result.refill_by_reason == RefillByReason.PLANNED_REPLACEMENT


def test_oneoff_bolus_brings_the_alarm_forward() -> None:
    fill = make_fill(
        concentration_mcg_per_ml=Decimal(500),
        daily_dose_mcg=Decimal(300),
        oneoff_ml=Decimal("0.6"),
    )

    assert forecast(fill).days_to_alarm == Decimal(29)


def test_empty_date_uses_the_empty_volume() -> None:
    fill = make_fill(empty_volume_ml=Decimal(1))  # 19 mL usable at 0.2 mL/day

    result = forecast(fill)

    assert result.days_to_empty == Decimal(95)
    assert result.empty_at == FILLED_AT + timedelta(days=95)
    assert result.conservative_empty_at < result.empty_at


def test_timestamps_are_truncated_to_the_second_never_later() -> None:
    # 18 mL at 0.23 mL/day is 78.2608695... days: a fraction of a second is dropped.
    fill = make_fill(concentration_mcg_per_ml=Decimal(1000), daily_dose_mcg=Decimal(200))

    result = forecast(fill)

    exact_seconds = Fraction(18) / Fraction("0.23") * 86400
    elapsed = result.conservative_alarm_at - FILLED_AT
    assert elapsed.microseconds == 0
    assert elapsed.total_seconds() <= exact_seconds < elapsed.total_seconds() + 1


def test_fill_already_below_the_alarm_volume_alarms_at_the_fill() -> None:
    # The pump alarms as soon as it is filled. (It used to extrapolate backwards, to a
    # fictional instant before the fill that a higher dose moved *later* and that put
    # the conservative alarm after the nominal one; issue 8 invariants.)
    fill = make_fill(volume_ml=Decimal("1.8"))

    result = forecast(fill)

    assert result.days_to_alarm == 0
    assert result.days_to_conservative_alarm == 0
    assert result.alarm_at == result.conservative_alarm_at == FILLED_AT
    assert result.empty_at > FILLED_AT


# --- time zones ----------------------------------------------------------------------


def test_fill_before_autumn_dst_change_counts_real_hours() -> None:
    # 00:30 EDT on the night clocks fall back; exactly one day (24 h) of drug to the alarm.
    filled_at = datetime(2024, 11, 3, 0, 30, tzinfo=NEW_YORK)
    fill = make_fill(filled_at=filled_at, volume_ml=Decimal("2.2"))

    result = forecast(fill, accuracy=Decimal(0), margin_days=0)

    assert result.alarm_at.astimezone(UTC) - filled_at.astimezone(UTC) == timedelta(hours=24)
    # Wall-clock arithmetic would say 00:30 on 4 Nov: a day late.
    assert result.alarm_at.tzinfo is NEW_YORK
    assert (result.alarm_at.hour, result.alarm_at.minute) == (23, 30)
    assert result.alarm_at.date() == date(2024, 11, 3)
    assert result.refill_by == date(2024, 11, 3)


def test_fill_before_spring_dst_change_gives_the_right_calendar_date() -> None:
    filled_at = datetime(2024, 3, 9, 23, 30, tzinfo=NEW_YORK)
    fill = make_fill(filled_at=filled_at, volume_ml=Decimal("2.2"))

    result = forecast(fill, accuracy=Decimal(0), margin_days=0)

    assert result.alarm_at.astimezone(UTC) == datetime(2024, 3, 11, 4, 30, tzinfo=UTC)
    assert result.alarm_at.date() == date(2024, 3, 11)
    assert result.alarm_at.utcoffset() == timedelta(hours=-4)
    assert result.refill_by == date(2024, 3, 11)


def test_expected_residual_across_dst_uses_real_elapsed_time() -> None:
    # Same ZoneInfo on both ends: Python would subtract wall clocks (24 h); 23 h really pass.
    filled_at = datetime(2024, 3, 9, 12, 0, tzinfo=NEW_YORK)
    fill = make_fill(filled_at=filled_at, volume_ml=Decimal(20))

    residual = expected_residual_ml(fill, datetime(2024, 3, 10, 12, 0, tzinfo=NEW_YORK))

    assert residual == Decimal(20) - Decimal("0.2") * Decimal(23) / Decimal(24)


def test_stability_date_is_counted_in_the_fills_zone() -> None:
    # 21:00 in New York is already the next day in UTC.
    filled_at = datetime(2025, 1, 6, 21, 0, tzinfo=NEW_YORK)
    fill = make_fill(filled_at=filled_at, daily_dose_mcg=Decimal(0))

    assert forecast(fill, stability_days=180).refill_by == date(2025, 7, 5)


# --- conservative rounding property ---------------------------------------------------

ZONES = [UTC, NEW_YORK, ZoneInfo("Australia/Lord_Howe"), ZoneInfo("Asia/Kolkata")]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def exact_seconds(instant: datetime) -> Fraction:
    delta = instant - EPOCH
    return Fraction((delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds, 10**6)


def start_of_day_seconds(day: date, zone: object) -> Fraction:
    return exact_seconds(datetime.combine(day, time.min, tzinfo=zone))  # type: ignore[arg-type]


def decimals(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(
        min_value=Decimal(low), max_value=Decimal(high), places=places, allow_nan=False
    )


@given(
    filled_at=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2040, 1, 1),
        timezones=st.sampled_from(ZONES),
        allow_imaginary=False,
    ),
    concentration=st.sampled_from([500, 1000, 2000, 3000]),
    dose_mcg=decimals("1", "2000", 1),
    volume_ml=decimals("0", "40", 1),
    alarm_ml=decimals("2", "5", 1),
    oneoff_ml=decimals("0", "1", 2),
    accuracy=decimals("0", "0.3", 3),
    margin_days=st.integers(min_value=0, max_value=14),
    stability_days=st.integers(min_value=1, max_value=365),
)
def test_projections_are_never_later_than_exact(
    filled_at: datetime,
    concentration: int,
    dose_mcg: Decimal,
    volume_ml: Decimal,
    alarm_ml: Decimal,
    oneoff_ml: Decimal,
    accuracy: Decimal,
    margin_days: int,
    stability_days: int,
) -> None:
    fill = Fill(
        filled_at=filled_at,
        volume_ml=volume_ml,
        concentration_mcg_per_ml=Decimal(concentration),
        daily_dose_mcg=dose_mcg,
        alarm_volume_ml=alarm_ml,
        oneoff_ml=oneoff_ml,
    )

    result = forecast(
        fill, accuracy=accuracy, margin_days=margin_days, stability_days=stability_days
    )

    # Reference in exact rational arithmetic, independent of Decimal precision.
    v_day = Fraction(dose_mcg) / concentration
    # A fill at or below the alarm volume alarms at the fill itself.
    usable = max(Fraction(volume_ml) - Fraction(alarm_ml) - Fraction(oneoff_ml), Fraction(0))
    nominal_days = usable / v_day
    conservative_days = usable / (v_day * (1 + Fraction(accuracy)))
    start = exact_seconds(filled_at)
    for projected, days in (
        (result.alarm_at, nominal_days),
        (result.conservative_alarm_at, conservative_days),
    ):
        exact = start + days * 86400
        # Never later than exact; at most a second early (whole seconds, and Decimal's
        # 28 digits can put an exact whole second a hair below itself).
        assert exact_seconds(projected) <= exact <= exact_seconds(projected) + 1

    # Calendar days in the fill's zone (domain §7.1 #6): the conservative alarm's date
    # minus the margin, and the fill's date plus the stability limit.
    zone = filled_at.tzinfo
    # Whole seconds are exact: zone offsets are whole minutes, so flooring keeps the date.
    exact_alarm_day = datetime.fromtimestamp(
        math.floor(start + conservative_days * 86400), tz=UTC
    ).astimezone(zone)
    assert result.conservative_alarm_at.date() <= exact_alarm_day.date()
    assert result.refill_by == min(
        result.conservative_alarm_at.date() - timedelta(days=margin_days),
        filled_at.date() + timedelta(days=stability_days),
    )


# --- validation ----------------------------------------------------------------------


def test_naive_fill_time_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        make_fill(filled_at=datetime(2025, 1, 6, 9, 0))


def test_naive_residual_time_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        expected_residual_ml(make_fill(), datetime(2025, 2, 6, 9, 0))


def test_float_quantities_are_refused() -> None:
    with pytest.raises(TypeError):
        make_fill(volume_ml=20.0)
    with pytest.raises(TypeError):
        daily_volume_ml(400.0, 2000)


def test_ints_are_accepted_and_become_decimals() -> None:
    fill = make_fill(volume_ml=20, daily_dose_mcg=400)

    assert isinstance(fill.volume_ml, Decimal)
    assert fill.daily_volume_ml == Decimal("0.2")


@pytest.mark.parametrize(
    ("dose", "concentration"), [(400, 0), (400, -500), (-1, 2000)], ids=["zero-c", "neg-c", "neg-d"]
)
def test_daily_volume_rejects_impossible_inputs(dose: int, concentration: int) -> None:
    with pytest.raises(ValueError):
        daily_volume_ml(dose, concentration)
    with pytest.raises(ValueError):
        make_fill(daily_dose_mcg=dose, concentration_mcg_per_ml=concentration)


def test_negative_volume_is_rejected() -> None:
    with pytest.raises(ValueError, match="volume_ml"):
        make_fill(volume_ml=Decimal(-1))


def test_flex_steps_must_cover_24_hours() -> None:
    with pytest.raises(ValueError, match="24 hours"):
        flex_daily_total_mcg([(Decimal(60), Decimal(23))])
    with pytest.raises(ValueError, match="24 hours"):
        flex_daily_total_mcg([])


def test_flex_total_sums_rate_times_hours_per_step() -> None:
    steps = [(Decimal(10), Decimal(8)), (Decimal("20.5"), Decimal(16))]

    assert flex_daily_total_mcg(steps) == Decimal(408)


def test_dose_change_ratio_needs_a_previous_dose() -> None:
    assert dose_change_ratio(Decimal(400), Decimal(480)) == Decimal("1.2")
    with pytest.raises(ValueError):
        dose_change_ratio(Decimal(0), Decimal(100))


# --- device life ---------------------------------------------------------------------


def test_end_of_service_is_the_earlier_of_service_life_and_eri_clock() -> None:
    implanted_on = date(2020, 1, 1)

    life_only = device_end_of_service(implanted_on, 2557, None, 90)
    with_eri = device_end_of_service(implanted_on, 2557, date(2026, 6, 1), 90)
    late_eri = device_end_of_service(implanted_on, 2557, date(2026, 12, 1), 90)

    assert life_only == date(2027, 1, 1)
    assert with_eri == date(2026, 8, 30)
    assert late_eri == date(2027, 1, 1)


def test_end_of_service_is_unknown_without_any_clock() -> None:
    assert device_end_of_service(None, None, None, None) is None
    assert device_end_of_service(date(2020, 1, 1), None, date(2024, 1, 1), None) is None
    assert device_end_of_service(None, None, date(2024, 1, 1), 90) == date(2024, 3, 31)


# --- purity --------------------------------------------------------------------------


def test_pure_modules_import_without_django() -> None:
    code = (
        "import sys; import refills.forecast, refills.risk; "
        "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules)"
    )

    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert completed.returncode == 0, completed.stderr


def test_a_difference_below_display_precision_reads_as_a_match() -> None:
    fill = Fill(
        filled_at=datetime(2025, 1, 1, 9, 0, tzinfo=ZoneInfo("UTC")),
        volume_ml=Decimal("20"),
        concentration_mcg_per_ml=Decimal("2000"),
        daily_dose_mcg=Decimal("400"),
        alarm_volume_ml=Decimal("2"),
    )
    at = datetime(2025, 1, 31, 9, 0, tzinfo=ZoneInfo("UTC"))  # 14.0 mL expected
    result = reconcile(fill, at, Decimal("13.996"))
    assert result.discrepancy_ml != 0
    assert result.message.startswith("Residual matches the expected volume")
