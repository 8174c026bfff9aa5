"""Read the clinic policy settings into the pure modules' parameter objects."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from refills.risk import RiskPolicy


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
