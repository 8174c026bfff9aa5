"""Reservoir projection and refill reconciliation for ITB pumps (domain.md §2, §7.1).

Pure Python on purpose: no Django, no clock, no I/O. Every time is passed in, so
the same inputs always give the same answer and the maths can be tested alone.

Conventions callers rely on:

- Quantities are ``Decimal`` (``int`` is accepted). Floats are refused with
  ``TypeError``: 0.1 mL as a float is not 0.1 mL.
- Units are in the names: ``_ml``, ``_mcg``, ``_mcg_per_ml``, ``_days``.
- Datetimes must be timezone-aware. Elapsed time is always real elapsed time
  (computed in UTC), so a daylight-saving change never adds or loses an hour
  of pump delivery.
- Projections err early: instants are truncated to the whole second and dates
  are the calendar date (in the fill's own time zone) of that truncated
  instant, so nothing projected is ever later than the exact value.
- A daily dose of 0 (stopped pump) never reaches the alarm or empties: those
  fields are ``None`` and ``refill_by`` falls back to the drug-stability or
  planned-replacement date.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from enum import StrEnum

ZERO = Decimal(0)
HOURS_PER_DAY = Decimal(24)
MICROSECONDS_PER_DAY = Decimal(86_400_000_000)

DEFAULT_ACCURACY = Decimal("0.15")
DEFAULT_MARGIN_DAYS = 3
DEFAULT_STABILITY_DAYS = 180
DEFAULT_DISCREPANCY_ML = Decimal("2")
DEFAULT_DISCREPANCY_RELATIVE = Decimal("0.15")

# Strengths sold in mg/mL notation (0.05, 0.5, 1, 2, 3 mg/mL). Typed into a
# mcg/mL field they are a 1000x error (domain §6, §7.2 #2).
MG_PER_ML_STRENGTHS = frozenset(Decimal(v) for v in ("0.05", "0.5", "1", "2", "3"))


class RefillByReason(StrEnum):
    """Which limit set the refill-by date (domain §7.1 #6)."""

    ALARM_MARGIN = "alarm-margin"
    DRUG_STABILITY = "drug-stability"
    PLANNED_REPLACEMENT = "planned-replacement"


class Direction(StrEnum):
    UNDER_DELIVERY = "under-delivery"
    OVER_DELIVERY = "over-delivery"


# --- input helpers ------------------------------------------------------------------


def _decimal(value: object, name: str) -> Decimal:
    # bool is an int subclass; True mL is a bug, not a volume.
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{name} must be a Decimal or int, not {type(value).__name__}")
    result = Decimal(value)
    if not result.is_finite():
        raise ValueError(f"{name} must be a finite number, got {value}")
    return result


def _non_negative(value: object, name: str) -> Decimal:
    result = _decimal(value, name)
    if result < 0:
        raise ValueError(f"{name} must not be negative, got {result}")
    return result


def _require_aware(value: object, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value


def _require_date(value: object, name: str) -> date:
    # datetime is a date subclass; a datetime here would compare wrongly with dates.
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"{name} must be a date, not {type(value).__name__}")
    return value


def _elapsed_days(start: datetime, end: datetime) -> Decimal:
    # Subtracting two datetimes that share one ZoneInfo gives wall-clock time and
    # ignores DST; going through UTC gives the real elapsed time the pump ran.
    delta = end.astimezone(UTC) - start.astimezone(UTC)
    microseconds = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return Decimal(microseconds) / MICROSECONDS_PER_DAY


def _after_days(start: datetime, days: Decimal) -> datetime:
    """The instant ``days`` of real time after ``start``, in start's zone, floored to the second."""
    # Rounded down: a projection a second early is harmless, a second late is not.
    microseconds = int((days * MICROSECONDS_PER_DAY).to_integral_value(rounding=ROUND_FLOOR))
    try:
        instant = start.astimezone(UTC) + timedelta(microseconds=microseconds)
    except OverflowError as exc:
        raise ValueError(
            f"projection {days} days after {start.isoformat()} is outside the supported date "
            "range; check the dose, concentration and volumes"
        ) from exc
    return instant.replace(microsecond=0).astimezone(start.tzinfo)


# --- dose and volume arithmetic ------------------------------------------------------


def daily_volume_ml(
    daily_dose_mcg: Decimal | int, concentration_mcg_per_ml: Decimal | int
) -> Decimal:
    """V_day = D_total / C, in mL/day (domain §2.2)."""
    dose_mcg = _decimal(daily_dose_mcg, "daily_dose_mcg")
    concentration = _decimal(concentration_mcg_per_ml, "concentration_mcg_per_ml")
    if concentration <= 0:
        raise ValueError(f"concentration_mcg_per_ml must be positive, got {concentration}")
    if dose_mcg < 0:
        raise ValueError(f"daily_dose_mcg must not be negative, got {dose_mcg}")
    return dose_mcg / concentration


def flex_daily_total_mcg(steps: Iterable[tuple[Decimal | int, Decimal | int]]) -> Decimal:
    """Daily total of a flex program: sum of rate_mcg_per_hour x hours over its steps.

    The hours must cover exactly one day (24 h). Showing this total beside each
    mcg/h step is what catches the ISMP "60 mcg/h instead of 60 mcg/day" error.
    """
    total_mcg = ZERO
    total_hours = ZERO
    for index, (rate, hours) in enumerate(steps):
        rate_mcg_per_hour = _non_negative(rate, f"steps[{index}] rate_mcg_per_hour")
        step_hours = _decimal(hours, f"steps[{index}] hours")
        if step_hours <= 0:
            raise ValueError(f"steps[{index}] hours must be positive, got {step_hours}")
        total_mcg += rate_mcg_per_hour * step_hours
        total_hours += step_hours
    if total_hours != HOURS_PER_DAY:
        raise ValueError(f"flex steps must cover 24 hours, they cover {total_hours}")
    return total_mcg


def bolus_daily_total_mcg(bolus_mcg: Decimal | int, per_day: Decimal | int) -> Decimal:
    """Average daily dose of scheduled (or expected PTM) boluses: dose x boluses per day.

    ``per_day`` may be fractional (one bolus every other day is 0.5).
    """
    return _non_negative(bolus_mcg, "bolus_mcg") * _non_negative(per_day, "per_day")


def dose_change_ratio(old_mcg: Decimal | int, new_mcg: Decimal | int) -> Decimal:
    """new / old daily dose; 1.2 is a 20 % increase, 24 is the ISMP 24x error.

    Raises ValueError when the old dose is 0: a restart from a stopped pump has
    no ratio and needs its own review.
    """
    old = _decimal(old_mcg, "old_mcg")
    new = _non_negative(new_mcg, "new_mcg")
    if old <= 0:
        raise ValueError(f"old_mcg must be positive to compare doses, got {old}")
    return new / old


def mg_per_ml_suspect(value: Decimal | int) -> bool:
    """True when a concentration typed as mcg/mL looks like an mg/mL strength.

    The form should ask "did you mean value x 1000 mcg/mL?" (domain §7.2 #2).
    """
    # Decimal("2.0") and Decimal("2") are equal and hash alike, so set lookup is safe.
    return _decimal(value, "value") in MG_PER_ML_STRENGTHS


def device_end_of_service(
    implanted_on: date | None,
    max_service_life_days: int | None,
    eri_on: date | None,
    eri_to_eos_days: int | None,
) -> date | None:
    """Projected end of service: the earlier of implant + service life and ERI + ERI-to-EOS.

    Each clock counts only when both of its parts are known; None when neither is.
    """
    candidates: list[date] = []
    if implanted_on is not None and max_service_life_days is not None:
        life_days = _non_negative(max_service_life_days, "max_service_life_days")
        candidates.append(
            _require_date(implanted_on, "implanted_on") + timedelta(days=int(life_days))
        )
    if eri_on is not None and eri_to_eos_days is not None:
        eri_days = _non_negative(eri_to_eos_days, "eri_to_eos_days")
        candidates.append(_require_date(eri_on, "eri_on") + timedelta(days=int(eri_days)))
    return min(candidates, default=None)


# --- the fill and its projection ------------------------------------------------------


@dataclass(frozen=True)
class Fill:
    """The reservoir state a projection starts from: a refill, or a program change.

    ``volume_ml`` is R_fill, the programmed reservoir volume right after the fill.
    ``oneoff_ml`` is drawn once after the fill (bridge or priming bolus).
    ``empty_volume_ml`` is E, the volume at which the pump can no longer deliver;
    it is per pump model and unconfirmed, hence the default of 0.
    """

    filled_at: datetime
    volume_ml: Decimal
    concentration_mcg_per_ml: Decimal
    daily_dose_mcg: Decimal
    alarm_volume_ml: Decimal
    oneoff_ml: Decimal = ZERO
    empty_volume_ml: Decimal = ZERO

    def __post_init__(self) -> None:
        _require_aware(self.filled_at, "filled_at")
        # Normalise ints to Decimal so every later sum stays in Decimal.
        for name in ("volume_ml", "alarm_volume_ml", "oneoff_ml", "empty_volume_ml"):
            object.__setattr__(self, name, _non_negative(getattr(self, name), name))
        object.__setattr__(
            self,
            "concentration_mcg_per_ml",
            _decimal(self.concentration_mcg_per_ml, "concentration_mcg_per_ml"),
        )
        object.__setattr__(self, "daily_dose_mcg", _decimal(self.daily_dose_mcg, "daily_dose_mcg"))
        # Validates concentration > 0 and dose >= 0 once, at construction.
        daily_volume_ml(self.daily_dose_mcg, self.concentration_mcg_per_ml)

    @property
    def daily_volume_ml(self) -> Decimal:
        return daily_volume_ml(self.daily_dose_mcg, self.concentration_mcg_per_ml)


@dataclass(frozen=True)
class Forecast:
    """Projected alarm, empty and refill-by dates for one fill.

    ``days_to_*`` are exact Decimal days from ``filled_at`` (negative when the
    fill was already at or below that volume). Instants are in the fill's zone.
    All of them are None when the daily dose is 0.
    ``conservative_*`` assume the pump runs fast by ``accuracy`` (domain §2.2).
    """

    daily_volume_ml: Decimal
    days_to_alarm: Decimal | None
    days_to_conservative_alarm: Decimal | None
    days_to_empty: Decimal | None
    days_to_conservative_empty: Decimal | None
    alarm_at: datetime | None
    conservative_alarm_at: datetime | None
    empty_at: datetime | None
    conservative_empty_at: datetime | None
    refill_by: date
    refill_by_reason: RefillByReason
    # True when the drug-stability limit comes before the alarm-margin date (or
    # there is no alarm date at all), even if a planned replacement is earlier still.
    capped_by_stability: bool


def forecast(
    fill: Fill,
    *,
    accuracy: Decimal = DEFAULT_ACCURACY,
    margin_days: int = DEFAULT_MARGIN_DAYS,
    stability_days: int = DEFAULT_STABILITY_DAYS,
    replacement_on: date | None = None,
) -> Forecast:
    """Project a fill forward (domain §7.1 #2-#6).

    refill_by = min(conservative alarm - margin, fill + stability_days, replacement_on),
    each as the calendar date in the fill's zone. On a tie the reason is the
    first of alarm-margin, drug-stability, planned-replacement.
    """
    accuracy_fraction = _non_negative(accuracy, "accuracy")
    margin = _non_negative(margin_days, "margin_days")
    stability = _decimal(stability_days, "stability_days")
    if stability <= 0:
        raise ValueError(f"stability_days must be positive, got {stability}")
    if replacement_on is not None:
        _require_date(replacement_on, "replacement_on")

    filled_at = fill.filled_at
    volume_per_day_ml = fill.daily_volume_ml
    if volume_per_day_ml == 0:
        # A stopped pump never reaches the alarm; only the calendar limits apply.
        days_alarm = days_conservative = days_empty = days_conservative_empty = None
    else:
        usable_to_alarm_ml = fill.volume_ml - fill.alarm_volume_ml - fill.oneoff_ml
        usable_to_empty_ml = fill.volume_ml - fill.empty_volume_ml - fill.oneoff_ml
        fast_volume_per_day_ml = volume_per_day_ml * (1 + accuracy_fraction)
        days_alarm = usable_to_alarm_ml / volume_per_day_ml
        days_conservative = usable_to_alarm_ml / fast_volume_per_day_ml
        days_empty = usable_to_empty_ml / volume_per_day_ml
        days_conservative_empty = usable_to_empty_ml / fast_volume_per_day_ml

    def instant(days: Decimal | None) -> datetime | None:
        return None if days is None else _after_days(filled_at, days)

    alarm_margin_on = (
        None
        if days_conservative is None
        else _after_days(filled_at, days_conservative - margin).date()
    )
    stability_on = _after_days(filled_at, stability).date()

    # Order matters only for ties: the alarm is the reason staff can act on.
    candidates: list[tuple[date, RefillByReason]] = []
    if alarm_margin_on is not None:
        candidates.append((alarm_margin_on, RefillByReason.ALARM_MARGIN))
    candidates.append((stability_on, RefillByReason.DRUG_STABILITY))
    if replacement_on is not None:
        candidates.append((replacement_on, RefillByReason.PLANNED_REPLACEMENT))
    refill_by, reason = min(candidates, key=lambda candidate: candidate[0])

    return Forecast(
        daily_volume_ml=volume_per_day_ml,
        days_to_alarm=days_alarm,
        days_to_conservative_alarm=days_conservative,
        days_to_empty=days_empty,
        days_to_conservative_empty=days_conservative_empty,
        alarm_at=instant(days_alarm),
        conservative_alarm_at=instant(days_conservative),
        empty_at=instant(days_empty),
        conservative_empty_at=instant(days_conservative_empty),
        refill_by=refill_by,
        refill_by_reason=reason,
        capped_by_stability=alarm_margin_on is None or stability_on < alarm_margin_on,
    )


# --- residual volume and reconciliation ----------------------------------------------


def _raw_residual_ml(fill: Fill, at: datetime) -> Decimal:
    _require_aware(at, "at")
    elapsed_days = _elapsed_days(fill.filled_at, at)
    if elapsed_days < 0:
        raise ValueError(f"at ({at.isoformat()}) is before the fill ({fill.filled_at.isoformat()})")
    return fill.volume_ml - fill.daily_volume_ml * elapsed_days - fill.oneoff_ml


def _residual_floor_ml(fill: Fill) -> Decimal:
    return min(fill.empty_volume_ml, fill.volume_ml)


def expected_residual_ml(fill: Fill, at: datetime) -> Decimal:
    """R_exp = R_fill - V_day x elapsed days - one-off volume (domain §2.3).

    Clamped below at the empty volume E (0 by default): once a pump can no
    longer deliver, its residual stops falling. Without the clamp an overdue
    refill would show a negative residual, and a pump found dry would look like
    under-delivery. Raises ValueError when ``at`` is before the fill.
    """
    return max(_raw_residual_ml(fill, at), _residual_floor_ml(fill))


def projected_volume_ml(fill: Fill, at: datetime) -> Decimal:
    """Projected reservoir volume at ``at``, for charts: the same as expected_residual_ml."""
    return expected_residual_ml(fill, at)


@dataclass(frozen=True)
class Reconciliation:
    """Expected vs aspirated residual at a refill (domain §2.3, §7.1 #7).

    ``discrepancy_ml`` = actual - expected (positive: more left than expected).
    ``relative_error`` = discrepancy / expected delivered volume, the §2.3 ``e``;
    None when nothing was expected to be delivered.
    ``direction`` is set only when ``flagged``.
    ``expected_empty`` is True when the projection had reached the empty volume.
    """

    expected_ml: Decimal
    actual_ml: Decimal
    discrepancy_ml: Decimal
    expected_delivered_ml: Decimal
    actual_delivered_ml: Decimal
    relative_error: Decimal | None
    flagged: bool
    direction: Direction | None
    expected_empty: bool
    message: str


def _format_ml(value: Decimal) -> str:
    magnitude = abs(value)
    # Two places only when one would print "0.0" for a real difference.
    places = Decimal("0.01") if ZERO < magnitude < Decimal("0.05") else Decimal("0.1")
    return f"{magnitude.quantize(places, rounding=ROUND_HALF_UP)}"


def _format_percent(fraction: Decimal) -> str:
    return f"{(abs(fraction) * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def _reconciliation_message(
    *,
    expected_ml: Decimal,
    actual_ml: Decimal,
    discrepancy_ml: Decimal,
    relative_error: Decimal | None,
    direction: Direction | None,
    expected_empty: bool,
) -> str:
    found = f"{_format_ml(actual_ml)} mL found, {_format_ml(expected_ml)} mL expected"
    empty_note = " The reservoir was projected to be empty by now." if expected_empty else ""
    share = "" if relative_error is None else f"{_format_percent(relative_error)} "
    amount = _format_ml(discrepancy_ml)
    if discrepancy_ml == 0 or amount in ("0", "0.0", "0.00"):
        # Below the display's precision: saying "0.00 mL less" would only confuse.
        return f"Residual matches the expected volume ({_format_ml(expected_ml)} mL).{empty_note}"
    if direction is Direction.UNDER_DELIVERY:
        return (
            f"{amount} mL more left than expected ({found}): the pump delivered {share}less "
            "than programmed (under-delivery). Withdrawal risk: check the catheter and pump, "
            f"and tell the physician.{empty_note}"
        )
    if direction is Direction.OVER_DELIVERY:
        return (
            f"{amount} mL less left than expected ({found}): the pump delivered {share}more "
            "than programmed, or drug was lost (over-delivery, leak, diversion or an entry "
            "error). Watch for overdose signs and recheck the programmed concentration and "
            f"volumes.{empty_note}"
        )
    side = "more" if discrepancy_ml > 0 else "less"
    return f"{amount} mL {side} left than expected ({found}): within tolerance.{empty_note}"


def reconcile(
    fill: Fill,
    at: datetime,
    actual_residual_ml: Decimal | int,
    *,
    abs_threshold_ml: Decimal = DEFAULT_DISCREPANCY_ML,
    rel_threshold: Decimal = DEFAULT_DISCREPANCY_RELATIVE,
) -> Reconciliation:
    """Compare the aspirated residual with the expected one.

    Flagged when |discrepancy| > abs_threshold_ml or |relative_error| > rel_threshold
    (both strict). The relative test dominates shortly after a fill, when little
    was expected to be delivered: that is intended, the ratio is what shows a
    stalled pump early.
    """
    actual_ml = _non_negative(actual_residual_ml, "actual_residual_ml")
    abs_limit_ml = _non_negative(abs_threshold_ml, "abs_threshold_ml")
    rel_limit = _non_negative(rel_threshold, "rel_threshold")

    raw_ml = _raw_residual_ml(fill, at)
    floor_ml = _residual_floor_ml(fill)
    expected_ml = max(raw_ml, floor_ml)
    discrepancy_ml = actual_ml - expected_ml
    expected_delivered_ml = fill.volume_ml - expected_ml
    actual_delivered_ml = fill.volume_ml - actual_ml
    # e = (V_exp - V_act) / V_exp simplifies to discrepancy / V_exp.
    relative_error = None if expected_delivered_ml == 0 else discrepancy_ml / expected_delivered_ml

    flagged = abs(discrepancy_ml) > abs_limit_ml or (
        relative_error is not None and abs(relative_error) > rel_limit
    )
    direction: Direction | None = None
    if flagged:
        # More left than expected means less went into the patient.
        direction = Direction.UNDER_DELIVERY if discrepancy_ml > 0 else Direction.OVER_DELIVERY
    expected_empty = raw_ml <= floor_ml

    return Reconciliation(
        expected_ml=expected_ml,
        actual_ml=actual_ml,
        discrepancy_ml=discrepancy_ml,
        expected_delivered_ml=expected_delivered_ml,
        actual_delivered_ml=actual_delivered_ml,
        relative_error=relative_error,
        flagged=flagged,
        direction=direction,
        expected_empty=expected_empty,
        message=_reconciliation_message(
            expected_ml=expected_ml,
            actual_ml=actual_ml,
            discrepancy_ml=discrepancy_ml,
            relative_error=relative_error,
            direction=direction,
            expected_empty=expected_empty,
        ),
    )


# --- trend and post-fill checks (domain §7.1 #7 and #8) -----------------------------

DEFAULT_TREND_ML = Decimal("1")
DEFAULT_POCKET_FILL_SMALL_ML = Decimal("1")
DEFAULT_POCKET_FILL_LARGE_ML = Decimal("2")
# Maino 2017 gives limits for 20 mL and 40 mL reservoirs; a pump up to this size
# counts as the small one.
SMALL_RESERVOIR_ML = Decimal("20")


def discrepancy_trend(
    current_ml: Decimal | int | None,
    previous_ml: Decimal | int | None,
    *,
    threshold_ml: Decimal = DEFAULT_TREND_ML,
) -> Direction | None:
    """Two consecutive discrepancies in the same direction, each above ``threshold_ml``.

    Each may be within the single-refill tolerance; together they suggest a drift
    (a slowly failing catheter or pump, or a habit in how volumes are entered)
    that one refill alone would not show. Returns the shared direction, or None.
    """
    if current_ml is None or previous_ml is None:
        return None
    current = _decimal(current_ml, "current_ml")
    previous = _decimal(previous_ml, "previous_ml")
    limit = _non_negative(threshold_ml, "threshold_ml")
    if abs(current) <= limit or abs(previous) <= limit:
        return None
    if (current > 0) != (previous > 0):
        return None
    return Direction.UNDER_DELIVERY if current > 0 else Direction.OVER_DELIVERY


@dataclass(frozen=True)
class PostFillCheck:
    gap_ml: Decimal  # programmed (what went in) minus what the pump measured
    limit_ml: Decimal
    suspected: bool  # a possible pocket fill


def post_fill_check(
    *,
    capacity_ml: Decimal | int,
    programmed_ml: Decimal | int,
    measured_ml: Decimal | int,
    small_limit_ml: Decimal = DEFAULT_POCKET_FILL_SMALL_ML,
    large_limit_ml: Decimal = DEFAULT_POCKET_FILL_LARGE_ML,
) -> PostFillCheck:
    """Compare what was put into a sensor pump with the volume it then measured.

    Drug injected into the pocket instead of the reservoir never reaches the pump's
    sensor: more than 1 mL missing (20 mL pumps) or 2 mL (40 mL pumps) is a
    possible pocket fill (Maino 2017). A measured volume above the programmed one
    is not a pocket fill and is not flagged here.
    """
    capacity = _non_negative(capacity_ml, "capacity_ml")
    gap = _decimal(programmed_ml, "programmed_ml") - _non_negative(measured_ml, "measured_ml")
    limit = _non_negative(
        small_limit_ml if capacity <= SMALL_RESERVOIR_ML else large_limit_ml, "limit_ml"
    )
    return PostFillCheck(gap_ml=gap, limit_ml=limit, suspected=gap > limit)
