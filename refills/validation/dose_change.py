"""Checks on a change of the daily dose, one step and every dose in the window (§7.2 #4, #9)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from refills.validation.findings import Finding, Severity, _physician, _warning, fmt


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
    findings = _step_limit_findings(
        _Step(old=old_mcg, new=new_mcg, origin=origin, limits=limits), field=field
    )
    change_pct = (new_mcg / old_mcg - 1) * 100
    if hours_since_last_change is not None and hours_since_last_change < 24 and change_pct > 0:
        titration_limit = _titration_limit_pct(origin=origin, pediatric=pediatric)
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


def _titration_limit_pct(*, origin: str, pediatric: bool) -> Decimal:
    """The largest increase a day while titrating (domain.md §7.2 #9, sourced)."""
    return Decimal("15") if (origin == "cerebral" or pediatric) else Decimal("30")


def _increase_physician_limit_pct(origin: str, limits: DoseChangeLimits) -> Decimal:
    if origin == "cerebral":
        return limits.increase_physician_cerebral_pct
    return limits.increase_physician_spinal_pct


@dataclass(frozen=True)
class _Step:
    """One step from a dose above 0 to the new dose, and how each of its limits reads."""

    old: Decimal
    new: Decimal
    origin: str
    limits: DoseChangeLimits

    def increase_over_limit_text(self, change_pct: Decimal, ratio: Decimal, limit: Decimal) -> str:
        return (
            f"The daily dose goes from {fmt(self.old)} to {fmt(self.new)} mcg/day "
            f"(+{change_pct:.0f} %, ×{ratio:.1f}). Increases above {fmt(limit)} % for "
            f"{self.origin}-origin spasticity need a physician's confirmation. "
            "If this came from an hourly rate, check the unit."
        )

    def change_confirm_text(self, change_pct: Decimal) -> str:
        return (
            f"The daily total changes by +{change_pct:.0f} % "
            f"({fmt(self.old)} → {fmt(self.new)} mcg/day). Confirm the new total."
        )

    def decrease_over_limit_text(self, change_pct: Decimal, ratio: Decimal) -> str:
        return (
            f"The daily dose falls by {-change_pct:.0f} % "
            f"({fmt(self.old)} → {fmt(self.new)} mcg/day, ×{ratio:.2f}). A fall above "
            f"{fmt(self.limits.decrease_physician_pct)} % can cause withdrawal and is what an "
            "hourly rate typed as a daily dose, or a slipped decimal point, looks like: "
            "check the entry. A physician must confirm it."
        )

    def decrease_large_text(self, change_pct: Decimal) -> str:
        return (
            f"The daily dose falls by {-change_pct:.0f} % "
            f"({fmt(self.old)} → {fmt(self.new)} mcg/day). Large decreases can cause "
            "withdrawal symptoms."
        )


@dataclass(frozen=True)
class _EarlierStep(_Step):
    """A step from a dose replaced within the window: its texts say when, and the path."""

    # "2 hours ago", and "200 → 300 → 400 mcg/day within 24 hours".
    ago: str = ""
    steps: str = ""

    def increase_over_limit_text(self, change_pct: Decimal, ratio: Decimal, limit: Decimal) -> str:
        return (
            f"The daily dose would be {fmt(self.new)} mcg/day: +{change_pct:.0f} % against "
            f"{fmt(self.old)} mcg/day in effect {self.ago} (×{ratio:.1f}; {self.steps}). "
            f"Increases above {fmt(limit)} % for {self.origin}-origin spasticity need a "
            "physician's confirmation, however the change is split."
        )

    def change_confirm_text(self, change_pct: Decimal) -> str:
        return (
            f"The daily total changes by +{change_pct:.0f} % against {fmt(self.old)} mcg/day "
            f"in effect {self.ago} ({self.steps}). Confirm the new total."
        )

    def decrease_over_limit_text(self, change_pct: Decimal, ratio: Decimal) -> str:
        return (
            f"The daily dose would be {fmt(self.new)} mcg/day: {-change_pct:.0f} % below "
            f"{fmt(self.old)} mcg/day in effect {self.ago} (×{ratio:.2f}; {self.steps}). "
            f"A fall above {fmt(self.limits.decrease_physician_pct)} % can cause withdrawal, "
            "however it is reached: check the entry. A physician must confirm it."
        )

    def decrease_large_text(self, change_pct: Decimal) -> str:
        return (
            f"The daily dose would be {fmt(self.new)} mcg/day: {-change_pct:.0f} % below "
            f"{fmt(self.old)} mcg/day in effect {self.ago} ({self.steps}). Large decreases "
            "can cause withdrawal symptoms."
        )


def _step_limit_findings(step: _Step, *, field: str) -> list[Finding]:
    """The percentage limits on one step from a dose above 0 (at most one finding)."""
    ratio = step.new / step.old
    change_pct = (ratio - 1) * 100
    limits = step.limits
    limit = _increase_physician_limit_pct(step.origin, limits)
    if change_pct > limit:
        return [
            _physician(
                "dose_increase_over_limit",
                field,
                step.increase_over_limit_text(change_pct, ratio, limit),
            )
        ]
    if change_pct > limits.confirm_pct:
        return [_warning("dose_change_confirm", field, step.change_confirm_text(change_pct))]
    if -change_pct > limits.decrease_physician_pct:
        return [
            _physician(
                "dose_decrease_over_limit",
                field,
                step.decrease_over_limit_text(change_pct, ratio),
            )
        ]
    if -change_pct > limits.confirm_pct:
        return [_warning("dose_decrease_large", field, step.decrease_large_text(change_pct))]
    return []


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
    step = _EarlierStep(old=old, new=new_mcg, origin=origin, limits=limits, ago=ago, steps=steps)
    return _step_limit_findings(step, field=field)


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
    findings = _most_severe_per_rule(candidates)
    findings += _titration_in_window_findings(
        earlier=earlier,
        new_mcg=new_mcg,
        at=at,
        window_hours=window_hours,
        path=path,
        origin=origin,
        pediatric=pediatric,
        field=field,
    )
    return findings


def _most_severe_per_rule(candidates: list[tuple[int, Decimal, int, Finding]]) -> list[Finding]:
    """Of (level, size of change, index, finding): the most severe level only, one finding
    per rule (the largest change, then the latest dose), in the order of the doses."""
    if not candidates:
        return []
    top = max(level for level, *_ in candidates)
    best: dict[str, tuple[Decimal, int, Finding]] = {}
    for level, size, index, finding in candidates:
        if level == top and (finding.code not in best or (size, index) > best[finding.code][:2]):
            best[finding.code] = (size, index, finding)
    return [finding for _, _, finding in sorted(best.values(), key=lambda b: b[1])]


def _titration_in_window_findings(
    *,
    earlier: Sequence[DoseInEffect],
    new_mcg: Decimal,
    at: dt.datetime,
    window_hours: Decimal,
    path: str,
    origin: str,
    pediatric: bool,
    field: str,
) -> list[Finding]:
    """Too fast a titration: the dose already changed in the window, and the new one is
    more than the titration limit above the lowest dose above 0 in it."""
    window_start = at - dt.timedelta(hours=float(window_hours))
    changed_in_window = any(d.since > window_start for d in earlier)
    positive = [d for d in earlier if d.mcg > 0]
    if not (changed_in_window and positive and new_mcg > 0):
        return []
    lowest = min(positive, key=lambda d: (d.mcg, -d.until.timestamp()))
    rise_pct = (new_mcg / lowest.mcg - 1) * 100
    titration_limit = _titration_limit_pct(origin=origin, pediatric=pediatric)
    if rise_pct <= titration_limit:
        return []
    when = (
        "the program in effect" if lowest is earlier[-1] else f"in effect {_ago(at - lowest.until)}"
    )
    return [
        _warning(
            "titration_too_fast",
            field,
            f"The dose was already changed in the last {fmt(window_hours)} hours: "
            f"+{rise_pct:.0f} % against {fmt(lowest.mcg)} mcg/day, {when} ({path} "
            f"mcg/day). Titration increases above {titration_limit} % a day are not "
            "recommended.",
        )
    ]
