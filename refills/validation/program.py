"""Clinical input checks from domain.md §7.2, as plain functions.

Each check returns findings instead of raising, so a form can show every
problem at once and a preview can show warnings before anything is saved.
Severity decides what happens on save:

- ERROR blocks: the entry is wrong or unsafe and must be corrected.
- WARNING needs an override reason from the person saving.
- PHYSICIAN needs an override reason from a physician of the clinic.

Messages are written for the nurse at the pump, not for a developer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from refills.forecast import PostFillCheck, mg_per_ml_suspect


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    PHYSICIAN = "physician"


@dataclass(frozen=True)
class Finding:
    code: str
    field: str | None
    message: str
    severity: Severity

    @property
    def blocks(self) -> bool:
        return self.severity == Severity.ERROR

    @property
    def needs_override(self) -> bool:
        return self.severity in (Severity.WARNING, Severity.PHYSICIAN)


def _error(code: str, field: str | None, message: str) -> Finding:
    return Finding(code, field, message, Severity.ERROR)


def _warning(code: str, field: str | None, message: str) -> Finding:
    return Finding(code, field, message, Severity.WARNING)


def _physician(code: str, field: str | None, message: str) -> Finding:
    return Finding(code, field, message, Severity.PHYSICIAN)


def fmt(value: Decimal | int | float) -> str:
    """Show a number without trailing zeros: 2000, 0.5, 12.25."""
    d = Decimal(str(value)).normalize()
    return f"{d:f}"


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
LABELLED_MIN_AGE_YEARS = 4  # Gablofen is labelled for ages 4 and up.
FILL_TOLERANCE_ML = Decimal("0.5")
FUTURE_SLACK = dt.timedelta(minutes=5)


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


def check_boluses(*, bolus_mcg: Decimal, per_day: int, basal_daily_mcg: Decimal) -> list[Finding]:
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
    if basal_daily_mcg > 0 and total > basal_daily_mcg / 2:
        findings.append(
            _warning(
                "bolus_share",
                "bolus_dose_mcg",
                f"Scheduled boluses ({fmt(total)} mcg/day) are more than half of the basal "
                f"dose ({fmt(basal_daily_mcg)} mcg/day).",
            )
        )
    return findings


@dataclass(frozen=True)
class DoseChangeLimits:
    """Percent limits on a change of the daily total (domain.md §7.2 #4, #9).

    The defaults are domain.md's; services pass the clinic's from PUMPTRACK_POLICY.
    """

    # Increases above these need a physician (spinal 40 %, cerebral 20 %).
    increase_physician_spinal_pct: Decimal = Decimal("40")
    increase_physician_cerebral_pct: Decimal = Decimal("20")
    # Any change above this (up or down) needs a reason (§7.2 #4 and #9).
    confirm_pct: Decimal = Decimal("20")
    # A fall above this needs a physician: an hourly-for-daily or tenfold slip looks like
    # this, and an abrupt fall can cause withdrawal (§7.2 #9).
    decrease_physician_pct: Decimal = Decimal("50")


def check_dose_change(
    *,
    old_mcg: Decimal | None,
    new_mcg: Decimal,
    origin: str,
    pediatric: bool,
    hours_since_last_change: Decimal | None,
    field: str = "basal_daily_dose_mcg",
    limits: DoseChangeLimits = DoseChangeLimits(),  # noqa: B008 (frozen, immutable)
) -> list[Finding]:
    """Dose change against the program in effect (domain.md §7.2 #4 and #9)."""
    if old_mcg is not None and old_mcg <= 0 and new_mcg > 0:
        # A restart has no ratio (×∞), so the percentage limits cannot see it.
        return [
            _warning(
                "dose_restart",
                field,
                f"The pump was stopped (0 mcg/day) and restarts at {fmt(new_mcg)} mcg/day. "
                "After an interruption tolerance may be lower: confirm the restart dose.",
            )
        ]
    if not old_mcg or old_mcg <= 0 or new_mcg == old_mcg:
        return []
    ratio = new_mcg / old_mcg
    change_pct = (ratio - 1) * 100
    findings: list[Finding] = []
    limit = (
        limits.increase_physician_cerebral_pct
        if origin == "cerebral"
        else limits.increase_physician_spinal_pct
    )
    if change_pct > limit:
        findings.append(
            _physician(
                "dose_increase_over_limit",
                field,
                f"The daily dose goes from {fmt(old_mcg)} to {fmt(new_mcg)} mcg/day "
                f"(+{change_pct:.0f} %, ×{ratio:.1f}). Increases above {fmt(limit)} % for "
                f"{origin}-origin spasticity need a physician's confirmation. "
                "If this came from an hourly rate, check the unit.",
            )
        )
    elif change_pct > limits.confirm_pct:
        findings.append(
            _warning(
                "dose_change_confirm",
                field,
                f"The daily total changes by +{change_pct:.0f} % "
                f"({fmt(old_mcg)} → {fmt(new_mcg)} mcg/day). Confirm the new total.",
            )
        )
    elif -change_pct > limits.decrease_physician_pct:
        findings.append(
            _physician(
                "dose_decrease_over_limit",
                field,
                f"The daily dose falls by {-change_pct:.0f} % "
                f"({fmt(old_mcg)} → {fmt(new_mcg)} mcg/day, ×{ratio:.2f}). A fall above "
                f"{fmt(limits.decrease_physician_pct)} % can cause withdrawal and is what an "
                "hourly rate typed as a daily dose, or a slipped decimal point, looks like: "
                "check the entry. A physician must confirm it.",
            )
        )
    elif -change_pct > limits.confirm_pct:
        findings.append(
            _warning(
                "dose_decrease_large",
                field,
                f"The daily dose falls by {-change_pct:.0f} % "
                f"({fmt(old_mcg)} → {fmt(new_mcg)} mcg/day). Large decreases can cause "
                "withdrawal symptoms.",
            )
        )
    if hours_since_last_change is not None and hours_since_last_change < 24 and change_pct > 0:
        titration_limit = Decimal("15") if (origin == "cerebral" or pediatric) else Decimal("30")
        if change_pct > titration_limit:
            findings.append(
                _warning(
                    "titration_too_fast",
                    field,
                    f"The dose was already changed in the last 24 hours. Titration increases "
                    f"above {titration_limit} % a day are not recommended.",
                )
            )
    return findings


@dataclass(frozen=True)
class DoseInEffect:
    """A daily dose in effect during the window before a dose change.

    ``since`` is when its program took effect (it may be before the window); ``until``
    is when the next program replaced it, or the new change's own time for the program
    in effect when the change is made.
    """

    mcg: Decimal
    since: dt.datetime
    until: dt.datetime


def _ago(delta: dt.timedelta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 60:
        return f"{minutes} minute{'' if minutes == 1 else 's'} ago"
    hours, rest = divmod(minutes, 60)
    text = f"{hours} hour{'' if hours == 1 else 's'}"
    if rest:
        text += f" {rest} minute{'' if rest == 1 else 's'}"
    return f"{text} ago"


_LEVEL = {Severity.WARNING: 1, Severity.PHYSICIAN: 2, Severity.ERROR: 3}


def _earlier_step_findings(
    dose: DoseInEffect,
    *,
    new_mcg: Decimal,
    at: dt.datetime,
    path: str,
    window: str,
    origin: str,
    field: str,
    limits: DoseChangeLimits,
) -> list[Finding]:
    """The limits of check_dose_change against a dose that was replaced within the window."""
    old = dose.mcg
    ago = _ago(at - dose.until)
    steps = f"{path} mcg/day within {window} hours"
    if old <= 0:
        if new_mcg <= 0:
            return []
        return [
            _warning(
                "dose_restart",
                field,
                f"The pump was stopped (0 mcg/day) {ago} and the dose is now {fmt(new_mcg)} "
                f"mcg/day ({steps}). After an interruption tolerance may be lower: confirm "
                "the dose.",
            )
        ]
    if new_mcg == old:
        return []
    ratio = new_mcg / old
    change_pct = (ratio - 1) * 100
    limit = (
        limits.increase_physician_cerebral_pct
        if origin == "cerebral"
        else limits.increase_physician_spinal_pct
    )
    if change_pct > limit:
        return [
            _physician(
                "dose_increase_over_limit",
                field,
                f"The daily dose would be {fmt(new_mcg)} mcg/day: +{change_pct:.0f} % against "
                f"{fmt(old)} mcg/day in effect {ago} (×{ratio:.1f}; {steps}). Increases above "
                f"{fmt(limit)} % for {origin}-origin spasticity need a physician's "
                "confirmation, however the change is split.",
            )
        ]
    if change_pct > limits.confirm_pct:
        return [
            _warning(
                "dose_change_confirm",
                field,
                f"The daily total changes by +{change_pct:.0f} % against {fmt(old)} mcg/day "
                f"in effect {ago} ({steps}). Confirm the new total.",
            )
        ]
    if -change_pct > limits.decrease_physician_pct:
        return [
            _physician(
                "dose_decrease_over_limit",
                field,
                f"The daily dose would be {fmt(new_mcg)} mcg/day: {-change_pct:.0f} % below "
                f"{fmt(old)} mcg/day in effect {ago} (×{ratio:.2f}; {steps}). A fall above "
                f"{fmt(limits.decrease_physician_pct)} % can cause withdrawal, however it is "
                "reached: check the entry. A physician must confirm it.",
            )
        ]
    if -change_pct > limits.confirm_pct:
        return [
            _warning(
                "dose_decrease_large",
                field,
                f"The daily dose would be {fmt(new_mcg)} mcg/day: {-change_pct:.0f} % below "
                f"{fmt(old)} mcg/day in effect {ago} ({steps}). Large decreases can cause "
                "withdrawal symptoms.",
            )
        ]
    return []


def _magnitude(old: Decimal, new: Decimal) -> Decimal:
    if old <= 0:
        return Decimal("Infinity")
    return abs(new / old - 1)


def check_dose_change_in_window(
    *,
    earlier: Sequence[DoseInEffect],
    new_mcg: Decimal,
    at: dt.datetime,
    window_hours: Decimal,
    origin: str,
    pediatric: bool,
    field: str = "basal_daily_dose_mcg",
    limits: DoseChangeLimits = DoseChangeLimits(),  # noqa: B008 (frozen, immutable)
) -> list[Finding]:
    """A dose change against every dose in effect during the window before it.

    ``earlier`` is the dose in effect at the window's start (if any) and every dose
    since, oldest first; the last is the program in effect at ``at``. Each is compared
    with the new dose as check_dose_change compares one step, so the largest rise and
    the largest fall in the window both count and a change split into small saves needs
    what the whole change needs (domain.md §7.2 #4, #9). Of the findings only the most
    severe level is kept (one per rule, the largest change). The titration rule applies
    when the dose was already changed within the window, to the largest rise in it.
    """
    if not earlier:
        return []
    window = fmt(window_hours)
    path = " → ".join(fmt(d.mcg) for d in earlier) + f" → {fmt(new_mcg)}"
    current = earlier[-1]
    candidates: list[tuple[int, Decimal, int, Finding]] = []
    for index, dose in enumerate(earlier):
        if dose is current:
            step = check_dose_change(
                old_mcg=dose.mcg,
                new_mcg=new_mcg,
                origin=origin,
                pediatric=pediatric,
                hours_since_last_change=None,
                field=field,
                limits=limits,
            )
        else:
            step = _earlier_step_findings(
                dose,
                new_mcg=new_mcg,
                at=at,
                path=path,
                window=window,
                origin=origin,
                field=field,
                limits=limits,
            )
        candidates += [(_LEVEL[f.severity], _magnitude(dose.mcg, new_mcg), index, f) for f in step]
    findings: list[Finding] = []
    if candidates:
        top = max(level for level, *_ in candidates)
        best: dict[str, tuple[Decimal, int, Finding]] = {}
        for level, size, index, finding in candidates:
            if level == top and (
                finding.code not in best or (size, index) > best[finding.code][:2]
            ):
                best[finding.code] = (size, index, finding)
        findings = [finding for _, _, finding in sorted(best.values(), key=lambda b: b[1])]
    window_start = at - dt.timedelta(hours=float(window_hours))
    changed_in_window = any(d.since > window_start for d in earlier)
    positive = [d for d in earlier if d.mcg > 0]
    if changed_in_window and positive and new_mcg > 0:
        lowest = min(positive, key=lambda d: (d.mcg, -d.until.timestamp()))
        rise_pct = (new_mcg / lowest.mcg - 1) * 100
        titration_limit = Decimal("15") if (origin == "cerebral" or pediatric) else Decimal("30")
        if rise_pct > titration_limit:
            when = (
                "the program in effect"
                if lowest is current
                else f"in effect {_ago(at - lowest.until)}"
            )
            findings.append(
                _warning(
                    "titration_too_fast",
                    field,
                    f"The dose was already changed in the last {window} hours: "
                    f"+{rise_pct:.0f} % against {fmt(lowest.mcg)} mcg/day, {when} ({path} "
                    f"mcg/day). Titration increases above {titration_limit} % a day are not "
                    "recommended.",
                )
            )
    return findings


def check_refill_volumes(
    *,
    capacity_ml: Decimal,
    actual_residual_ml: Decimal | None,
    residual_left_ml: Decimal,
    volume_added_ml: Decimal | None,
    resulting_volume_ml: Decimal | None,
) -> list[Finding]:
    """Volumes at a refill (domain.md §7.2 #6): no overfill, no impossible numbers."""
    findings: list[Finding] = []
    cap = fmt(capacity_ml)
    if actual_residual_ml is None:
        findings.append(_error("residual_missing", "actual_residual_ml", "Enter the residual."))
    elif actual_residual_ml < 0 or actual_residual_ml > capacity_ml:
        findings.append(
            _error(
                "residual_out_of_range",
                "actual_residual_ml",
                f"The residual aspirated must be between 0 and the reservoir capacity ({cap} mL).",
            )
        )
    if residual_left_ml < 0 or residual_left_ml > capacity_ml:
        findings.append(
            _error(
                "residual_left_out_of_range",
                "residual_left_ml",
                f"The volume left in the pump must be between 0 and {cap} mL.",
            )
        )
    if (
        not findings
        and actual_residual_ml is not None
        and actual_residual_ml + residual_left_ml > capacity_ml
    ):
        findings.append(
            _error(
                "residual_over_capacity",
                "actual_residual_ml",
                f"{fmt(actual_residual_ml)} mL aspirated plus {fmt(residual_left_ml)} mL left in "
                f"the pump is more than the {cap} mL reservoir holds. Check both volumes.",
            )
        )
    if volume_added_ml is None:
        findings.append(_error("added_missing", "volume_added_ml", "Enter the volume added."))
    elif volume_added_ml <= 0:
        findings.append(
            _error("added_not_positive", "volume_added_ml", "The volume added must be above 0 mL.")
        )
    elif volume_added_ml > capacity_ml - residual_left_ml:
        findings.append(
            _error(
                "overfill",
                "volume_added_ml",
                f"Adding {fmt(volume_added_ml)} mL to {fmt(residual_left_ml)} mL left would "
                f"overfill the {cap} mL reservoir. Do not overfill.",
            )
        )
    if resulting_volume_ml is None:
        findings.append(
            _error("resulting_missing", "resulting_volume_ml", "Enter the programmed volume.")
        )
    elif resulting_volume_ml <= 0 or resulting_volume_ml > capacity_ml:
        findings.append(
            _error(
                "resulting_out_of_range",
                "resulting_volume_ml",
                f"The programmed reservoir volume must be above 0 and at most {cap} mL.",
            )
        )
    elif volume_added_ml is not None and volume_added_ml > 0:
        in_pump = residual_left_ml + volume_added_ml
        if abs(resulting_volume_ml - in_pump) > FILL_TOLERANCE_ML:
            findings.append(
                _error(
                    "resulting_mismatch",
                    "resulting_volume_ml",
                    f"The programmed reservoir volume ({fmt(resulting_volume_ml)} mL) should "
                    f"equal what was left plus what was added ({fmt(in_pump)} mL, ±0.5 mL). "
                    "A wrong volume moves the alarm date. Check the programmer.",
                )
            )
    return findings


def check_performed_at(performed_at: dt.datetime | None, *, now: dt.datetime) -> list[Finding]:
    if performed_at is None:
        return [_error("performed_missing", "performed_at", "Enter when the refill was done.")]
    if performed_at > now + FUTURE_SLACK:
        return [
            _error(
                "refill_in_future",
                "performed_at",
                "A refill cannot be recorded in the future. Check the date and time.",
            )
        ]
    return []


def check_bridge_bolus(
    *,
    old_concentration: Decimal | None,
    new_concentration: Decimal | None,
    bridge_mcg: Decimal | None,
    bridge_ml: Decimal | None,
    not_needed_reason: str,
) -> list[Finding]:
    """A concentration change needs a bridge bolus or a reason (domain.md §7.2 #10)."""
    if (bridge_mcg is not None and bridge_mcg < 0) or (bridge_ml is not None and bridge_ml < 0):
        return [
            _error(
                "bridge_bolus_negative",
                "bridge_bolus_mcg",
                "A bridge bolus cannot be negative. Enter the mcg and mL given, or leave both "
                "empty.",
            )
        ]
    if old_concentration is None or new_concentration is None:
        return []
    if old_concentration == new_concentration:
        return []
    if bridge_mcg and bridge_ml and bridge_mcg > 0 and bridge_ml > 0:
        return []
    if not_needed_reason.strip():
        return []
    return [
        _error(
            "bridge_bolus_missing",
            "bridge_bolus_mcg",
            f"The concentration changes from {fmt(old_concentration)} to "
            f"{fmt(new_concentration)} mcg/mL. Record the bridge bolus (mcg and mL) or why "
            "none is needed.",
        )
    ]


def check_lot(*, lot_number: str, lot_expiry: dt.date | None, refill_day: dt.date) -> list[Finding]:
    """The drug lot and its expiry (domain.md §4.2): an expired lot is never put in a pump.

    ``refill_day`` is the refill's date on the clinic's calendar; a lot is usable through
    its expiry date.
    """
    findings = []
    if not (lot_number or "").strip():
        findings.append(
            _error("lot_number_missing", "lot_number", "Enter the lot number from the drug label.")
        )
    if lot_expiry is None:
        findings.append(
            _error(
                "lot_expiry_missing",
                "lot_expiry",
                "Enter the lot's expiry date from the drug label.",
            )
        )
    elif lot_expiry < refill_day:
        findings.append(
            _error(
                "lot_expired",
                "lot_expiry",
                f"This lot expired on {lot_expiry:%a %d %b %Y}, before the refill date "
                f"({refill_day:%a %d %b %Y}). Do not use it: fill from a lot that is in date.",
            )
        )
    return findings


def check_needle_placement(confirmed: bool, method: str) -> list[Finding]:
    if confirmed and method:
        return []
    return [
        _error(
            "needle_not_confirmed",
            "needle_placement_confirmed",
            "Confirm needle placement in the reservoir (template aligned and needle stop "
            "reached, or ultrasound) before saving the fill. If unsure, do not refill.",
        )
    ]


def check_discrepancy_assessment(
    *, flagged: bool, message: str, assessment: str, action: str
) -> list[Finding]:
    """A flagged discrepancy needs an assessment and an action (domain.md §7.2 #14)."""
    if not flagged:
        return []
    findings = []
    if not assessment.strip():
        findings.append(
            _error(
                "discrepancy_assessment_missing",
                "discrepancy_assessment",
                f"{message} Write your assessment.",
            )
        )
    if not action:
        findings.append(
            _error(
                "discrepancy_action_missing",
                "discrepancy_action",
                "Choose an action for the discrepancy (work-up, imaging, notify physician...).",
            )
        )
    return findings


def check_post_fill_volume(
    *,
    has_sensor: bool,
    capacity_ml: Decimal,
    measured_ml: Decimal | None,
    check: PostFillCheck | None,
) -> list[Finding]:
    """The sensor's reading after the fill (domain.md §2.4, §7.1 #8)."""
    if measured_ml is None:
        return []
    if not has_sensor:
        return [
            _error(
                "measured_volume_no_sensor",
                "measured_volume_after_fill_ml",
                "This pump model does not measure its reservoir volume. Leave the measured "
                "volume empty.",
            )
        ]
    if measured_ml < 0 or measured_ml > capacity_ml:
        return [
            _error(
                "measured_volume_out_of_range",
                "measured_volume_after_fill_ml",
                f"The measured volume must be between 0 and the reservoir capacity "
                f"({fmt(capacity_ml)} mL).",
            )
        ]
    if check is None or not check.suspected:
        return []
    return [
        _warning(
            "possible_pocket_fill",
            "measured_volume_after_fill_ml",
            f"Possible pocket fill: the pump measured {fmt(measured_ml)} mL, "
            f"{fmt(check.gap_ml)} mL less than was programmed (more than {fmt(check.limit_ml)} "
            "mL is a concern for this reservoir size). Drug may be in the pocket instead of "
            "the reservoir. Watch for overdose signs (drowsiness, slow breathing), tell the "
            "physician now and record what you did. The forecast will use the measured volume.",
        )
    ]


def check_days_to_alarm(days_to_alarm: Decimal | None, *, short_days: int) -> list[Finding]:
    """Days from the fill to the nominal alarm (domain.md §7.2 #8)."""
    if days_to_alarm is not None and days_to_alarm <= 0:
        # The reservoir would start at or below the alarm volume.
        return [
            _error(
                "alarm_not_after_refill",
                "resulting_volume_ml",
                "With this volume the low-reservoir alarm would sound at once: the programmed "
                "volume is at or below the alarm volume (plus any bridge bolus). Check the "
                "volumes.",
            )
        ]
    if days_to_alarm is not None and days_to_alarm < short_days:
        return [
            _warning(
                "alarm_soon",
                "concentration_mcg_per_ml",
                f"The alarm would sound in {days_to_alarm:.1f} days. Intervals under "
                f"{short_days} days are unusual: check the concentration and volume entries.",
            )
        ]
    return []


def check_printed_alarm(
    *, printed: dt.date | None, computed: dt.date | None, tolerance_days: int
) -> list[Finding]:
    """Cross-check with the programmer printout (domain.md §7.1 #3)."""
    if printed is None or computed is None:
        return []
    gap = (printed - computed).days
    if abs(gap) <= tolerance_days:
        return []
    return [
        _warning(
            "printed_alarm_mismatch",
            "printed_alarm_date",
            f"The printout's alarm date ({printed:%a %d %b %Y}) differs from pumptrack's "
            f"({computed:%a %d %b %Y}) by {abs(gap)} days. Check the concentration, volume, "
            "alarm volume and rate units in both.",
        )
    ]


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
