"""What is open for a patient: everything that keeps the risk tier up, and every open
alert, each with the action that closes it (issue 12 #6).

The tier is the highest tier among the stored forecast's reasons (refills.risk), so the
list is built from those reasons, grouped by the problem they describe and the action
that ends it, with the patient's open alerts and pump reports attached to their problem.
Alerts that no tier reason explains (a possible pocket fill, a reminder that could not be
delivered) are items of their own. `build_open_items` is pure: the page and the
hypothesis invariant (tests/invariants) call it with rows already read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from patients.models import Patient, Pump
from refills.models import PumpForecast, PumpReport, RiskTier
from refills.risk import ReasonCode
from reminders.models import AUTO_RESOLVING_KINDS, Alert, AlertKind, AlertState


@dataclass(frozen=True)
class Action:
    label: str
    url_name: str
    arg: int
    # The permission (accounts.access.PERMISSIONS) the link needs; the page hides the rest.
    permission: str


@dataclass
class OpenItem:
    key: str
    title: str
    # What makes this item go away, in words.
    closes_when: str
    tier: int = RiskTier.LOW
    reasons: list[str] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    reports: list[PumpReport] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)

    @property
    def alert_rows(self) -> list[tuple[Alert, bool]]:
        """Each open alert, and whether it clears by itself when its condition does."""
        return [(alert, alert.kind in AUTO_RESOLVING_KINDS) for alert in self.alerts]

    @property
    def holds_tier(self) -> bool:
        """True when a tier reason (not only an alert) is behind this item."""
        return bool(self.reasons)


@dataclass(frozen=True)
class _Problem:
    key: str
    title: str
    closes_when: str
    codes: frozenset[str]
    alert_kinds: frozenset[str]


_R = ReasonCode
PROBLEMS: tuple[_Problem, ...] = (
    _Problem(
        "report",
        "Open pump report",
        "Closes when the report is resolved, after the pump has been checked.",
        frozenset(
            {_R.CRITICAL_ALARM, _R.SYMPTOMS, _R.NONCRITICAL_ALARM, _R.DISCREPANCY_WITH_SYMPTOMS}
        ),
        frozenset({AlertKind.REPORTED_PROBLEM}),
    ),
    _Problem(
        "no-fill",
        "No fill recorded",
        "Closes when the implant fill or the last refill is recorded: until then the "
        "reservoir level is unknown.",
        frozenset({_R.NO_FILL}),
        frozenset(),
    ),
    _Problem(
        "refill",
        "Refill not secured",
        "Closes when a refill is booked before the refill-by date and the conservative "
        "alarm, or recorded.",
        frozenset(
            {
                _R.ALARM_VOLUME_REACHED,
                _R.EMPTY_SOON,
                _R.REFILL_BY_PASSED,
                _R.UNBOOKED_ALARM_SOON,
                _R.MISSED_APPOINTMENT,
                _R.APPOINTMENT_PASSED,
                _R.RISK_FACTOR_UNBOOKED,
                _R.APPOINTMENT_INSIDE_MARGIN,
                _R.APPOINTMENT_AFTER_REFILL_BY,
                _R.APPOINTMENT_ON_CLOSED_DAY,
                _R.STABILITY_LIMIT,
                _R.UNBOOKED_ALARM_APPROACHING,
            }
        ),
        frozenset({AlertKind.RUNNING_OUT, AlertKind.MISSED_APPOINTMENT, AlertKind.UNBOOKED_REFILL}),
    ),
    _Problem(
        "discrepancy",
        "Volume discrepancy not explained",
        "Closes when a refill explains it with evidence (the residual measured again, or "
        "the work-up's finding) or reconciles within tolerance; a person resolves the alert.",
        frozenset({_R.DISCREPANCY}),
        frozenset({AlertKind.DISCREPANCY}),
    ),
    _Problem(
        "program",
        "Pump stopped",
        "Closes when a program that delivers baclofen is in effect.",
        frozenset({_R.PUMP_STOPPED}),
        frozenset(),
    ),
    _Problem(
        "device",
        "Pump end of service",
        "Closes when a replacement is planned at least 90 days before end of service, or "
        "the pump is replaced.",
        frozenset(
            {
                _R.END_OF_SERVICE_SOON,
                _R.ERI_NO_REPLACEMENT,
                _R.REPLACEMENT_LIMIT,
                _R.END_OF_SERVICE_BEFORE_ALARM,
                _R.END_OF_SERVICE_APPROACHING,
                _R.REPLACEMENT_LATE,
                _R.REPLACEMENT_AFTER_END_OF_SERVICE,
                _R.REPLACEMENT_DATE_PASSED,
            }
        ),
        frozenset({AlertKind.DEVICE_END_OF_SERVICE}),
    ),
    _Problem(
        "risk-factors",
        "Risk factors on record",
        "Stays while the risk factors are recorded: they widen the margins, nothing to close.",
        frozenset({_R.OTHER_RISK_FACTORS}),
        frozenset(),
    ),
)
# Alerts of these kinds are their own problem: no tier reason stands behind them.
_ALERT_ONLY = {
    AlertKind.POCKET_FILL: (
        "Possible pocket fill",
        "A person resolves the alert once the patient has been checked.",
    ),
    AlertKind.DELIVERY_FAILED: (
        "A reminder could not be delivered",
        "A person resolves the alert once the patient or caregiver has been reached.",
    ),
}


def _actions(key: str, patient: Patient, pump: Pump | None, reports) -> list[Action]:
    if key == "report":
        return [
            Action(
                f"Resolve: {r.get_kind_display()}",
                "dashboard:report_resolve",
                r.pk,
                "record_report",
            )
            for r in reports
        ]
    if key == "no-fill":
        return [Action("Record the refill", "dashboard:refill_create", patient.pk, "record_refill")]
    if key in ("refill", "discrepancy"):
        return [
            Action(
                "Book a refill", "dashboard:appointment_create", patient.pk, "manage_appointments"
            ),
            Action("Record a refill", "dashboard:refill_create", patient.pk, "record_refill"),
        ]
    if key == "program":
        return [
            Action("Change the program", "dashboard:program_change", patient.pk, "change_program")
        ]
    if key == "device" and pump is not None:
        return [
            Action("Plan the replacement", "dashboard:pump_edit", pump.pk, "manage_pump"),
            Action(
                "Record the replacement pump", "dashboard:pump_replace", patient.pk, "manage_pump"
            ),
        ]
    if key == "risk-factors":
        return [
            Action("Review the risk factors", "dashboard:patient_edit", patient.pk, "edit_patient")
        ]
    return []


def build_open_items(
    *,
    patient: Patient,
    pump: Pump | None,
    forecast: PumpForecast | None,
    alerts: Iterable[Alert],
    open_reports: Sequence[PumpReport],
) -> list[OpenItem]:
    """The open items, most severe first (pure: the rows are passed in)."""
    reasons = list(forecast.risk_reasons or []) if forecast is not None else []
    open_alerts = [a for a in alerts if a.state != AlertState.RESOLVED]
    items: list[OpenItem] = []
    for problem in PROBLEMS:
        mine = [r for r in reasons if r["code"] in problem.codes and int(r["tier"]) > 0]
        attached = [a for a in open_alerts if a.kind in problem.alert_kinds]
        reports = list(open_reports) if problem.key == "report" else []
        if not (mine or attached or reports):
            continue
        item = OpenItem(problem.key, problem.title, problem.closes_when)
        item.reasons = _distinct([r["text"] for r in mine])
        item.alerts, item.reports = attached, reports
        tiers = [int(r["tier"]) for r in mine] or [a.severity for a in attached]
        item.tier = max(tiers, default=RiskTier.LOW)
        item.actions = _actions(problem.key, patient, pump, reports)
        items.append(item)
    for alert in open_alerts:
        if alert.kind in _ALERT_ONLY:
            title, closes = _ALERT_ONLY[alert.kind]
            items.append(
                OpenItem(f"alert-{alert.pk}", title, closes, alert.severity, alerts=[alert])
            )
    return sorted(items, key=lambda item: (-item.tier, not item.holds_tier))


def _distinct(texts: list[str]) -> list[str]:
    seen: list[str] = []
    for text in texts:
        if text not in seen:
            seen.append(text)
    return seen


def tier_holders(items: Sequence[OpenItem], tier: int) -> list[OpenItem]:
    """The items that hold the patient at `tier` (a tier reason at that tier)."""
    return [item for item in items if item.holds_tier and item.tier >= tier]


def open_items_for(patient: Patient) -> tuple[PumpForecast | None, list[OpenItem]]:
    """The patient's stored forecast and open items, read (4 queries)."""
    pump = Pump.objects.filter(patient=patient, status="active").select_related("forecast").first()
    forecast = getattr(pump, "forecast", None) if pump is not None else None
    alerts = Alert.objects.filter(patient=patient).exclude(state=AlertState.RESOLVED)
    reports = PumpReport.objects.filter(pump__patient=patient, resolved_at__isnull=True)
    items = build_open_items(
        patient=patient,
        pump=pump,
        forecast=forecast,
        alerts=list(alerts),
        open_reports=list(reports.order_by("-reported_at")),
    )
    return forecast, items


def why_tier_stays(patient: Patient) -> str:
    """After closing one item: why the patient is still at their tier, or "" when LOW."""
    forecast, items = open_items_for(patient)
    if forecast is None or int(forecast.risk_tier) <= RiskTier.LOW:
        return ""
    tier = int(forecast.risk_tier)
    holders = tier_holders(items, tier)
    what = "; ".join(
        f"{item.title.lower()} ({item.reasons[0]})" if item.reasons else item.title.lower()
        for item in holders
    )
    return (
        f"{patient.given_name} {patient.family_name} stays {RiskTier(tier).label.upper()}: "
        f"{what or 'see the open items'}. The patient page lists what is still open and "
        "what closes each."
    )
