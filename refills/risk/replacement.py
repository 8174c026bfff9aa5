"""Which planned replacement dates count, and the warning for one that is too late (§7.1 #9)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from refills.risk.common import _day_text, _plural
from refills.risk.model import DEFAULT_POLICY, RiskPolicy


@dataclass(frozen=True)
class ReplacementPlan:
    """Which planned replacement dates count (domain §7.1 #9, §8).

    ``planned_on`` is the earliest date from today up to end of service (on the
    day itself included): the plan. ``after_end_of_service`` and ``passed`` are
    the dates that do not count and why.
    """

    planned_on: date | None
    after_end_of_service: tuple[date, ...]
    passed: tuple[date, ...]


def replacement_plan(
    replacement_dates: tuple[date, ...] | list[date],
    *,
    end_of_service_on: date | None,
    today: date,
) -> ReplacementPlan:
    dates = sorted(set(replacement_dates))
    passed = tuple(d for d in dates if d < today)
    after = tuple(
        d for d in dates if d >= today and end_of_service_on is not None and d > end_of_service_on
    )
    valid = [d for d in dates if d >= today and d not in after]
    return ReplacementPlan(
        planned_on=valid[0] if valid else None, after_end_of_service=after, passed=passed
    )


def replacement_date_warning(
    planned_on: date | None,
    *,
    end_of_service_on: date | None,
    today: date,
    policy: RiskPolicy | None = None,
) -> str:
    """The warning a form shows for a planned replacement date; "" when it is fine.

    A date after end of service is not a plan; one less than
    ``policy.replacement_min_days_before_eos`` before it is too late (§7.1 #9).
    """
    policy = policy or DEFAULT_POLICY
    if planned_on is None or end_of_service_on is None:
        return ""
    eos_text = _day_text(end_of_service_on, today)
    if planned_on > end_of_service_on:
        return (
            f"The planned replacement ({_day_text(planned_on, today)}) is after the pump's end "
            f"of service or automatic shut-down ({eos_text}): the pump stops before it is "
            "replaced. It does not count as a replacement plan; book the replacement "
            f"at least {policy.replacement_min_days_before_eos} days before {eos_text}."
        )
    gap = (end_of_service_on - planned_on).days
    if gap < policy.replacement_min_days_before_eos:
        return (
            f"The planned replacement ({_day_text(planned_on, today)}) is only "
            f"{_plural(gap, 'day')} before the pump's end of service or automatic shut-down "
            f"({eos_text}); plan it at least {policy.replacement_min_days_before_eos} days "
            "before, so a postponed operation does not leave the patient without a pump."
        )
    return ""
