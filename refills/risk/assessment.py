"""assess: the tier now, and the next instant at which time alone changes it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo

from refills.risk.common import _earliest_empty, _start_of_day, _utc
from refills.risk.model import (
    DEFAULT_POLICY,
    Assessment,
    Reason,
    RiskInputs,
    RiskPolicy,
    Tier,
    _require_aware,
)
from refills.risk.rules import _evaluate, no_fill_critical_on


def _outcome(reasons: tuple[Reason, ...]) -> tuple[Tier, frozenset[str]]:
    return max(reason.tier for reason in reasons), frozenset(r.code for r in reasons)


def _time_thresholds(inputs: RiskInputs, policy: RiskPolicy, zone: tzinfo) -> list[datetime]:
    """Every instant at which a time-driven rule can switch on."""
    instants: list[datetime] = []
    alarm_at = _utc(inputs.conservative_alarm_at)
    if alarm_at is not None:
        for days in {
            0,
            policy.unbooked_high_dta_days,
            policy.risk_factor_dta_days,
            policy.unbooked_moderate_dta_days,
        }:
            instants.append(alarm_at - timedelta(days=days))
    empty_at = _earliest_empty(inputs)
    if empty_at is not None:
        instants.append(empty_at - timedelta(days=policy.critical_empty_within_days))
    eos = inputs.end_of_service_on
    if eos is not None:
        for days in (policy.eos_critical_days, policy.eos_prompt_days):
            instants.append(_start_of_day(eos - timedelta(days=days), zone))
    if inputs.eri_on is not None:
        instants.append(_start_of_day(inputs.eri_on, zone))
    for day in inputs.replacement_dates:
        # A replacement date counts until its day ends.
        instants.append(_start_of_day(day + timedelta(days=1), zone))
    if inputs.refill_by is not None:
        near = inputs.refill_by - timedelta(days=policy.unbooked_moderate_dta_days)
        instants.append(_start_of_day(near, zone))
        instants.append(_start_of_day(inputs.refill_by + timedelta(days=1), zone))
    critical_on = no_fill_critical_on(inputs, policy)
    if critical_on is not None:
        instants.append(_start_of_day(critical_on, zone))
    appointment_at = _utc(inputs.next_refill_appointment_at)
    if appointment_at is not None:
        appointment_day = appointment_at.astimezone(zone).date()
        instants.append(_start_of_day(appointment_day + timedelta(days=1), zone))
    return instants


def assess(inputs: RiskInputs, policy: RiskPolicy = DEFAULT_POLICY) -> Assessment:
    """The withdrawal-risk tier: the highest tier among the rules that fire (domain §8)."""
    zone = inputs.clinic_tz or inputs.now.tzinfo
    now = inputs.now.astimezone(UTC)
    local_today = now.astimezone(zone).date()
    reasons = _evaluate(inputs, policy, now=now, today=inputs.today, zone=zone)
    current = _outcome(reasons)

    # Re-run the rules at each threshold instead of predicting which one matters:
    # the first instant whose outcome differs is, by construction, the true next change.
    reassess_at = None
    for instant in sorted(t for t in set(_time_thresholds(inputs, policy, zone)) if t > now):
        # Shift the caller's "today" by the days that pass, so a caller whose
        # today is a day off from ``zone`` stays consistent with itself.
        later_today = inputs.today + (instant.astimezone(zone).date() - local_today)
        later = _evaluate(inputs, policy, now=instant, today=later_today, zone=zone)
        if _outcome(later) != current:
            reassess_at = instant
            break

    return Assessment(tier=current[0], reasons=reasons, reassess_at=reassess_at)


def assess_at(
    inputs: RiskInputs, *, now: datetime, policy: RiskPolicy = DEFAULT_POLICY
) -> Assessment:
    """Assess the same inputs at another moment (for sweeps and tests)."""
    _require_aware(now, "now")
    zone = inputs.clinic_tz or inputs.now.tzinfo
    # Expressed in the same zone, so a None clinic_tz still resolves to it.
    local_now = now.astimezone(zone)
    return assess(replace(inputs, now=local_now, today=local_now.date()), policy)
