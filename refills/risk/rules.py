"""The tier rules of domain.md §8 as a table: each a small function of one situation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from refills.forecast import RefillByReason
from refills.risk.common import (
    _day_text,
    _earliest_empty,
    _is_when,
    _ml_text,
    _plural,
    _start_of_day,
    _utc,
)
from refills.risk.model import Reason, ReasonCode, RiskInputs, RiskPolicy, Tier
from refills.risk.replacement import ReplacementPlan, replacement_date_warning, replacement_plan


@dataclass(frozen=True, kw_only=True)
class _Situation:
    """What the rules look at, worked out once for one instant (``now``, UTC)."""

    inputs: RiskInputs
    policy: RiskPolicy
    now: datetime
    today: date
    alarm_day: date | None
    to_alarm: timedelta | None
    # "is 9 days away (Tue 1 Dec)" for the conservative alarm date, "" without one.
    alarm_text: str
    empty_at: datetime | None
    appointment_day: date | None
    # A booked refill counts until its calendar day ends in the clinic zone.
    booked: bool
    appointment_passed: bool
    booked_in_time: bool
    booked_late: bool
    # How the unbooked rules begin: "No refill booked", or why the booking does not count.
    unbooked_text: str
    risk_factors_present: bool
    margin_days: int
    plan: ReplacementPlan
    eri_reached: bool
    zone: tzinfo

    def within(self, days: int) -> bool:
        """The conservative alarm is at most ``days`` away (or has passed)."""
        return self.to_alarm is not None and self.to_alarm <= timedelta(days=days)

    @property
    def refill_by(self) -> date | None:
        return self.inputs.refill_by

    @property
    def eos(self) -> date | None:
        return self.inputs.end_of_service_on

    @property
    def planned(self) -> bool:
        return self.plan.planned_on is not None

    @property
    def refill_by_passed(self) -> bool:
        return (
            not self.booked_in_time and self.refill_by is not None and self.refill_by < self.today
        )

    @property
    def refill_by_near(self) -> bool:
        return (
            not self.booked_in_time
            and self.refill_by is not None
            and (self.refill_by - self.today).days <= self.policy.unbooked_moderate_dta_days
        )

    @property
    def unbooked_soon(self) -> bool:
        return not self.booked_in_time and self.within(self.policy.unbooked_high_dta_days)

    @property
    def risk_factor_unbooked(self) -> bool:
        return (
            bool(self.inputs.label_risk_factors)
            and not self.booked_in_time
            and self.within(self.policy.risk_factor_dta_days)
        )


def _situation(
    inputs: RiskInputs, policy: RiskPolicy, *, now: datetime, today: date, zone: tzinfo
) -> _Situation:
    now = now.astimezone(UTC)
    alarm_at = _utc(inputs.conservative_alarm_at)
    appointment_at = _utc(inputs.next_refill_appointment_at)
    refill_by = inputs.refill_by
    alarm_day = alarm_at.astimezone(zone).date() if alarm_at is not None else None
    appointment_day = appointment_at.astimezone(zone).date() if appointment_at else None
    booked = appointment_day is not None and now < _start_of_day(
        appointment_day + timedelta(days=1), zone
    )
    closure = inputs.next_refill_appointment_closure
    # A visit on a day the clinic is closed secures nothing: the patient must rebook.
    booked_in_time = booked and not closure and (refill_by is None or appointment_day <= refill_by)
    booked_late = booked and not booked_in_time
    if booked and closure:
        unbooked_text = (
            f"The booked refill ({_day_text(appointment_day, today)}) is on a day the clinic "
            f"is closed ({closure}): rebook"
        )
    elif booked_late:
        unbooked_text = (
            f"The booked refill ({_day_text(appointment_day, today)}) is after the "
            f"refill-by date ({_day_text(refill_by, today)})"
        )
    else:
        unbooked_text = "No refill booked"
    risk_factors_present = bool(
        inputs.label_risk_factors or inputs.other_risk_factors or inputs.transport_barrier
    )
    return _Situation(
        inputs=inputs,
        policy=policy,
        now=now,
        today=today,
        alarm_day=alarm_day,
        to_alarm=alarm_at - now if alarm_at is not None else None,
        alarm_text=_is_when(alarm_day, today) if alarm_day is not None else "",
        empty_at=_earliest_empty(inputs),
        appointment_day=appointment_day,
        booked=booked,
        appointment_passed=appointment_day is not None and not booked,
        booked_in_time=booked_in_time,
        booked_late=booked_late,
        unbooked_text=unbooked_text,
        risk_factors_present=risk_factors_present,
        margin_days=policy.margin_days(risk_factors_present=risk_factors_present),
        plan=replacement_plan(
            inputs.replacement_dates, end_of_service_on=inputs.end_of_service_on, today=today
        ),
        eri_reached=inputs.eri_reached or (inputs.eri_on is not None and inputs.eri_on <= today),
        zone=zone,
    )


# Each rule looks at the situation and returns its reason, or None when it does not fire.
# CRITICAL: same-day action.


def _critical_alarm(s: _Situation) -> Reason | None:
    if not s.inputs.critical_alarm_reported:
        return None
    return Reason(
        ReasonCode.CRITICAL_ALARM,
        "A critical (two-tone) pump alarm was reported: empty reservoir, end of service "
        "or motor stall",
        Tier.CRITICAL,
    )


def _symptoms(s: _Situation) -> Reason | None:
    if not s.inputs.symptoms_reported:
        return None
    return Reason(
        ReasonCode.SYMPTOMS,
        "Withdrawal symptoms were reported (such as itching, tingling, rising muscle tone, "
        "fever or confusion)",
        Tier.CRITICAL,
    )


def _alarm_volume_reached(s: _Situation) -> Reason | None:
    if not s.within(0):
        return None
    return Reason(
        ReasonCode.ALARM_VOLUME_REACHED,
        "The reservoir is projected to be at or below the alarm volume: the conservative "
        f"alarm date {s.alarm_text}",
        Tier.CRITICAL,
    )


def _empty_soon(s: _Situation) -> Reason | None:
    if s.empty_at is None or s.empty_at - s.now > timedelta(
        days=s.policy.critical_empty_within_days
    ):
        return None
    empty_day = s.empty_at.astimezone(s.zone).date()
    return Reason(
        ReasonCode.EMPTY_SOON,
        f"The projected empty date (if the pump runs fast) {_is_when(empty_day, s.today)}",
        Tier.CRITICAL,
    )


def _discrepancy_with_symptoms(s: _Situation) -> Reason | None:
    delta = s.inputs.last_discrepancy_ml
    if not s.inputs.symptoms_reported or delta is None or delta <= s.policy.discrepancy_abs_ml:
        return None
    return Reason(
        ReasonCode.DISCREPANCY_WITH_SYMPTOMS,
        f"{_ml_text(delta)} more was left than expected at the last "
        "refill (under-delivery), and symptoms are reported",
        Tier.CRITICAL,
    )


def _end_of_service_soon(s: _Situation) -> Reason | None:
    if s.eos is None or s.planned or (s.eos - s.today).days > s.policy.eos_critical_days:
        return None
    return Reason(
        ReasonCode.END_OF_SERVICE_SOON,
        f"The pump's end of service {_is_when(s.eos, s.today)} and no replacement is booked",
        Tier.CRITICAL,
    )


# HIGH.


NO_FILL_TEXT = (
    "No fill recorded: the reservoir level is unknown; record the implant fill or the last refill"
)


def no_fill_critical_on(inputs: RiskInputs, policy: RiskPolicy) -> date | None:
    """The first day on which a pump with no fill on record is CRITICAL, or None.

    The reservoir could be empty once more days have passed since the implant than a
    full reservoir lasts at the program in effect, or than the policy's
    ``no_fill_critical_days``, whichever is sooner (conservative: never later).
    """
    if inputs.no_fill_since is None:
        return None
    days = policy.no_fill_critical_days
    if inputs.no_fill_capacity_days is not None:
        # Whole days, rounded down, so the rule never fires later than the maths says.
        days = min(days, int(inputs.no_fill_capacity_days))
    return inputs.no_fill_since + timedelta(days=days + 1)


def _no_fill(s: _Situation) -> Reason | None:
    critical_on = no_fill_critical_on(s.inputs, s.policy)
    if critical_on is None:
        return None
    tier = Tier.CRITICAL if s.today >= critical_on else Tier.HIGH
    return Reason(ReasonCode.NO_FILL, NO_FILL_TEXT, tier)


def _pump_stopped(s: _Situation) -> Reason | None:
    if not s.inputs.program_stopped:
        return None
    return Reason(
        ReasonCode.PUMP_STOPPED, "The pump is stopped: no baclofen is being delivered", Tier.HIGH
    )


def _refill_by_passed(s: _Situation) -> Reason | None:
    if not s.refill_by_passed:
        return None
    return Reason(
        ReasonCode.REFILL_BY_PASSED,
        f"{s.unbooked_text} and the refill-by date {_is_when(s.refill_by, s.today)}",
        Tier.HIGH,
    )


def _unbooked_alarm_soon(s: _Situation) -> Reason | None:
    if not s.unbooked_soon:
        return None
    return Reason(
        ReasonCode.UNBOOKED_ALARM_SOON,
        f"{s.unbooked_text} and the conservative alarm date {s.alarm_text}",
        Tier.HIGH,
    )


def _missed_appointment(s: _Situation) -> Reason | None:
    if not s.inputs.missed_appointment:
        return None
    return Reason(
        ReasonCode.MISSED_APPOINTMENT,
        "A refill appointment was missed and has not been rebooked",
        Tier.HIGH,
    )


def _appointment_passed(s: _Situation) -> Reason | None:
    if not s.appointment_passed:
        return None
    return Reason(
        ReasonCode.APPOINTMENT_PASSED,
        f"The refill appointment on {_day_text(s.appointment_day, s.today)} has passed and no "
        "refill was recorded",
        Tier.HIGH,
    )


def _risk_factor_unbooked(s: _Situation) -> Reason | None:
    if not s.risk_factor_unbooked:
        return None
    return Reason(
        ReasonCode.RISK_FACTOR_UNBOOKED,
        f"{s.unbooked_text}, the patient has a label risk factor "
        f"({', '.join(s.inputs.label_risk_factors)}) and the conservative alarm date "
        f"{s.alarm_text}",
        Tier.HIGH,
    )


def _discrepancy(s: _Situation) -> Reason | None:
    if not s.inputs.last_discrepancy_flagged:
        return None
    text = "Unexplained volume discrepancy at the last refill"
    delta = s.inputs.last_discrepancy_ml
    if delta is not None and delta != 0:
        side, kind = ("more", "under") if delta > 0 else ("less", "over")
        text += f": {_ml_text(delta)} {side} left than expected ({kind}-delivery)"
    return Reason(ReasonCode.DISCREPANCY, text, Tier.HIGH)


def _noncritical_alarm(s: _Situation) -> Reason | None:
    if not s.inputs.noncritical_alarm_reported:
        return None
    return Reason(
        ReasonCode.NONCRITICAL_ALARM,
        "A non-critical (single-tone) pump alarm was reported: low reservoir or replacement due",
        Tier.HIGH,
    )


def _eri_no_replacement(s: _Situation) -> Reason | None:
    if not s.eri_reached or s.planned:
        return None
    return Reason(
        ReasonCode.ERI_NO_REPLACEMENT,
        "The pump has reached its elective replacement indicator (ERI) and no replacement "
        "is booked",
        Tier.HIGH,
    )


# MODERATE.


def _appointment_inside_margin(s: _Situation) -> Reason | None:
    if not s.booked or s.alarm_day is None:
        return None
    gap_days = (s.alarm_day - s.appointment_day).days
    if gap_days >= s.margin_days:
        return None
    if gap_days > 0:
        where = f"only {_plural(gap_days, 'day')} before"
    elif gap_days == 0:
        where = "on"
    else:
        where = f"{_plural(-gap_days, 'day')} after"
    why = " because of the patient's risk factors" if s.risk_factors_present else ""
    return Reason(
        ReasonCode.APPOINTMENT_INSIDE_MARGIN,
        f"The booked refill ({_day_text(s.appointment_day, s.today)}) is {where} the "
        f"conservative alarm date ({_day_text(s.alarm_day, s.today)}); at least "
        f"{_plural(s.margin_days, 'day')} are needed{why}",
        Tier.MODERATE,
    )


def _appointment_after_refill_by(s: _Situation) -> Reason | None:
    if not s.booked_late:
        return None
    if s.inputs.next_refill_appointment_closure:
        return Reason(ReasonCode.APPOINTMENT_ON_CLOSED_DAY, s.unbooked_text, Tier.MODERATE)
    return Reason(ReasonCode.APPOINTMENT_AFTER_REFILL_BY, s.unbooked_text, Tier.MODERATE)


def _stability_limit(s: _Situation) -> Reason | None:
    if s.refill_by is None or s.inputs.refill_by_reason != RefillByReason.DRUG_STABILITY:
        return None
    return Reason(
        ReasonCode.STABILITY_LIMIT,
        f"The refill-by date ({_day_text(s.refill_by, s.today)}) is set by the drug stability "
        "limit, not the alarm date",
        Tier.MODERATE,
    )


def _replacement_limit(s: _Situation) -> Reason | None:
    if s.refill_by is None or s.inputs.refill_by_reason != RefillByReason.PLANNED_REPLACEMENT:
        return None
    return Reason(
        ReasonCode.REPLACEMENT_LIMIT,
        f"The refill-by date ({_day_text(s.refill_by, s.today)}) is set by the planned pump "
        "replacement",
        Tier.MODERATE,
    )


def _end_of_service_before_alarm(s: _Situation) -> Reason | None:
    if s.eos is None or s.alarm_day is None or s.eos > s.alarm_day:
        return None
    return Reason(
        ReasonCode.END_OF_SERVICE_BEFORE_ALARM,
        f"The pump reaches end of service ({_day_text(s.eos, s.today)}) before the "
        f"conservative alarm date ({_day_text(s.alarm_day, s.today)})",
        Tier.MODERATE,
    )


def _end_of_service_approaching(s: _Situation) -> Reason | None:
    # The ~6-month prompt; not listed again once the CRITICAL rule fired.
    if (
        s.eos is None
        or s.planned
        or not s.policy.eos_critical_days < (s.eos - s.today).days <= s.policy.eos_prompt_days
    ):
        return None
    return Reason(
        ReasonCode.END_OF_SERVICE_APPROACHING,
        f"The pump's end of service or automatic shut-down {_is_when(s.eos, s.today)} and no "
        "replacement is planned before it",
        Tier.MODERATE,
    )


def _replacement_date_late(s: _Situation) -> Reason | None:
    """A planned replacement too close to end of service, or only dates after it."""
    if s.plan.planned_on is not None:
        late = replacement_date_warning(
            s.plan.planned_on, end_of_service_on=s.eos, today=s.today, policy=s.policy
        )
        return Reason(ReasonCode.REPLACEMENT_LATE, late, Tier.MODERATE) if late else None
    if s.plan.after_end_of_service:
        return Reason(
            ReasonCode.REPLACEMENT_AFTER_END_OF_SERVICE,
            replacement_date_warning(
                s.plan.after_end_of_service[0],
                end_of_service_on=s.eos,
                today=s.today,
                policy=s.policy,
            ),
            Tier.MODERATE,
        )
    return None


def _replacement_date_passed(s: _Situation) -> Reason | None:
    if s.plan.planned_on is not None or not s.plan.passed:
        return None
    return Reason(
        ReasonCode.REPLACEMENT_DATE_PASSED,
        f"The planned replacement date ({_day_text(s.plan.passed[-1], s.today)}) has passed "
        "and the pump is still recorded as in place",
        Tier.MODERATE,
    )


def _other_risk_factors(s: _Situation) -> Reason | None:
    factors = s.inputs.other_risk_factors
    if len(factors) < s.policy.moderate_other_factor_count:
        return None
    return Reason(
        ReasonCode.OTHER_RISK_FACTORS,
        f"{len(factors)} other risk factors: {', '.join(factors)}",
        Tier.MODERATE,
    )


def _unbooked_alarm_approaching(s: _Situation) -> Reason | None:
    # Only the step before the HIGH unbooked rules, so one gap is not listed twice.
    # This is also the clinic work-queue point of §8; the refill-by date opens it too.
    alarm_near = s.within(s.policy.unbooked_moderate_dta_days)
    if (
        s.booked_in_time
        or s.unbooked_soon
        or s.risk_factor_unbooked
        or s.refill_by_passed
        or not (alarm_near or s.refill_by_near)
    ):
        return None
    if alarm_near:
        text = f"{s.unbooked_text} and the conservative alarm date {s.alarm_text}"
    else:
        text = f"{s.unbooked_text} and the refill-by date {_is_when(s.refill_by, s.today)}"
    return Reason(ReasonCode.UNBOOKED_ALARM_APPROACHING, text, Tier.MODERATE)


# In the order reasons are listed: CRITICAL first, then HIGH, then MODERATE.
_RULES: tuple[Callable[[_Situation], Reason | None], ...] = (
    _critical_alarm,
    _symptoms,
    _alarm_volume_reached,
    _empty_soon,
    _discrepancy_with_symptoms,
    _end_of_service_soon,
    _no_fill,
    _pump_stopped,
    _refill_by_passed,
    _unbooked_alarm_soon,
    _missed_appointment,
    _appointment_passed,
    _risk_factor_unbooked,
    _discrepancy,
    _noncritical_alarm,
    _eri_no_replacement,
    _appointment_inside_margin,
    _appointment_after_refill_by,
    _stability_limit,
    _replacement_limit,
    _end_of_service_before_alarm,
    _end_of_service_approaching,
    _replacement_date_late,
    _replacement_date_passed,
    _other_risk_factors,
    _unbooked_alarm_approaching,
)


def _low_reason(s: _Situation) -> Reason:
    """LOW: say why, so "low" is a finding and not an absence of data."""
    if s.booked:
        shown = _day_text(s.appointment_day, s.today)
        if s.alarm_day is not None:
            gap_days = (s.alarm_day - s.appointment_day).days
            text = (
                f"Refill booked for {shown}, {_plural(gap_days, 'day')} before the "
                f"conservative alarm date ({_day_text(s.alarm_day, s.today)})"
            )
        elif s.refill_by is not None:
            refill_by_text = _day_text(s.refill_by, s.today)
            text = f"Refill booked for {shown}, on or before the refill-by date ({refill_by_text})"
        else:
            text = f"Refill booked for {shown}"
        return Reason(code=ReasonCode.BOOKED_WITH_MARGIN, text=text, tier=Tier.LOW)
    if s.alarm_day is not None:
        text = f"No refill booked yet; the conservative alarm date {s.alarm_text}"
    elif s.refill_by is not None:
        text = (
            "No refill booked yet; no alarm date is projected and the refill-by date "
            f"{_is_when(s.refill_by, s.today)}"
        )
    else:
        text = "No refill booked yet; no alarm date is projected"
    return Reason(code=ReasonCode.NOT_YET_DUE, text=text, tier=Tier.LOW)


def _evaluate(
    inputs: RiskInputs, policy: RiskPolicy, *, now: datetime, today: date, zone: tzinfo
) -> tuple[Reason, ...]:
    """Every rule that fires at ``now``, CRITICAL first; a LOW reason if none did."""
    situation = _situation(inputs, policy, now=now, today=today, zone=zone)
    reasons = tuple(reason for rule in _RULES if (reason := rule(situation)) is not None)
    # CRITICAL first, whatever the rule order (the no-fill rule can be either tier).
    reasons = tuple(sorted(reasons, key=lambda reason: -reason.tier))
    return reasons or (_low_reason(situation),)
