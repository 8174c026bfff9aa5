"""Withdrawal-risk tier for one pump (domain.md §8).

Pure Python on purpose: no Django, no clock. The caller passes ``now`` and the
forecast; ``assess`` returns the tier, every rule that fired (so staff see why),
and ``reassess_at``, the next moment at which time alone changes the answer.

No published ITB withdrawal-risk score exists; these rules are the project's
design choice, and every threshold lives in ``RiskPolicy`` so clinics can tune it.

Decisions callers must know:

- Time thresholds are exact instants: "DTA <= 14 days" fires at
  ``conservative_alarm_at - 14 days`` of real time, not at a day boundary.
- A booked refill appointment keeps counting until its calendar day (in the
  clinic zone) ends. After that, with no refill recorded, it is treated as a
  missed appointment ("appointment-passed", HIGH) and as no booking at all.
- "Booked before the target" means the appointment's calendar date is on or
  before ``refill_by``. Margins compare calendar dates, as staff do.
- ``transport_barrier`` widens the margin only; the "two or more other risk
  factors" rule counts ``other_risk_factors`` (which should name the transport
  barrier itself when present, as ``Patient.other_risk_factors`` does).
- ``oral_bridge`` is accepted and deliberately ignored: an oral prescription
  never lowers the tier (domain §5, §8).
- A replacement counts as planned only when one of ``replacement_dates`` falls
  between today and the end of service (domain §7.1 #9): a date after the end of
  service, or one that has passed with the pump still in place, is not a plan,
  and says so as a reason of its own. A plan less than
  ``replacement_min_days_before_eos`` before the end of service is a warning
  (MODERATE); end of service within ``eos_prompt_days`` with no plan is the
  ~6-month prompt (MODERATE), within ``eos_critical_days`` it is CRITICAL.
- The clinic work-queue point (``unbooked_moderate_dta_days``, §8 "DTA <= 21 days
  with no appointment") also opens when the refill-by date itself is that close,
  so a refill-by date set by drug stability, a replacement or end of service
  long before the alarm is never passed in silence; a refill-by date that has
  passed with nothing booked before it is HIGH.
- Unbooked with the conservative alarm more than ``unbooked_moderate_dta_days``
  away is LOW ("not-yet-due"): §8 defines LOW only for booked patients, but
  calling every freshly refilled patient MODERATE would drown the real ones.
  Between that and ``unbooked_high_dta_days`` it is MODERATE.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from enum import IntEnum, StrEnum

from .forecast import RefillByReason


class Tier(IntEnum):
    LOW = 1
    MODERATE = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.capitalize()


class ReasonCode(StrEnum):
    # CRITICAL
    CRITICAL_ALARM = "critical-alarm"
    SYMPTOMS = "symptoms"
    ALARM_VOLUME_REACHED = "alarm-volume-reached"
    EMPTY_SOON = "empty-soon"
    DISCREPANCY_WITH_SYMPTOMS = "discrepancy-with-symptoms"
    END_OF_SERVICE_SOON = "end-of-service-soon"
    # HIGH
    PUMP_STOPPED = "pump-stopped"
    UNBOOKED_ALARM_SOON = "unbooked-alarm-soon"
    MISSED_APPOINTMENT = "missed-appointment"
    APPOINTMENT_PASSED = "appointment-passed"
    RISK_FACTOR_UNBOOKED = "risk-factor-unbooked"
    DISCREPANCY = "discrepancy"
    NONCRITICAL_ALARM = "noncritical-alarm"
    ERI_NO_REPLACEMENT = "eri-no-replacement"
    REFILL_BY_PASSED = "refill-by-passed"
    # MODERATE
    APPOINTMENT_INSIDE_MARGIN = "appointment-inside-margin"
    APPOINTMENT_AFTER_REFILL_BY = "appointment-after-refill-by"
    STABILITY_LIMIT = "stability-limit"
    REPLACEMENT_LIMIT = "replacement-limit"
    END_OF_SERVICE_BEFORE_ALARM = "end-of-service-before-alarm"
    OTHER_RISK_FACTORS = "other-risk-factors"
    UNBOOKED_ALARM_APPROACHING = "unbooked-alarm-approaching"
    END_OF_SERVICE_APPROACHING = "end-of-service-approaching"
    REPLACEMENT_LATE = "replacement-late"
    REPLACEMENT_AFTER_END_OF_SERVICE = "replacement-after-end-of-service"
    REPLACEMENT_DATE_PASSED = "replacement-date-passed"
    # LOW (given only when nothing above fired, to say why the tier is low)
    BOOKED_WITH_MARGIN = "booked-with-margin"
    NOT_YET_DUE = "not-yet-due"


@dataclass(frozen=True, kw_only=True)
class RiskPolicy:
    """Every threshold of the tier rules. Defaults are domain.md §8's."""

    # CRITICAL when the projected empty date is this close.
    critical_empty_within_days: int = 3
    # HIGH when not booked before the target and the conservative alarm is this close.
    unbooked_high_dta_days: int = 14
    # HIGH when a label risk factor is present, not booked, and the alarm is this close.
    risk_factor_dta_days: int = 21
    # MODERATE when not booked and the alarm is this close (the clinic work-queue point).
    unbooked_moderate_dta_days: int = 21
    # Required gap between the appointment and the conservative alarm date.
    appointment_margin_days: int = 3
    appointment_margin_risk_days: int = 7
    # Reconciliation thresholds: pass these to forecast.reconcile so both agree.
    discrepancy_abs_ml: Decimal = Decimal("2")
    discrepancy_rel: Decimal = Decimal("0.15")
    # CRITICAL when end of service is this close and no replacement is booked.
    eos_critical_days: int = 30
    # MODERATE (the ~6-month prompt, §7.1 #9) when end of service is this close and no
    # replacement is planned.
    eos_prompt_days: int = 180
    # A replacement planned less than this many days before end of service is a warning
    # (§7.1 #9: at least 90 days before).
    replacement_min_days_before_eos: int = 90
    # MODERATE at this many "other" risk factors.
    moderate_other_factor_count: int = 2

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, bool) or not isinstance(value, int | Decimal):
                raise TypeError(f"RiskPolicy.{name} must be an int or Decimal, got {value!r}")
            if value < 0:
                raise ValueError(f"RiskPolicy.{name} must not be negative, got {value}")

    def margin_days(self, *, risk_factors_present: bool) -> int:
        """The margin to pass to forecast.forecast(margin_days=...) for this patient."""
        if risk_factors_present:
            return self.appointment_margin_risk_days
        return self.appointment_margin_days


DEFAULT_POLICY = RiskPolicy()


@dataclass(frozen=True, kw_only=True)
class RiskInputs:
    """What the rules look at. Only ``now`` and ``today`` are required.

    ``today`` is the date in the clinic zone. ``clinic_tz`` turns instants into
    calendar dates (appointment day, alarm day) and gives midnight for date
    thresholds; when None, ``now.tzinfo`` is used, so pass ``now`` in the
    clinic zone or pass ``clinic_tz``.
    ``missed_appointment``: a missed refill appointment not yet followed by a
    completed refill or a new booking.
    ``last_discrepancy_flagged``: the last reconciliation was flagged and is
    still unexplained (clear it when staff record an explanation).
    ``eri_reached`` or ``eri_on`` (a date, reached from that day on): the elective
    replacement indicator.
    ``empty_at`` / ``conservative_empty_at``: the nominal and the fast-pump (ε) empty
    dates; the "empty soon" rule uses the earlier of the two, so it never fires later
    than it would on the nominal date (domain §2.2 pessimistic versions, issue 8).
    ``program_stopped``: the program in effect now is stopped (0 mcg/day): HIGH for as
    long as it lasts (the abrupt discontinuation of the boxed warning, domain §3.1).
    ``replacement_dates``: every planned replacement date (the pump's planned
    replacement date and each scheduled replacement appointment's clinic date);
    only one between today and end of service counts as a plan.
    """

    now: datetime
    today: date
    conservative_alarm_at: datetime | None = None
    empty_at: datetime | None = None
    conservative_empty_at: datetime | None = None
    refill_by: date | None = None
    refill_by_reason: str = ""
    next_refill_appointment_at: datetime | None = None
    missed_appointment: bool = False
    last_discrepancy_ml: Decimal | None = None
    last_discrepancy_flagged: bool = False
    critical_alarm_reported: bool = False
    noncritical_alarm_reported: bool = False
    symptoms_reported: bool = False
    label_risk_factors: tuple[str, ...] = ()
    other_risk_factors: tuple[str, ...] = ()
    transport_barrier: bool = False
    end_of_service_on: date | None = None
    eri_reached: bool = False
    eri_on: date | None = None
    replacement_dates: tuple[date, ...] = ()
    oral_bridge: bool = False
    program_stopped: bool = False
    clinic_tz: tzinfo | None = None

    def __post_init__(self) -> None:
        _require_aware(self.now, "now")
        for name in (
            "conservative_alarm_at",
            "empty_at",
            "conservative_empty_at",
            "next_refill_appointment_at",
        ):
            value = getattr(self, name)
            if value is not None:
                _require_aware(value, name)
        for name in ("today", "refill_by", "end_of_service_on", "eri_on"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, datetime) or not isinstance(value, date)):
                raise TypeError(f"{name} must be a date, not {type(value).__name__}")
        if self.last_discrepancy_ml is not None and not isinstance(
            self.last_discrepancy_ml, Decimal
        ):
            raise TypeError("last_discrepancy_ml must be a Decimal")
        # Lists from a queryset or a form would make the dataclass unhashable.
        object.__setattr__(self, "label_risk_factors", tuple(self.label_risk_factors))
        object.__setattr__(self, "other_risk_factors", tuple(self.other_risk_factors))
        dates = tuple(sorted(self.replacement_dates))
        for value in dates:
            if isinstance(value, datetime) or not isinstance(value, date):
                raise TypeError("replacement_dates must hold dates")
        object.__setattr__(self, "replacement_dates", dates)


@dataclass(frozen=True)
class Reason:
    code: str
    text: str
    tier: Tier


@dataclass(frozen=True)
class Assessment:
    """The tier, every reason behind it (highest tier first), and when to look again.

    ``reassess_at`` (UTC) is the next instant at which the passage of time alone
    changes the tier or the set of reason codes; None when nothing time-driven
    is pending. Any change of inputs (a refill, a booking) needs a fresh assess.
    """

    tier: Tier
    reasons: tuple[Reason, ...]
    reassess_at: datetime | None

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(reason.code for reason in self.reasons)


# --- helpers -------------------------------------------------------------------------

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _require_aware(value: object, name: str) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


def _utc(value: datetime | None) -> datetime | None:
    # Aware datetimes sharing one ZoneInfo subtract and compare by wall clock;
    # UTC makes every difference real elapsed time.
    return None if value is None else value.astimezone(UTC)


def _earliest_empty(inputs: RiskInputs) -> datetime | None:
    """The empty date the rules use: the conservative one, never later than the nominal."""
    dates = [_utc(d) for d in (inputs.conservative_empty_at, inputs.empty_at) if d is not None]
    return min(dates) if dates else None


def _start_of_day(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def _day_text(day: date, today: date) -> str:
    # Written out by hand so the text does not depend on the server locale.
    text = f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]}"
    return text if day.year == today.year else f"{text} {day.year}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _is_when(day: date, today: date) -> str:
    """'is 9 days away (Tue 1 Dec)', 'is today (...)', 'was 2 days ago (...)'."""
    days = (day - today).days
    shown = _day_text(day, today)
    if days > 1:
        return f"is {days} days away ({shown})"
    if days == 1:
        return f"is tomorrow ({shown})"
    if days == 0:
        return f"is today ({shown})"
    if days == -1:
        return f"was yesterday ({shown})"
    return f"was {-days} days ago ({shown})"


def _ml_text(value: Decimal) -> str:
    return f"{abs(value).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)} mL"


# --- replacement plan ----------------------------------------------------------------


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


# --- the rules -----------------------------------------------------------------------


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
    booked_in_time = booked and (refill_by is None or appointment_day <= refill_by)
    booked_late = booked and not booked_in_time
    if booked_late:
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
    return reasons or (_low_reason(situation),)


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
