"""The alert rules: which staff alerts hold for a pump at an instant.

Rules read the stored forecast (refills.PumpForecast) and a few rows of the pump;
they run when the forecast is stored (reminders.hooks), i.e. when something
changed or the pump's reassess moment came. `alert_findings` also returns the
instants at which a time-based rule will switch on, which the hook folds into
PumpForecast.reassess_at so the sweep comes back exactly then.

Each rule is a row of ALERT_RULES: the alert kind it raises and a small function
that says whether it holds (a Hit) or not (None). `alert_findings` walks the table
in order; the order is the order in which alerts_sync raises them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from patients.models import Patient, Pump, PumpStatus
from refills.models import Appointment, AppointmentKind, AppointmentStatus, PumpForecast, Refill
from refills.policy import running_out_alert_days
from refills.risk import ReasonCode, Tier
from refills.selectors import outstanding_discrepancy
from reminders.messages import format_date, format_when
from reminders.models import AlertKind

REPORTED_CODES = ("critical-alarm", "symptoms", "noncritical-alarm", "discrepancy-with-symptoms")
MISSED_CODES = ("missed-appointment", "appointment-passed")
# The clinic work-queue alert of domain §8 follows the tier's own unbooked rules, so the
# windows (PUMPTRACK_POLICY WORK_QUEUE_DTA_DAYS, UNBOOKED_HIGH_DTA_DAYS,
# RISK_FACTOR_DTA_DAYS) have one source and the alert opens and clears with them.
UNBOOKED_CODES = (
    ReasonCode.REFILL_BY_PASSED,
    ReasonCode.UNBOOKED_ALARM_SOON,
    ReasonCode.RISK_FACTOR_UNBOOKED,
    ReasonCode.UNBOOKED_ALARM_APPROACHING,
)
# The device-life alert follows the tier's end-of-service and replacement rules.
DEVICE_CODES = (
    ReasonCode.END_OF_SERVICE_SOON,
    ReasonCode.ERI_NO_REPLACEMENT,
    ReasonCode.END_OF_SERVICE_APPROACHING,
    ReasonCode.REPLACEMENT_AFTER_END_OF_SERVICE,
    ReasonCode.REPLACEMENT_DATE_PASSED,
    ReasonCode.REPLACEMENT_LATE,
)

# The refill fields the discrepancy and pocket-fill rules read from the last refill.
_LAST_REFILL_FIELDS = (
    "pk",
    "performed_at",
    "discrepancy_flagged",
    "discrepancy_trend_flagged",
    "discrepancy_ml",
    "pocket_fill_suspected",
    "measured_volume_after_fill_ml",
    "resulting_volume_ml",
)


@dataclass
class Finding:
    kind: str
    severity: int
    reasons: list[str]
    occasion: str = ""


@dataclass
class Evaluation:
    findings: dict[str, Finding] = field(default_factory=dict)
    thresholds: list[dt.datetime] = field(default_factory=list)
    # Kinds that held but were folded into another alert: {kind: the kind that carries it}.
    merged: dict[str, str] = field(default_factory=dict)


@dataclass
class Hit:
    """A rule holds: how severe, why (one line each), and the occasion it is about."""

    severity: int
    reasons: list[str]
    occasion: str = ""


@dataclass
class RuleContext:
    """What every rule reads, computed once per evaluation."""

    forecast: PumpForecast
    pump: Pump
    now: dt.datetime
    # Time-based rules add the instants at which they will switch on.
    thresholds: list[dt.datetime]
    patient: Patient = field(init=False)
    zone: dt.tzinfo = field(init=False)
    today: dt.date = field(init=False)
    # The forecast's risk reasons by code.
    codes: dict[str, dict] = field(init=False)
    risk_tier: int = field(init=False)

    def __post_init__(self):
        self.patient = self.pump.patient
        self.zone = self.patient.clinic.tz
        self.today = self.now.astimezone(self.zone).date()
        self.codes = {reason["code"]: reason for reason in self.forecast.risk_reasons or []}
        self.risk_tier = int(self.forecast.risk_tier or Tier.LOW)

    def reasons_with(self, codes) -> list[dict]:
        """The forecast's risk reasons among `codes`, in the order of `codes`."""
        return [self.codes[c] for c in codes if c in self.codes]

    @cached_property
    def last_refill(self) -> Refill | None:
        # Read once, shared by the discrepancy and pocket-fill rules.
        return (
            Refill.objects.filter(pump=self.pump)
            .order_by("-performed_at")
            .only(*_LAST_REFILL_FIELDS)
            .first()
        )

    def day(self, instant: dt.datetime) -> dt.date:
        return instant.astimezone(self.zone).date()


def start_of_day(day: dt.date, zone) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=zone).astimezone(dt.UTC)


def _days_away(day: dt.date, today: dt.date) -> str:
    days = (day - today).days
    if days > 1:
        return f"{days} days away"
    if days == 1:
        return "tomorrow"
    if days == 0:
        return "today"
    return f"{-days} day{'s' if days < -1 else ''} ago"


# --------------------------------------------------------------------------- the rules


def missed_refill_appointment(ctx: RuleContext) -> Hit | None:
    """A missed refill appointment not followed by a refill or a new booking."""
    missed = [reason["text"] for reason in ctx.reasons_with(MISSED_CODES)]
    if not missed:
        return None
    appointment = (
        Appointment.objects.filter(
            pump=ctx.pump, kind=AppointmentKind.REFILL, status=AppointmentStatus.MISSED
        )
        .order_by("-scheduled_start")
        .values_list("pk", flat=True)
        .first()
    )
    return Hit(
        # Its own severity, not the patient's tier: another problem (symptoms, a report)
        # has its own alert, and lifting this one too made one problem several CRITICALs.
        Tier.HIGH,
        missed,
        occasion=f"appointment:{appointment}" if appointment else "",
    )


def unbooked_refill(ctx: RuleContext) -> Hit | None:
    """No refill booked before the refill-by date and the conservative alarm (or the
    refill-by date) within the work-queue window, or a HIGH unbooked rule: the tier's
    rules, so the alert and the tier cannot disagree about the window."""
    forecast = ctx.forecast
    unbooked = ctx.reasons_with(UNBOOKED_CODES)
    if not unbooked or not forecast.refill_by:
        return None
    booked = forecast.next_refill_at
    what = (
        f"The booked refill ({format_date(ctx.day(booked))}) is after"
        if booked and not forecast.booked_before_refill_by
        else "No refill appointment is booked before"
    )
    reasons = [
        f"{what} the refill-by date ({format_date(forecast.refill_by)}, "
        f"{_days_away(forecast.refill_by, ctx.today)})"
    ]
    reasons += [r["text"] for r in unbooked]
    label_factors = ctx.patient.label_risk_factors
    if label_factors:
        reasons.append("Label risk factor: " + ", ".join(label_factors))
    return Hit(
        # The unbooked rules' own tier (see missed_refill_appointment for why not the
        # patient's); running out with nothing booked is the same problem and joins it.
        max(int(r["tier"]) for r in unbooked),
        reasons,
        occasion=f"refill-by:{forecast.refill_by.isoformat()}",
    )


def _alarm_reason(ctx: RuleContext) -> str | None:
    """The conservative alarm within RUNNING_OUT_ALERT_DAYS and no refill booked before
    it, or the alarm reached. A refill booked (and not missed) before the conservative
    alarm instant is the answer to "running out" and the tier says so (it keeps the
    margin rules); the alert comes back when that visit is missed, cancelled or moved
    after the alarm, and at the alarm instant whatever is booked (the tier is CRITICAL
    then too)."""
    forecast, now = ctx.forecast, ctx.now
    alarm_at = forecast.conservative_alarm_at
    if not alarm_at:
        return None
    opens = alarm_at - dt.timedelta(days=running_out_alert_days())
    booked_before_alarm = forecast.next_refill_at is not None and forecast.next_refill_at < alarm_at
    if now >= alarm_at or (now >= opens and not booked_before_alarm):
        alarm_day = ctx.day(alarm_at)
        return (
            f"The conservative alarm date is {format_date(alarm_day)} "
            f"({_days_away(alarm_day, ctx.today)})"
        )
    ctx.thresholds.append(opens if now < opens else alarm_at)
    return None


def _empty_reason(ctx: RuleContext) -> str | None:
    """The empty date if the pump runs fast (never later than the nominal one) passed."""
    forecast = ctx.forecast
    empty_at = min(
        (d for d in (forecast.conservative_empty_at, forecast.empty_at) if d), default=None
    )
    if not empty_at:
        return None
    if ctx.now >= empty_at:
        return (
            "The projected empty date has passed "
            f"({format_when(empty_at, ctx.zone)}, if the pump runs fast): the reservoir may "
            "be empty"
        )
    ctx.thresholds.append(empty_at)
    return None


def _no_fill_hit(ctx: RuleContext) -> Hit | None:
    """No fill on record for an active pump: the reservoir could be empty and nobody can
    say when it will be. The tier's own reason and tier (HIGH, then CRITICAL), so the
    alert and the tier cannot disagree; it clears when a fill is recorded."""
    reason = ctx.codes.get(ReasonCode.NO_FILL)
    if reason is None:
        return None
    return Hit(
        int(reason["tier"]),
        [reason["text"]],
        occasion=f"no-fill:{ctx.pump.implanted_on.isoformat()}",
    )


def running_out(ctx: RuleContext) -> Hit | None:
    """Running out: the alarm near with nothing booked before it, or the empty date passed;
    or no fill on record, so the reservoir may already be empty."""
    # Both steps run (each may add a threshold), the alarm first.
    reasons = [r for r in (_alarm_reason(ctx), _empty_reason(ctx)) if r]
    if not reasons:
        return _no_fill_hit(ctx)
    anchor_at = ctx.forecast.anchor_at
    return Hit(
        Tier.CRITICAL,
        reasons,
        occasion=f"anchor:{anchor_at.isoformat() if anchor_at else ''}",
    )


def reported_problem(ctx: RuleContext) -> Hit | None:
    """Alarms or symptoms reported by the patient, a caregiver or another service."""
    reported = ctx.reasons_with(REPORTED_CODES)
    if not reported:
        return None
    return Hit(max(int(r["tier"]) for r in reported), [r["text"] for r in reported])


def _discrepancy_text(ctx: RuleContext, flagged: Refill, unexplained: Refill | None) -> str:
    on = format_date(ctx.day(flagged.performed_at))
    if unexplained is not None:
        text = f"Unexplained volume discrepancy at the refill of {on}"
        action = unexplained.get_discrepancy_action_display()
        if unexplained.discrepancy_action:
            text = f"{text} ({action})"
    else:
        text = f"Second volume discrepancy in the same direction in a row, at the refill of {on}"
    delta = flagged.discrepancy_ml
    if delta:
        side, kind = ("more", "under") if delta > 0 else ("less", "over")
        text += f": {abs(delta):.1f} mL {side} left than expected ({kind}-delivery)"
    return text


def discrepancy(ctx: RuleContext) -> Hit | None:
    """A discrepancy flagged and not explained with evidence (carried until a refill
    reconciles within tolerance, as the tier does), or a second same-direction one in a
    row at the last refill (a trend, domain §7.1 #7): staff follow it up and resolve it."""
    last = ctx.last_refill
    unexplained = outstanding_discrepancy(pump=ctx.pump)
    flagged = unexplained or (last if last is not None and last.discrepancy_trend_flagged else None)
    if flagged is None:
        return None
    # A trend alone is each time within tolerance: worth a look, not the HIGH of §8.
    severity = Tier.HIGH if unexplained is not None else Tier.MODERATE
    return Hit(
        severity,
        [_discrepancy_text(ctx, flagged, unexplained)],
        occasion=f"refill:{flagged.pk}",
    )


def pocket_fill(ctx: RuleContext) -> Hit | None:
    """The last refill's measured volume suggests the drug went into the pocket."""
    last = ctx.last_refill
    if last is None or not last.pocket_fill_suspected:
        return None
    measured = last.measured_volume_after_fill_ml
    return Hit(
        Tier.CRITICAL,
        [
            f"Possible pocket fill at the refill of "
            f"{format_date(ctx.day(last.performed_at))}: the pump measured "
            f"{measured:.1f} mL after {last.resulting_volume_ml:.1f} mL was programmed",
            "Watch for overdose now and for withdrawal later; the forecast uses the "
            "measured volume",
        ],
        occasion=f"refill:{last.pk}",
    )


def device_end_of_service(ctx: RuleContext) -> Hit | None:
    """ERI reached, end of service / the automatic shut-down near with no replacement
    planned before it, or a replacement planned after it or too close to it: the tier's
    device-life rules (a replacement date after end of service is not a plan)."""
    device = ctx.reasons_with(DEVICE_CODES)
    if not device:
        return None
    eos = ctx.pump.end_of_service_on
    return Hit(
        max(int(r["tier"]) for r in device),
        [r["text"] for r in device],
        occasion=f"eos:{eos.isoformat() if eos else ''}",
    )


@dataclass(frozen=True)
class AlertRule:
    kind: str
    holds: Callable[[RuleContext], Hit | None]


ALERT_RULES: tuple[AlertRule, ...] = (
    AlertRule(AlertKind.MISSED_APPOINTMENT, missed_refill_appointment),
    AlertRule(AlertKind.UNBOOKED_REFILL, unbooked_refill),
    AlertRule(AlertKind.RUNNING_OUT, running_out),
    AlertRule(AlertKind.REPORTED_PROBLEM, reported_problem),
    AlertRule(AlertKind.DISCREPANCY, discrepancy),
    AlertRule(AlertKind.POCKET_FILL, pocket_fill),
    AlertRule(AlertKind.DEVICE_END_OF_SERVICE, device_end_of_service),
)


# One problem, one alert: the reservoir running out, a missed refill visit and no refill
# booked in time are the same problem (the pump will run dry before a refill) and are
# closed by the same action (a refill booked in time, or done). When several hold, the
# first kind here carries them all, with the highest severity among them; the others are
# not raised (an open one clears with a note naming the alert that took it over).
REFILL_SUPPLY_KINDS: tuple[str, ...] = (
    AlertKind.RUNNING_OUT,
    AlertKind.MISSED_APPOINTMENT,
    AlertKind.UNBOOKED_REFILL,
)


def _merge_refill_supply(findings: dict[str, Finding]) -> dict[str, str]:
    """Fold the refill-supply findings into the first that holds; {merged kind: into kind}."""
    held = [findings[kind] for kind in REFILL_SUPPLY_KINDS if kind in findings]
    if len(held) < 2:
        return {}
    lead, others = held[0], held[1:]
    for other in others:
        lead.reasons += [r for r in other.reasons if r not in lead.reasons]
        lead.severity = max(int(lead.severity), int(other.severity))
        del findings[other.kind]
    return {other.kind: lead.kind for other in others}


def alert_findings(*, forecast: PumpForecast, pump: Pump, now: dt.datetime) -> Evaluation:
    """Which alert rules hold for this pump at `now`, and when the next one can switch on."""
    result = Evaluation()
    ctx = RuleContext(forecast=forecast, pump=pump, now=now, thresholds=result.thresholds)
    if pump.status != PumpStatus.ACTIVE or not ctx.patient.is_active:
        return result
    for rule in ALERT_RULES:
        hit = rule.holds(ctx)
        if hit is not None:
            result.findings[rule.kind] = Finding(rule.kind, hit.severity, hit.reasons, hit.occasion)
    result.merged = _merge_refill_supply(result.findings)
    return result
