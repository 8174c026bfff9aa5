"""Read the clinic policy settings into the pure modules' parameter objects."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from refills.risk import RiskPolicy, replacement_date_warning
from refills.validation import DoseChangeLimits
from refills.validation.findings import fmt


def policy_value(name: str):
    return settings.PUMPTRACK_POLICY[name]


def flow_accuracy_for(pump_model) -> Decimal:
    """The model's own tolerance when known, otherwise the clinic-wide default."""
    if pump_model.flow_accuracy_tolerance is not None:
        return Decimal(pump_model.flow_accuracy_tolerance)
    return Decimal(policy_value("FLOW_ACCURACY"))


# RiskPolicy field <- PUMPTRACK_POLICY key: the one source of each tier and alert threshold.
RISK_POLICY_SETTINGS = {
    "critical_empty_within_days": "CRITICAL_EMPTY_DAYS",
    "unbooked_high_dta_days": "UNBOOKED_HIGH_DTA_DAYS",
    "risk_factor_dta_days": "RISK_FACTOR_DTA_DAYS",
    "unbooked_moderate_dta_days": "WORK_QUEUE_DTA_DAYS",
    "appointment_margin_days": "MARGIN_DAYS",
    "appointment_margin_risk_days": "MARGIN_DAYS_AT_RISK",
    "discrepancy_abs_ml": "DISCREPANCY_ML",
    "discrepancy_rel": "DISCREPANCY_RELATIVE",
    "eos_critical_days": "EOS_CRITICAL_DAYS",
    "eos_prompt_days": "EOS_PROMPT_DAYS",
    "replacement_min_days_before_eos": "REPLACEMENT_MIN_DAYS_BEFORE_EOS",
    "moderate_other_factor_count": "MODERATE_OTHER_FACTOR_COUNT",
    "no_fill_critical_days": "NO_FILL_CRITICAL_DAYS",
}


def risk_policy() -> RiskPolicy:
    """The tier's thresholds from PUMPTRACK_POLICY; the staff alerts read the same object."""
    policy = settings.PUMPTRACK_POLICY
    values = {field: policy[key] for field, key in RISK_POLICY_SETTINGS.items() if key in policy}
    return RiskPolicy(**values)


def running_out_alert_days() -> int:
    return int(policy_value("RUNNING_OUT_ALERT_DAYS"))


def work_queue_dta_days() -> int:
    """The work queue's window: a refill-by this many days away with nothing booked."""
    return int(policy_value("WORK_QUEUE_DTA_DAYS"))


def replacement_warning(*, planned_on, end_of_service_on, today) -> str:
    """The pump form's warning for a planned replacement date (domain §7.1 #9); "" if fine."""
    return replacement_date_warning(
        planned_on, end_of_service_on=end_of_service_on, today=today, policy=risk_policy()
    )


def dose_change_limits() -> DoseChangeLimits:
    """The clinic's dose-change limits (domain.md §7.2 #4, #9)."""
    return DoseChangeLimits(
        increase_physician_spinal_pct=Decimal(policy_value("DOSE_INCREASE_PHYSICIAN_PCT_SPINAL")),
        increase_physician_cerebral_pct=Decimal(
            policy_value("DOSE_INCREASE_PHYSICIAN_PCT_CEREBRAL")
        ),
        confirm_pct=Decimal(policy_value("DOSE_CHANGE_CONFIRM_PCT")),
        decrease_physician_pct=Decimal(policy_value("DOSE_DECREASE_PHYSICIAN_PCT")),
    )


# Help texts for the forms: the thresholds as the policy sets them, never as literals.


def discrepancy_threshold_text() -> str:
    """When a residual discrepancy needs an assessment: "2 mL or 15 %" (domain §7.1 #7)."""
    relative_pct = Decimal(policy_value("DISCREPANCY_RELATIVE")) * 100
    return f"{fmt(policy_value('DISCREPANCY_ML'))} mL or {fmt(relative_pct)} %"


def discrepancy_help_text() -> str:
    """The refill form's help text for the discrepancy assessment."""
    return f"Needed when the residual is off by > {discrepancy_threshold_text()}."


def discrepancy_trend_text() -> str:
    """What makes a trend: "two refills in a row off the same way by more than 1 mL"."""
    return (
        "two refills in a row off the same way by more than "
        f"{fmt(policy_value('DISCREPANCY_TREND_ML'))} mL"
    )
