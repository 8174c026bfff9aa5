"""Dose decreases (issue 8 #8, domain.md §7.2 #9).

A fall of more than 50 % needs a physician's override, like a large increase; a fall
of 20 to 50 % stays a warning with a reason. Property: the level a change needs
(none < reason < physician) never goes down as the change grows, in either direction.
"""

from decimal import Decimal as D

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refills import services
from refills import validation as v
from refills.models import Override
from refills.services import ClinicalValidationError
from tests.conftest import program_input

LEVEL = {None: 0, v.Severity.WARNING: 1, v.Severity.PHYSICIAN: 2, v.Severity.ERROR: 3}
CHANGE_CODES = {
    "dose_increase_over_limit",
    "dose_change_confirm",
    "dose_decrease_large",
    "dose_decrease_over_limit",
}


def level(old: D, new: D, origin: str) -> int:
    findings = v.check_dose_change(
        old_mcg=old, new_mcg=new, origin=origin, pediatric=False, hours_since_last_change=None
    )
    assert {f.code for f in findings} <= CHANGE_CODES
    return max((LEVEL[f.severity] for f in findings), default=0)


doses = st.decimals(min_value=D("1"), max_value=D("3000"), places=1)
fractions = st.decimals(min_value=D("0"), max_value=D("1"), places=3)


@given(old=doses, a=fractions, b=fractions, origin=st.sampled_from(["spinal", "cerebral"]))
def test_a_bigger_fall_never_needs_less(old, a, b, origin):
    small, large = sorted((a, b))
    # new = old × (1 − fraction): a larger fraction is a larger fall.
    assert level(old, old * (1 - small), origin) <= level(old, old * (1 - large), origin)


@given(
    old=doses,
    a=st.decimals(min_value=D("0"), max_value=D("30"), places=3),
    b=st.decimals(min_value=D("0"), max_value=D("30"), places=3),
    origin=st.sampled_from(["spinal", "cerebral"]),
)
def test_a_bigger_rise_never_needs_less(old, a, b, origin):
    small, large = sorted((a, b))
    assert level(old, old * (1 + small), origin) <= level(old, old * (1 + large), origin)


@given(old=doses, fraction=fractions, origin=st.sampled_from(["spinal", "cerebral"]))
def test_the_level_matches_the_size_of_the_fall(old, fraction, origin):
    new = old * (1 - fraction)
    fall_pct = (old - new) / old * 100
    expected = 2 if fall_pct > 50 else 1 if fall_pct > 20 else 0
    assert level(old, new, origin) == expected


def test_a_tenfold_slip_down_needs_a_physician():
    # 400 mcg/day entered as 40 (a slipped decimal point), or an hourly rate for a daily dose.
    for new in (D("40"), D("400") / 24):
        (finding,) = v.check_dose_change(
            old_mcg=D("400"),
            new_mcg=new,
            origin="spinal",
            pediatric=False,
            hours_since_last_change=None,
        )
        assert finding.code == "dose_decrease_over_limit"
        assert finding.severity == v.Severity.PHYSICIAN


def test_the_decrease_limit_is_a_policy_setting():
    from django.conf import settings as dj

    from refills.policy import dose_change_limits

    policy = {**dj.PUMPTRACK_POLICY, "DOSE_DECREASE_PHYSICIAN_PCT": D("30")}
    with override_settings(PUMPTRACK_POLICY=policy):
        limits = dose_change_limits()
    assert limits.decrease_physician_pct == D("30")
    (finding,) = v.check_dose_change(
        old_mcg=D("400"),
        new_mcg=D("260"),  # −35 %
        origin="spinal",
        pediatric=False,
        hours_since_last_change=None,
        limits=limits,
    )
    assert finding.code == "dose_decrease_over_limit"


# --------------------------------------------------------------------------- through the service


def test_a_nurse_cannot_save_a_fall_over_half_even_with_a_reason(filled_pump, nurse):
    with pytest.raises(ClinicalValidationError) as caught:
        services.drug_program_change(
            pump=filled_pump,
            by=nurse,
            program=program_input(150, 2000),  # 400 → 150: −62.5 %
            reason="Drowsy",
            override_reason="Patient drowsy",
        )
    (finding,) = caught.value.findings
    assert finding.code == "dose_decrease_over_limit"
    assert "Only a physician can override this." in finding.message
    assert filled_pump.programs.count() == 1  # nothing saved


def test_a_physician_can_confirm_a_fall_over_half(filled_pump, physician):
    services.drug_program_change(
        pump=filled_pump,
        by=physician,
        program=program_input(150, 2000),
        reason="Overdose signs",
        override_reason="Drowsy, hypotonic: halve and more",
    )
    override = Override.objects.get()
    assert override.rule == "dose_decrease_over_limit" and override.requires_physician


def test_a_fall_of_a_third_stays_a_nurse_warning(filled_pump, nurse):
    services.drug_program_change(
        pump=filled_pump,
        by=nurse,
        program=program_input(267, 2000),  # −33 %
        reason="Weakness",
        override_reason="Weak legs, physician informed",
    )
    override = Override.objects.get()
    assert override.rule == "dose_decrease_large" and not override.requires_physician


# A refused save writes nothing, so the one filled pump serves every example.
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fraction=st.decimals(min_value=D("0.505"), max_value=D("1"), places=3))
def test_no_fall_over_half_is_saved_by_a_nurse(fraction, filled_pump, nurse):
    new = (D("400") * (1 - fraction)).quantize(D("0.1"))
    with pytest.raises(ClinicalValidationError) as caught:
        services.drug_program_change(
            pump=filled_pump,
            by=nurse,
            program=program_input(new, 2000),
            reason="Change",
            override_reason="Reason",
        )
    assert "dose_decrease_over_limit" in {f.code for f in caught.value.findings}
    assert filled_pump.programs.count() == 1
    assert not Override.objects.exists()
