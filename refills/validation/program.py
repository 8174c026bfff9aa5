"""Checks on a drug program: concentration, daily dose, flex steps, boluses, age (§7.2)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from refills.forecast import mg_per_ml_suspect
from refills.validation.findings import Finding, _error, _physician, _warning, fmt

# Label ranges (domain.md §1.5, §7.2 #3).
SPINAL_RANGE_MCG = (Decimal("12"), Decimal("2003"))
CEREBRAL_RANGE_MCG = (Decimal("22"), Decimal("1400"))
MOST_PATIENTS_UPPER_MCG = {"spinal": Decimal("800"), "cerebral": Decimal("703")}
LIMITED_EXPERIENCE_MCG = Decimal("1000")
ATTENDING_OVERRIDE_ABOVE_MCG = Decimal("2003")
PEDIATRIC_AGE_YEARS = 12
PEDIATRIC_UPPER_MCG = Decimal("1199")
MIN_CONCENTRATION = Decimal("50")
MAX_CONCENTRATION = Decimal("3000")
SCREENING_CONCENTRATION = Decimal("50")
BOLUS_WARNING_MCG = Decimal("100")
# Default of PUMPTRACK_POLICY BOLUS_SHARE_WARNING (domain.md §7.2 #5, design choice):
# scheduled boluses above this share of the basal dose need a reason.
BOLUS_SHARE_WARNING = Decimal("0.5")
LABELLED_MIN_AGE_YEARS = 4  # Gablofen is labelled for ages 4 and up.


def check_concentration(
    value: Decimal | None,
    *,
    catalogue_strengths: Iterable[Decimal],
    is_custom_dilution: bool = False,
    custom_reason: str = "",
    has_second_clinician: bool = False,
    field: str = "concentration_mcg_per_ml",
) -> list[Finding]:
    """Concentration for a pump fill (domain.md §7.2 #2)."""
    if value is None:
        return [_error("concentration_missing", field, "Enter the concentration in mcg/mL.")]
    strengths = {Decimal(s) for s in catalogue_strengths}
    if value < MIN_CONCENTRATION:
        if mg_per_ml_suspect(value):
            mcg = value * 1000
            return [
                _error(
                    "concentration_mg_suspected",
                    field,
                    f"{fmt(value)} mcg/mL is far below any intrathecal baclofen strength. "
                    f"Did you mean {fmt(value)} mg/mL = {fmt(mcg)} mcg/mL? "
                    "Enter the concentration in mcg/mL.",
                )
            ]
        return [
            _error(
                "concentration_too_low",
                field,
                f"{fmt(value)} mcg/mL is below the weakest baclofen product (50 mcg/mL). "
                "Check the vial label and enter the concentration in mcg/mL.",
            )
        ]
    if value > MAX_CONCENTRATION:
        return [
            _error(
                "concentration_too_high",
                field,
                f"{fmt(value)} mcg/mL is above the strongest baclofen product (3000 mcg/mL). "
                "Check the vial label and the unit.",
            )
        ]
    findings: list[Finding] = []
    if value == SCREENING_CONCENTRATION:
        findings.append(
            _warning(
                "concentration_screening_only",
                field,
                "50 mcg/mL is the screening-bolus strength, not a pump refill strength. "
                "Confirm this is intended.",
            )
        )
    elif value not in strengths or is_custom_dilution:
        listed = ", ".join(fmt(s) for s in sorted(strengths) if s != SCREENING_CONCENTRATION)
        if not custom_reason.strip() or not has_second_clinician:
            findings.append(
                _error(
                    "concentration_custom_unconfirmed",
                    field,
                    f"{fmt(value)} mcg/mL is not a catalogue strength ({listed} mcg/mL). "
                    "A custom dilution needs a reason and a second clinician's confirmation.",
                )
            )
    return findings


def check_daily_dose(
    dose_mcg: Decimal | None,
    *,
    mode: str,
    origin: str,
    age_years: int | None,
    field: str = "basal_daily_dose_mcg",
) -> list[Finding]:
    """Daily dose bounds (domain.md §7.2 #3)."""
    if dose_mcg is None:
        return [_error("dose_missing", field, "Enter the daily dose in mcg/day.")]
    if dose_mcg < 0:
        return [_error("dose_negative", field, "The daily dose cannot be negative.")]
    if dose_mcg == 0:
        if mode in ("stopped", "minimum"):
            return [
                _warning(
                    "dose_stopped",
                    field,
                    "The pump will deliver no baclofen. Abrupt interruption can cause "
                    "withdrawal; record why.",
                )
            ]
        return [_error("dose_zero", field, "The daily dose must be more than 0 mcg/day.")]
    low, high = CEREBRAL_RANGE_MCG if origin == "cerebral" else SPINAL_RANGE_MCG
    findings: list[Finding] = []
    if dose_mcg > ATTENDING_OVERRIDE_ABOVE_MCG:
        findings.append(
            _physician(
                "dose_above_label_range",
                field,
                f"{fmt(dose_mcg)} mcg/day is above the labelled maximum experience "
                f"(2003 mcg/day). A physician must confirm this dose.",
            )
        )
    elif dose_mcg > LIMITED_EXPERIENCE_MCG:
        beyond_origin = (
            f" It is also above the labelled range for {origin}-origin spasticity "
            f"({fmt(low)}–{fmt(high)} mcg/day)."
            if dose_mcg > high
            else ""
        )
        findings.append(
            _warning(
                "dose_limited_experience",
                field,
                f"{fmt(dose_mcg)} mcg/day is above 1000 mcg/day, where clinical experience "
                f"is limited.{beyond_origin} Check the dose and the unit (per day, not per hour).",
            )
        )
    elif dose_mcg > high or dose_mcg > MOST_PATIENTS_UPPER_MCG.get(origin, high):
        upper = MOST_PATIENTS_UPPER_MCG.get(origin, high)
        findings.append(
            _warning(
                "dose_above_usual",
                field,
                f"{fmt(dose_mcg)} mcg/day is above what most patients with {origin}-origin "
                f"spasticity need (up to {fmt(upper)} mcg/day).",
            )
        )
    if dose_mcg < low and mode not in ("stopped", "minimum"):
        findings.append(
            _warning(
                "dose_below_range",
                field,
                f"{fmt(dose_mcg)} mcg/day is below the labelled maintenance range "
                f"({fmt(low)}–{fmt(high)} mcg/day). Check the dose and the unit.",
            )
        )
    if age_years is not None and age_years < PEDIATRIC_AGE_YEARS and dose_mcg > PEDIATRIC_UPPER_MCG:
        findings.append(
            _warning(
                "dose_above_pediatric",
                field,
                f"{fmt(dose_mcg)} mcg/day is above the highest dose reported in children "
                "under 12 (1199 mcg/day).",
            )
        )
    return findings


def check_flex_steps(steps: list[tuple[Decimal, Decimal]]) -> list[Finding]:
    """Flex steps are (rate mcg/hour, hours) and must cover exactly 24 hours."""
    if not steps:
        return [_error("flex_missing", "flex_steps", "A flex program needs at least one step.")]
    # Checked here so a bad step is a message for the nurse, not a database error.
    for number, (rate, step_hours) in enumerate(steps, start=1):
        if step_hours <= 0 or rate < 0:
            return [
                _error(
                    "flex_step_invalid",
                    "flex_steps",
                    f"Flex step {number} ({fmt(rate)} mcg/hour for {fmt(step_hours)} hours) is "
                    "not possible: each step needs more than 0 hours and a rate of 0 mcg/hour "
                    "or more.",
                )
            ]
    hours = sum((h for _, h in steps), Decimal(0))
    if hours != 24:
        return [
            _error(
                "flex_hours",
                "flex_steps",
                f"The flex steps cover {fmt(hours)} hours; they must cover exactly 24 hours.",
            )
        ]
    return []


MINUTES_PER_DAY = Decimal(24 * 60)
# A start time is entered to the minute and a duration to 0.01 hour (36 seconds), so
# a step that ends less than a minute from the next start meets it.
FLEX_JOIN_TOLERANCE_MINUTES = Decimal(1)


def _clock(minutes: Decimal) -> str:
    whole = int(minutes.to_integral_value()) % (24 * 60)
    return f"{whole // 60:02d}:{whole % 60:02d}"


def _minutes(at: dt.time) -> Decimal:
    return Decimal(at.hour * 60 + at.minute) + Decimal(at.second) / 60


def _flex_coverage(
    steps: list[tuple[dt.time, Decimal]],
) -> list[tuple[Decimal, Decimal, str, list[int]]]:
    """Stretches of the pump day with no step ("gap") or several ("overlap").

    Each is (from, to, kind, numbers of the steps running), in minutes after 00:00.
    """
    pieces = []
    for number, (starts_at, hours) in enumerate(steps):
        start = _minutes(starts_at)
        # More than two days tells no more than two days do (and check_flex_steps refuses it).
        end = start + min(hours, Decimal(48)) * 60
        shift = Decimal(0)
        while end - shift > 0:  # a step past midnight goes on at 00:00
            low, high = max(start - shift, Decimal(0)), min(end - shift, MINUTES_PER_DAY)
            pieces.append((low, high, number))
            shift += MINUTES_PER_DAY
    cuts = sorted({Decimal(0), MINUTES_PER_DAY, *(p[0] for p in pieces), *(p[1] for p in pieces)})
    segments = []
    for low, high in zip(cuts, cuts[1:], strict=False):
        running = [number for a, b, number in pieces if a <= low and high <= b]
        kind = "gap" if not running else "overlap" if len(running) > 1 else "ok"
        running = sorted(set(running))
        if segments and segments[-1][2] == kind:
            segments[-1] = (segments[-1][0], high, kind, sorted({*segments[-1][3], *running}))
        else:
            segments.append((low, high, kind, running))
    if len(segments) > 1 and segments[0][2] == segments[-1][2]:
        # Round the clock: 23:00–24:00 and 00:00–01:00 are one stretch.
        last = segments.pop()
        first = segments[0]
        segments[0] = (last[0] - MINUTES_PER_DAY, first[1], first[2], sorted({*last[3], *first[3]}))
    found = [
        (low, high, kind, running)
        for low, high, kind, running in segments
        if kind != "ok" and high - low >= FLEX_JOIN_TOLERANCE_MINUTES
    ]
    # By time of day: a stretch over midnight counts from its start, the evening before.
    return sorted(found, key=lambda stretch: (stretch[0] + MINUTES_PER_DAY) % MINUTES_PER_DAY)


def check_flex_schedule(steps: list[tuple[dt.time, Decimal]]) -> list[Finding]:
    """Flex steps are (start time, hours) on the pump clock and follow one another.

    Round the clock, each step must start when the one before it ends: a time two
    steps cover, or a time no step covers, is an entry error. Steps that are not
    possible at all (0 hours, a negative rate) are left to check_flex_steps.
    """
    if not steps or any(hours <= 0 for _, hours in steps):
        return []
    findings: list[Finding] = []
    for low, high, kind, running in _flex_coverage(steps):
        span = f"{_clock(low)} to {_clock(high)}"
        if kind == "overlap":
            times = [_clock(_minutes(steps[number][0])) for number in running]
            if len(times) == 1:
                which = f"the step starting at {times[0]} runs more than once round the clock"
            else:
                which = "the steps starting at " + ", ".join(times[:-1]) + f" and {times[-1]}"
            findings.append(
                _error(
                    "flex_overlap",
                    "flex_steps",
                    f"Flex steps overlap from {span} ({which}). Each step must start when "
                    "the previous one ends.",
                )
            )
        else:
            findings.append(
                _error(
                    "flex_gap",
                    "flex_steps",
                    f"No flex step covers {span}. Each step must start when the previous one ends.",
                )
            )
    return findings


def check_boluses(
    *,
    bolus_mcg: Decimal,
    per_day: int,
    basal_daily_mcg: Decimal,
    max_share_of_basal: Decimal = BOLUS_SHARE_WARNING,
) -> list[Finding]:
    """Periodic boluses (domain.md §7.2 #5)."""
    findings: list[Finding] = []
    if bolus_mcg < 0:
        return [_error("bolus_negative", "bolus_dose_mcg", "A bolus cannot be negative.")]
    if per_day < 0:
        return [
            _error(
                "bolus_count_negative",
                "boluses_per_day",
                "The number of boluses a day cannot be negative.",
            )
        ]
    if bolus_mcg > 0 and per_day == 0:
        findings.append(
            _error("bolus_count", "boluses_per_day", "Enter how many boluses a day are given.")
        )
    if bolus_mcg > BOLUS_WARNING_MCG:
        findings.append(
            _warning(
                "bolus_large",
                "bolus_dose_mcg",
                f"A single bolus of {fmt(bolus_mcg)} mcg is above 100 mcg, the largest "
                "screening bolus. Overdose has followed boluses as small as 25 mcg.",
            )
        )
    total = bolus_mcg * per_day
    if basal_daily_mcg > 0 and total > basal_daily_mcg * max_share_of_basal:
        share = (
            "half" if max_share_of_basal == Decimal("0.5") else f"{fmt(max_share_of_basal * 100)} %"
        )
        findings.append(
            _warning(
                "bolus_share",
                "bolus_dose_mcg",
                f"Scheduled boluses ({fmt(total)} mcg/day) are more than {share} of the basal "
                f"dose ({fmt(basal_daily_mcg)} mcg/day).",
            )
        )
    return findings


def check_age_and_indication(
    *, age_years: int, pump_min_age: int | None, pump_name: str
) -> list[Finding]:
    findings = []
    if age_years < LABELLED_MIN_AGE_YEARS:
        findings.append(
            _warning(
                "age_below_label",
                None,
                f"The patient is {age_years}; intrathecal baclofen is labelled for ages 4 and up.",
            )
        )
    if pump_min_age and age_years < pump_min_age:
        findings.append(
            _warning(
                "age_below_pump_label",
                None,
                f"{pump_name} is labelled for baclofen from age {pump_min_age}; "
                f"the patient is {age_years}.",
            )
        )
    return findings
