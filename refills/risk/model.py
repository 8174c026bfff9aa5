"""The tier, its reasons, its thresholds (RiskPolicy) and what the rules look at (RiskInputs)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal
from enum import IntEnum, StrEnum


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
    # HIGH (CRITICAL once the reservoir could be empty, see RiskInputs.no_fill_since)
    NO_FILL = "no-fill"
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
    APPOINTMENT_ON_CLOSED_DAY = "appointment-on-closed-day"
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
    # An active pump with no fill on record is HIGH (the reservoir level is unknown), and
    # CRITICAL once this many days have passed since the implant (sooner when the program
    # in effect would empty a full reservoir sooner): a clinical choice for review.
    no_fill_critical_days: int = 30

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
    # The reason of a clinic closure covering the booked refill's day ("" when open):
    # such a booking never secures the refill (the patient would come to a shut clinic).
    next_refill_appointment_closure: str = ""
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
    # An active pump with no fill (implant fill or refill) on record: its implant date.
    # None means a fill is on record (or the pump is not active).
    no_fill_since: date | None = None
    # How many days a full reservoir lasts at the program in effect (None: no program).
    no_fill_capacity_days: Decimal | None = None

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
        for name in ("today", "refill_by", "end_of_service_on", "eri_on", "no_fill_since"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, datetime) or not isinstance(value, date)):
                raise TypeError(f"{name} must be a date, not {type(value).__name__}")
        if self.no_fill_capacity_days is not None and not isinstance(
            self.no_fill_capacity_days, Decimal
        ):
            raise TypeError("no_fill_capacity_days must be a Decimal")
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


def _require_aware(value: object, name: str) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
