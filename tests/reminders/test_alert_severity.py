"""An alert's severity is a withdrawal-risk tier: same values, the tier's words."""

from dashboard.templatetags.pumptrack_tags import tier_class, tier_label
from refills.risk import Tier
from reminders.models import Alert, AlertSeverity


def test_every_severity_is_the_tier_of_the_same_value_and_word():
    assert [(s.value, s.name, s.label) for s in AlertSeverity] == [
        (t.value, t.name, t.label) for t in Tier
    ]


def test_the_field_offers_the_severities_and_labels_them():
    field = Alert._meta.get_field("severity")
    assert field.choices == AlertSeverity.choices
    assert Alert(severity=AlertSeverity.HIGH).severity_label == "High"
    assert Alert(severity=AlertSeverity.HIGH).get_severity_display() == "High"


def test_the_tier_filters_read_the_choices():
    assert [tier_label(t) for t in Tier] == ["Low", "Moderate", "High", "Critical"]
    assert tier_label("x") == "Unknown"
    assert tier_class(Tier.CRITICAL) == "text-bg-danger"
    assert tier_class(0) == "text-bg-secondary"
