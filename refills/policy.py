"""Read the clinic policy settings into the pure modules' parameter objects."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from refills.risk import RiskPolicy
from refills.validation import DoseChangeLimits


def policy_value(name: str):
    return settings.PUMPTRACK_POLICY[name]


def flow_accuracy_for(pump_model) -> Decimal:
    """The model's own tolerance when known, otherwise the clinic-wide default."""
    if pump_model.flow_accuracy_tolerance is not None:
        return Decimal(pump_model.flow_accuracy_tolerance)
    return Decimal(policy_value("FLOW_ACCURACY"))


def risk_policy() -> RiskPolicy:
    overrides = settings.PUMPTRACK_POLICY.get("RISK", {})
    return RiskPolicy(**overrides)


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
