"""Design-choice thresholds come from PUMPTRACK_POLICY, and help texts read them there."""

from decimal import Decimal as D

from django.conf import settings as dj
from django.test import override_settings

from refills import validation as v
from refills.policy import discrepancy_help_text, discrepancy_threshold_text, discrepancy_trend_text


def codes(findings):
    return [f.code for f in findings]


def test_help_texts_show_the_default_thresholds():
    assert discrepancy_threshold_text() == "2 mL or 15 %"
    assert discrepancy_help_text() == "Needed when the residual is off by > 2 mL or 15 %."
    assert discrepancy_trend_text().endswith("by more than 1 mL")


def test_help_texts_follow_the_policy():
    policy = {
        **dj.PUMPTRACK_POLICY,
        "DISCREPANCY_ML": D("3"),
        "DISCREPANCY_RELATIVE": D("0.2"),
        "DISCREPANCY_TREND_ML": D("1.5"),
    }
    with override_settings(PUMPTRACK_POLICY=policy):
        assert discrepancy_threshold_text() == "3 mL or 20 %"
        assert discrepancy_trend_text().endswith("by more than 1.5 mL")


def test_the_policy_keeps_the_former_literals():
    assert dj.PUMPTRACK_POLICY["FILL_TOLERANCE_ML"] == v.FILL_TOLERANCE_ML == D("0.5")
    assert dj.PUMPTRACK_POLICY["BOLUS_SHARE_WARNING"] == v.BOLUS_SHARE_WARNING == D("0.5")


def _volumes(resulting, tolerance):
    return v.check_refill_volumes(
        capacity_ml=D("20"),
        actual_residual_ml=D("2"),
        residual_left_ml=D("0"),
        volume_added_ml=D("18"),
        resulting_volume_ml=D(resulting),
        fill_tolerance_ml=D(tolerance),
    )


def test_fill_tolerance_is_a_parameter():
    assert codes(_volumes("18.8", "0.5")) == ["resulting_mismatch"]
    assert codes(_volumes("18.8", "1")) == []
    assert "±1 mL" in _volumes("19.2", "1")[0].message


def test_bolus_share_is_a_parameter():
    def share(limit):
        return v.check_boluses(
            bolus_mcg=D("40"), per_day=2, basal_daily_mcg=D("100"), max_share_of_basal=D(limit)
        )

    assert codes(share("0.5")) == ["bolus_share"]
    assert "more than half of the basal" in share("0.5")[0].message
    assert codes(share("0.8")) == []
    assert "more than 60 % of the basal" in share("0.6")[0].message
