"""refills.models.RiskTier (stored, shown) and refills.risk.Tier (the pure rules) agree."""

from refills.models import PumpForecast, RiskTier
from refills.risk import Tier


def test_risk_tier_choices_have_the_values_and_labels_of_the_pure_tier():
    assert [(int(t), t.label) for t in RiskTier] == [(int(t), t.label) for t in Tier]
    assert [t.name for t in RiskTier] == [t.name for t in Tier]


def test_the_stored_tier_offers_the_risk_tier_choices():
    field = PumpForecast._meta.get_field("risk_tier")
    assert field.choices == RiskTier.choices
    assert field.default == RiskTier.LOW == Tier.LOW
