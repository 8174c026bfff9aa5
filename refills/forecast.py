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
  fields are ``None`` and ``refill_by`` falls back to the drug-stability,
  planned-replacement or end-of-service date.
- Calendar days ("alarm date - margin", "fill date + 180 days") are whole days in
  the fill's zone (the clinic's), never multiples of 24 hours.
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
    END_OF_SERVICE = "end-of-service"


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


# --- the fill, its program history and its projection --------------------------------


@dataclass(frozen=True)
class ProgramChange:
    """A reprogramming between refills: from ``at`` on the pump delivers ``daily_dose_mcg``.

    It adds no drug: the reservoir keeps the fill's concentration. A dose of 0 is a
    stopped pump.
    """

    at: datetime
    daily_dose_mcg: Decimal

    def __post_init__(self) -> None:
        _require_aware(self.at, "program change at")
        object.__setattr__(
            self, "daily_dose_mcg", _non_negative(self.daily_dose_mcg, "program change dose")
        )


@dataclass(frozen=True)
class OneOff:
    """A one-off volume drawn from the reservoir at ``at`` (a bridge or priming bolus)."""

    at: datetime
    volume_ml: Decimal

    def __post_init__(self) -> None:
        _require_aware(self.at, "one-off at")
        object.__setattr__(self, "volume_ml", _non_negative(self.volume_ml, "one-off volume_ml"))


def _utc(instant: datetime) -> datetime:
    return instant.astimezone(UTC)


@dataclass(frozen=True)
class Fill:
    """A refill and the program history since: what a projection starts from.

    ``volume_ml`` is R_fill, the programmed reservoir volume right after the fill.
    ``daily_dose_mcg`` is the dose programmed at the fill; ``program_changes`` are
    the later reprogrammings (each a new rate segment, at the fill's concentration).
    ``oneoff_ml`` is drawn once at the fill (bridge or priming bolus);
    ``oneoffs`` are volumes drawn at later instants.
    ``empty_volume_ml`` is E, the volume at which the pump can no longer deliver;
    it is per pump model and unconfirmed, hence the default of 0.

    A fill without changes or later one-offs is the single-segment projection of
    domain §2.2. With them, the projection runs through every segment and the
    flow-accuracy allowance applies to everything delivered since the fill
    (domain §7.1 #6): conservative volume at t = R_fill - one-offs - (1 + ε) x ∫rate.
    """

    filled_at: datetime
    volume_ml: Decimal
    concentration_mcg_per_ml: Decimal
    daily_dose_mcg: Decimal
    alarm_volume_ml: Decimal
    oneoff_ml: Decimal = ZERO
    empty_volume_ml: Decimal = ZERO
    program_changes: tuple[ProgramChange, ...] = ()
    oneoffs: tuple[OneOff, ...] = ()

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
        start = _utc(self.filled_at)
        for name, kind in (("program_changes", ProgramChange), ("oneoffs", OneOff)):
            items = tuple(getattr(self, name))
            for item in items:
                if not isinstance(item, kind):
                    raise TypeError(f"{name} must hold {kind.__name__}, not {type(item).__name__}")
                if _utc(item.at) < start:
                    raise ValueError(
                        f"{name}: {item.at.isoformat()} is before the fill "
                        f"({self.filled_at.isoformat()})"
                    )
            # Stable sort: of two changes at one instant, the later-listed one wins.
            object.__setattr__(self, name, tuple(sorted(items, key=lambda i: _utc(i.at))))

    @property
    def daily_volume_ml(self) -> Decimal:
        """The volume a day programmed at the fill (the first segment)."""
        return daily_volume_ml(self.daily_dose_mcg, self.concentration_mcg_per_ml)

    def _segments(self) -> list[tuple[Decimal, Decimal]]:
        """(start in days after the fill, mL/day) for every rate segment, in order."""
        segments = [(ZERO, self.daily_volume_ml)]
        for change in self.program_changes:
            start = _elapsed_days(self.filled_at, change.at)
            rate = daily_volume_ml(change.daily_dose_mcg, self.concentration_mcg_per_ml)
            if segments[-1][0] == start:
                segments[-1] = (start, rate)
            else:
                segments.append((start, rate))
        return segments

    def _later_oneoffs(self) -> list[tuple[Decimal, Decimal]]:
        """(days after the fill, mL) of every one-off in ``oneoffs``."""
        return [(_elapsed_days(self.filled_at, o.at), o.volume_ml) for o in self.oneoffs]


@dataclass(frozen=True)
class Segment:
    """One rate segment of a fill's history, as staff see it."""

    starts_at: datetime
    daily_dose_mcg: Decimal
    daily_volume_ml: Decimal
    # The nominal expected volume at the start (R_fill for the fill itself).
    volume_ml: Decimal


def current_segment(fill: Fill) -> Segment:
    """The last rate segment: the program the projection runs on from its start."""
    if not fill.program_changes:
        return Segment(
            starts_at=fill.filled_at,
            daily_dose_mcg=fill.daily_dose_mcg,
            daily_volume_ml=fill.daily_volume_ml,
            volume_ml=fill.volume_ml,
        )
    change = fill.program_changes[-1]
    return Segment(
        starts_at=change.at.astimezone(fill.filled_at.tzinfo),
        daily_dose_mcg=change.daily_dose_mcg,
        daily_volume_ml=daily_volume_ml(change.daily_dose_mcg, fill.concentration_mcg_per_ml),
        volume_ml=expected_residual_ml(fill, change.at),
    )


def _delivered_ml(segments: list[tuple[Decimal, Decimal]], days: Decimal) -> Decimal:
    """∫ rate from the fill to ``days`` after it, at the programmed rates."""
    if len(segments) == 1:
        # The single-segment expression, kept as it was so old answers are unchanged.
        return segments[0][1] * days
    total = ZERO
    for index, (start, rate) in enumerate(segments):
        if start >= days:
            break
        end = segments[index + 1][0] if index + 1 < len(segments) else days
        total += rate * (min(end, days) - start)
    return total


def _days_to_volume(fill: Fill, threshold_ml: Decimal, factor: Decimal) -> Decimal | None:
    """Days from the fill to the first moment the volume is at or below ``threshold_ml``,
    with the programmed rates multiplied by ``factor`` (1 + ε for the conservative view).

    0 when the fill already starts at or below it; None when nothing is ever drawn
    (every segment stopped and no later one-off).
    """
    segments = fill._segments()
    oneoffs = fill._later_oneoffs()
    if all(rate == 0 for _, rate in segments) and not any(ml > 0 for _, ml in oneoffs):
        return None
    remaining = fill.volume_ml - threshold_ml - fill.oneoff_ml
    remaining -= sum((ml for day, ml in oneoffs if day == 0), ZERO)
    if remaining <= 0:
        return ZERO
    if len(segments) == 1 and not oneoffs:
        speed = segments[0][1] * factor
        return remaining / speed
    # Walk the breakpoints (program changes and one-offs) in time order.
    breakpoints = sorted({start for start, _ in segments[1:]} | {d for d, _ in oneoffs if d > 0})
    at = ZERO
    index = 0
    for point in breakpoints:
        while index + 1 < len(segments) and segments[index + 1][0] <= at:
            index += 1
        speed = segments[index][1] * factor
        if speed > 0:
            drawn = speed * (point - at)
            if drawn >= remaining:
                return at + remaining / speed
            remaining -= drawn
        at = point
        remaining -= sum((ml for day, ml in oneoffs if day == point), ZERO)
        if remaining <= 0:
            return at
    while index + 1 < len(segments) and segments[index + 1][0] <= at:
        index += 1
    speed = segments[index][1] * factor
    if speed > 0:
        return at + remaining / speed
    return None


@dataclass(frozen=True)
class Forecast:
    """Projected alarm, empty and refill-by dates for one fill and its history.

    ``days_to_*`` are exact Decimal days from ``filled_at`` (0 when the fill
    already starts at or below that volume). Instants are in the fill's zone.
    All of them are None when nothing is ever drawn (a stopped pump).
    ``conservative_*`` assume the pump runs fast by ``accuracy`` on everything
    delivered since the fill (domain §2.2, §7.1 #6).
    ``daily_volume_ml`` is the rate of the last segment (the program now).
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


def _whole_days(value: object, name: str) -> int:
    days = _non_negative(value, name)
    if days != days.to_integral_value():
        raise ValueError(f"{name} must be a whole number of days, got {days}")
    return int(days)


def _add_days(day: date, days: int, what: str) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError as exc:
        raise ValueError(
            f"{what} is outside the supported date range; check the dose, concentration and volumes"
        ) from exc


def forecast(
    fill: Fill,
    *,
    accuracy: Decimal = DEFAULT_ACCURACY,
    margin_days: int = DEFAULT_MARGIN_DAYS,
    stability_days: int = DEFAULT_STABILITY_DAYS,
    replacement_on: date | None = None,
    end_of_service_on: date | None = None,
) -> Forecast:
    """Project a fill and its program history forward (domain §7.1 #2-#6).

    refill_by = min(date of the conservative alarm - margin, fill date + stability_days,
    replacement_on, end_of_service_on). Days are calendar days in the fill's zone
    (the clinic's): the date of an instant is taken first, then whole days are
    added or taken away, so a daylight-saving change never moves a date.
    A planned replacement after the end of service is not a plan for the date: the
    end of service sets it. On a tie the reason is the first of alarm-margin,
    drug-stability, end-of-service, planned-replacement.
    """
    accuracy_fraction = _non_negative(accuracy, "accuracy")
    margin = _whole_days(margin_days, "margin_days")
    stability = _whole_days(stability_days, "stability_days")
    if stability <= 0:
        raise ValueError(f"stability_days must be positive, got {stability}")
    if replacement_on is not None:
        _require_date(replacement_on, "replacement_on")
    if end_of_service_on is not None:
        _require_date(end_of_service_on, "end_of_service_on")

    filled_at = fill.filled_at
    fast = 1 + accuracy_fraction
    one = Decimal(1)
    days_alarm = _days_to_volume(fill, fill.alarm_volume_ml, one)
    days_conservative = _days_to_volume(fill, fill.alarm_volume_ml, fast)
    days_empty = _days_to_volume(fill, fill.empty_volume_ml, one)
    days_conservative_empty = _days_to_volume(fill, fill.empty_volume_ml, fast)

    def instant(days: Decimal | None) -> datetime | None:
        return None if days is None else _after_days(filled_at, days)

    conservative_alarm_at = instant(days_conservative)
    # The instant is already floored to the second and in the fill's zone, so its
    # date is never later than the exact one; the margin is whole calendar days.
    alarm_margin_on = (
        None
        if conservative_alarm_at is None
        else _add_days(conservative_alarm_at.date(), -margin, "the alarm date minus the margin")
    )
    stability_on = _add_days(filled_at.date(), stability, "the drug stability date")

    # Order matters only for ties: the alarm is the reason staff can act on.
    candidates: list[tuple[date, RefillByReason]] = []
    if alarm_margin_on is not None:
        candidates.append((alarm_margin_on, RefillByReason.ALARM_MARGIN))
    candidates.append((stability_on, RefillByReason.DRUG_STABILITY))
    if end_of_service_on is not None:
        candidates.append((end_of_service_on, RefillByReason.END_OF_SERVICE))
    if replacement_on is not None and (
        end_of_service_on is None or replacement_on <= end_of_service_on
    ):
        candidates.append((replacement_on, RefillByReason.PLANNED_REPLACEMENT))
    refill_by, reason = min(candidates, key=lambda candidate: candidate[0])

    return Forecast(
        daily_volume_ml=current_segment(fill).daily_volume_ml,
        days_to_alarm=days_alarm,
        days_to_conservative_alarm=days_conservative,
        days_to_empty=days_empty,
        days_to_conservative_empty=days_conservative_empty,
        alarm_at=instant(days_alarm),
        conservative_alarm_at=conservative_alarm_at,
        empty_at=instant(days_empty),
        conservative_empty_at=instant(days_conservative_empty),
        refill_by=refill_by,
        refill_by_reason=reason,
        capped_by_stability=alarm_margin_on is None or stability_on < alarm_margin_on,
    )


# --- residual volume and reconciliation ----------------------------------------------


def _raw_residual_ml(fill: Fill, at: datetime, factor: Decimal | None = None) -> Decimal:
    _require_aware(at, "at")
    elapsed_days = _elapsed_days(fill.filled_at, at)
    if elapsed_days < 0:
        raise ValueError(f"at ({at.isoformat()}) is before the fill ({fill.filled_at.isoformat()})")
    delivered_ml = _delivered_ml(fill._segments(), elapsed_days)
    if factor is not None:
        delivered_ml *= factor
    oneoffs_ml = sum((ml for day, ml in fill._later_oneoffs() if day <= elapsed_days), ZERO)
    return fill.volume_ml - delivered_ml - fill.oneoff_ml - oneoffs_ml


def _residual_floor_ml(fill: Fill) -> Decimal:
    return min(fill.empty_volume_ml, fill.volume_ml)


def expected_residual_ml(fill: Fill, at: datetime) -> Decimal:
    """R_exp = R_fill - ∫ V_day over the program segments - one-off volumes (domain §2.3).

    Clamped below at the empty volume E (0 by default): once a pump can no
    longer deliver, its residual stops falling. Without the clamp an overdue
    refill would show a negative residual, and a pump found dry would look like
    under-delivery. Raises ValueError when ``at`` is before the fill.
    """
    return max(_raw_residual_ml(fill, at), _residual_floor_ml(fill))


def projected_volume_ml(fill: Fill, at: datetime) -> Decimal:
    """Projected reservoir volume at ``at``, for charts: the same as expected_residual_ml."""
    return expected_residual_ml(fill, at)


def conservative_volume_ml(
    fill: Fill, at: datetime, *, accuracy: Decimal = DEFAULT_ACCURACY
) -> Decimal:
    """The volume left at ``at`` if the pump ran fast by ``accuracy`` since the fill:
    R_fill - one-offs - (1 + ε) x ∫ rate, clamped at the empty volume like the nominal one."""
    fast = 1 + _non_negative(accuracy, "accuracy")
    return max(_raw_residual_ml(fill, at, fast), _residual_floor_ml(fill))


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
