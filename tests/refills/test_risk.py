"""Withdrawal-risk tier rules (domain.md §8)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refills.forecast import RefillByReason
from refills.risk import (
    Assessment,
    ReasonCode,
    RiskInputs,
    RiskPolicy,
    Tier,
    assess,
    assess_at,
)

NEW_YORK = ZoneInfo("America/New_York")
# Sunday 22 Nov 2026, 10:00 in the clinic.
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=NEW_YORK)
TODAY = NOW.date()


def at_day(days: int, hour: int = 10) -> datetime:
    return datetime.combine(TODAY + timedelta(days=days), time(hour), tzinfo=NEW_YORK)


def make_inputs(**overrides: object) -> RiskInputs:
    """A LOW patient: alarm in 60 days, refill booked 20 days before it."""
    alarm_at = overrides.pop("conservative_alarm_at", at_day(60, 15))
    values: dict[str, object] = {
        "now": NOW,
        "today": TODAY,
        "clinic_tz": NEW_YORK,
        "conservative_alarm_at": alarm_at,
        "empty_at": None if alarm_at is None else alarm_at + timedelta(days=9),
        "refill_by": None if alarm_at is None else alarm_at.date() - timedelta(days=3),
        "refill_by_reason": RefillByReason.ALARM_MARGIN,
        "next_refill_appointment_at": at_day(40),
    }
    values.update(overrides)
    return RiskInputs(**values)  # type: ignore[arg-type]


def codes_at_tier(assessment: Assessment) -> list[str]:
    return [reason.code for reason in assessment.reasons if reason.tier == assessment.tier]


def outcome(assessment: Assessment) -> tuple[Tier, frozenset[str]]:
    return assessment.tier, frozenset(assessment.codes)


# --- LOW -----------------------------------------------------------------------------


def test_booked_with_margin_is_low_and_says_why() -> None:
    now = datetime(2026, 11, 2, 9, 0, tzinfo=NEW_YORK)
    inputs = make_inputs(
        now=now,
        today=now.date(),
        conservative_alarm_at=datetime(2026, 12, 1, 15, 0, tzinfo=NEW_YORK),
        next_refill_appointment_at=datetime(2026, 11, 19, 10, 0, tzinfo=NEW_YORK),
    )

    result = assess(inputs)

    assert result.tier == Tier.LOW
    assert result.codes == (ReasonCode.BOOKED_WITH_MARGIN,)
    assert result.reasons[0].text == (
        "Refill booked for Thu 19 Nov, 12 days before the conservative alarm date (Tue 1 Dec)"
    )


def test_unbooked_with_a_distant_alarm_is_low_not_yet_due() -> None:
    result = assess(make_inputs(next_refill_appointment_at=None))

    assert result.tier == Tier.LOW
    assert result.codes == (ReasonCode.NOT_YET_DUE,)
    assert "No refill booked yet" in result.reasons[0].text
    assert "60 days away" in result.reasons[0].text


# --- each rule in isolation -----------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "tier", "code"),
    [
        pytest.param(
            {"critical_alarm_reported": True}, Tier.CRITICAL, ReasonCode.CRITICAL_ALARM, id="crit"
        ),
        pytest.param({"symptoms_reported": True}, Tier.CRITICAL, ReasonCode.SYMPTOMS, id="sympt"),
        pytest.param(
            {
                "conservative_alarm_at": NOW - timedelta(hours=1),
                "empty_at": at_day(10),
                "refill_by": None,
                "next_refill_appointment_at": NOW + timedelta(hours=2),
            },
            Tier.CRITICAL,
            ReasonCode.ALARM_VOLUME_REACHED,
            id="dta-0",
        ),
        pytest.param(
            {
                "conservative_alarm_at": at_day(1),
                "empty_at": at_day(2),
                "refill_by": None,
                "next_refill_appointment_at": NOW + timedelta(hours=2),
            },
            Tier.CRITICAL,
            ReasonCode.EMPTY_SOON,
            id="empty-3d",
        ),
        pytest.param(
            {"end_of_service_on": TODAY + timedelta(days=30)},
            Tier.CRITICAL,
            ReasonCode.END_OF_SERVICE_SOON,
            id="eos-30d",
        ),
        pytest.param(
            {"next_refill_appointment_at": None, "conservative_alarm_at": at_day(9, 15)},
            Tier.HIGH,
            ReasonCode.UNBOOKED_ALARM_SOON,
            id="unbooked-14",
        ),
        pytest.param(
            {"missed_appointment": True}, Tier.HIGH, ReasonCode.MISSED_APPOINTMENT, id="missed"
        ),
        pytest.param(
            {"next_refill_appointment_at": at_day(-1)},
            Tier.HIGH,
            ReasonCode.APPOINTMENT_PASSED,
            id="passed",
        ),
        pytest.param(
            {
                "next_refill_appointment_at": None,
                "conservative_alarm_at": at_day(18),
                "label_risk_factors": ("Spinal cord injury at T6 or above",),
            },
            Tier.HIGH,
            ReasonCode.RISK_FACTOR_UNBOOKED,
            id="label-rf-21",
        ),
        pytest.param(
            {"last_discrepancy_flagged": True, "last_discrepancy_ml": Decimal("2.5")},
            Tier.HIGH,
            ReasonCode.DISCREPANCY,
            id="discrepancy",
        ),
        pytest.param(
            {"noncritical_alarm_reported": True},
            Tier.HIGH,
            ReasonCode.NONCRITICAL_ALARM,
            id="noncrit",
        ),
        pytest.param({"eri_reached": True}, Tier.HIGH, ReasonCode.ERI_NO_REPLACEMENT, id="eri"),
        pytest.param(
            {"next_refill_appointment_at": at_day(58), "refill_by": TODAY + timedelta(days=60)},
            Tier.MODERATE,
            ReasonCode.APPOINTMENT_INSIDE_MARGIN,
            id="inside-margin",
        ),
        pytest.param(
            {"refill_by": TODAY + timedelta(days=30)},
            Tier.MODERATE,
            ReasonCode.APPOINTMENT_AFTER_REFILL_BY,
            id="after-refill-by",
        ),
        pytest.param(
            {
                "refill_by": TODAY + timedelta(days=50),
                "refill_by_reason": RefillByReason.DRUG_STABILITY,
            },
            Tier.MODERATE,
            ReasonCode.STABILITY_LIMIT,
            id="stability",
        ),
        pytest.param(
            {
                "refill_by": TODAY + timedelta(days=50),
                "refill_by_reason": RefillByReason.PLANNED_REPLACEMENT,
                "replacement_dates": (TODAY + timedelta(days=50),),
            },
            Tier.MODERATE,
            ReasonCode.REPLACEMENT_LIMIT,
            id="replacement",
        ),
        pytest.param(
            {"other_risk_factors": ("Cognitive impairment", "Hearing impairment")},
            Tier.MODERATE,
            ReasonCode.OTHER_RISK_FACTORS,
            id="two-other-rf",
        ),
        pytest.param(
            {"next_refill_appointment_at": None, "conservative_alarm_at": at_day(18)},
            Tier.MODERATE,
            ReasonCode.UNBOOKED_ALARM_APPROACHING,
            id="unbooked-21",
        ),
    ],
)
def test_each_rule_alone_sets_its_tier_and_reason(
    overrides: dict[str, object], tier: Tier, code: ReasonCode
) -> None:
    result = assess(make_inputs(**overrides))

    assert result.tier == tier
    assert codes_at_tier(result) == [code]
    assert all(reason.text for reason in result.reasons)


def test_unbooked_reason_names_the_alarm_date_in_plain_words() -> None:
    result = assess(
        make_inputs(next_refill_appointment_at=None, conservative_alarm_at=at_day(9, 15))
    )

    assert result.reasons[0].text == (
        "No refill booked and the conservative alarm date is 9 days away (Tue 1 Dec)"
    )


def test_appointment_after_the_refill_by_date_does_not_count_as_booked_when_alarm_is_near() -> None:
    alarm_at = at_day(10, 15)
    result = assess(
        make_inputs(
            conservative_alarm_at=alarm_at,
            refill_by=alarm_at.date() - timedelta(days=3),
            next_refill_appointment_at=at_day(9),
        )
    )

    assert result.tier == Tier.HIGH
    assert ReasonCode.UNBOOKED_ALARM_SOON in result.codes
    assert ReasonCode.APPOINTMENT_AFTER_REFILL_BY in result.codes
    assert result.reasons[0].text.startswith("The booked refill (Tue 1 Dec) is after the refill-by")


def test_risk_factors_widen_the_appointment_margin_to_7_days() -> None:
    five_days_before = make_inputs(next_refill_appointment_at=at_day(55))

    plain = assess(five_days_before)
    with_transport = assess(replace(five_days_before, transport_barrier=True))

    assert plain.tier == Tier.LOW
    assert with_transport.tier == Tier.MODERATE
    assert with_transport.codes == (ReasonCode.APPOINTMENT_INSIDE_MARGIN,)
    assert "at least 7 days" in with_transport.reasons[0].text


def test_one_other_risk_factor_is_not_enough_for_moderate() -> None:
    result = assess(make_inputs(other_risk_factors=("Cognitive impairment",)))

    assert result.tier == Tier.LOW


def test_discrepancy_with_symptoms_needs_more_than_2_ml_left_over() -> None:
    with_both = assess(make_inputs(symptoms_reported=True, last_discrepancy_ml=Decimal("2.5")))
    small = assess(make_inputs(symptoms_reported=True, last_discrepancy_ml=Decimal("1.5")))
    over_delivery = assess(make_inputs(symptoms_reported=True, last_discrepancy_ml=Decimal(-3)))
    no_symptoms = assess(make_inputs(last_discrepancy_ml=Decimal("2.5")))

    assert codes_at_tier(with_both) == [ReasonCode.SYMPTOMS, ReasonCode.DISCREPANCY_WITH_SYMPTOMS]
    assert ReasonCode.DISCREPANCY_WITH_SYMPTOMS not in small.codes
    assert ReasonCode.DISCREPANCY_WITH_SYMPTOMS not in over_delivery.codes
    assert no_symptoms.tier == Tier.LOW


def test_end_of_service_before_the_alarm_is_moderate_and_prompts_a_replacement() -> None:
    result = assess(make_inputs(end_of_service_on=TODAY + timedelta(days=50)))

    assert result.tier == Tier.MODERATE
    assert codes_at_tier(result) == [
        ReasonCode.END_OF_SERVICE_BEFORE_ALARM,
        ReasonCode.END_OF_SERVICE_APPROACHING,
    ]


def test_end_of_service_31_days_away_is_not_critical() -> None:
    result = assess(make_inputs(end_of_service_on=TODAY + timedelta(days=31)))

    assert ReasonCode.END_OF_SERVICE_SOON not in result.codes


def test_planned_replacement_silences_end_of_service_and_eri_rules() -> None:
    result = assess(
        make_inputs(
            end_of_service_on=TODAY + timedelta(days=20),
            eri_reached=True,
            replacement_dates=(TODAY + timedelta(days=10),),
        )
    )

    assert ReasonCode.END_OF_SERVICE_SOON not in result.codes
    assert ReasonCode.ERI_NO_REPLACEMENT not in result.codes
    # Only 10 days before end of service: a warning, not silence (domain §7.1 #9).
    assert ReasonCode.REPLACEMENT_LATE in result.codes


def test_stopped_pump_without_alarm_date_is_bounded_by_stability() -> None:
    result = assess(
        make_inputs(
            conservative_alarm_at=None,
            refill_by=TODAY + timedelta(days=100),
            refill_by_reason=RefillByReason.DRUG_STABILITY,
            next_refill_appointment_at=None,
        )
    )

    assert result.tier == Tier.MODERATE
    assert result.codes == (ReasonCode.STABILITY_LIMIT,)


# --- precedence ----------------------------------------------------------------------


def test_highest_tier_wins_and_every_triggered_rule_is_listed() -> None:
    result = assess(
        make_inputs(
            symptoms_reported=True,
            missed_appointment=True,
            other_risk_factors=("Cognitive impairment", "Caregiver-managed"),
        )
    )

    assert result.tier == Tier.CRITICAL
    assert result.codes == (
        ReasonCode.SYMPTOMS,
        ReasonCode.MISSED_APPOINTMENT,
        ReasonCode.OTHER_RISK_FACTORS,
    )
    assert [reason.tier for reason in result.reasons] == [Tier.CRITICAL, Tier.HIGH, Tier.MODERATE]


def test_high_beats_moderate() -> None:
    result = assess(
        make_inputs(
            noncritical_alarm_reported=True,
            other_risk_factors=("Cognitive impairment", "Caregiver-managed"),
        )
    )

    assert result.tier == Tier.HIGH
    assert result.codes == (ReasonCode.NONCRITICAL_ALARM, ReasonCode.OTHER_RISK_FACTORS)


def test_low_reason_is_not_given_when_another_rule_fired() -> None:
    result = assess(make_inputs(eri_reached=True))

    assert ReasonCode.BOOKED_WITH_MARGIN not in result.codes


# --- oral bridge ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"symptoms_reported": True},
        {"missed_appointment": True},
        {"next_refill_appointment_at": None, "conservative_alarm_at": at_day(18)},
    ],
    ids=["low", "critical", "high", "moderate"],
)
def test_oral_bridge_never_lowers_the_tier(overrides: dict[str, object]) -> None:
    without = make_inputs(**overrides)

    assert assess(replace(without, oral_bridge=True)) == assess(without)


# --- reassess_at ---------------------------------------------------------------------


def test_reassess_at_follows_an_unbooked_patient_up_the_tiers() -> None:
    alarm_at = at_day(30, 15)
    inputs = make_inputs(
        conservative_alarm_at=alarm_at,
        empty_at=alarm_at + timedelta(days=9),
        next_refill_appointment_at=None,
    )
    alarm_utc = alarm_at.astimezone(UTC)

    refill_by = inputs.refill_by
    low = assess(inputs)
    moderate = assess_at(inputs, now=low.reassess_at)
    high = assess_at(inputs, now=moderate.reassess_at)
    overdue = assess_at(inputs, now=high.reassess_at)
    critical = assess_at(inputs, now=overdue.reassess_at)
    empty_soon = assess_at(inputs, now=critical.reassess_at)

    # The work-queue point: the refill-by date 21 days away comes before the alarm 21 days
    # away (the refill-by date is 3 days before the alarm).
    work_queue = datetime.combine(refill_by - timedelta(days=21), time.min, tzinfo=NEW_YORK)
    assert (low.tier, low.reassess_at) == (Tier.LOW, work_queue.astimezone(UTC))
    assert (moderate.tier, moderate.reassess_at) == (Tier.MODERATE, alarm_utc - timedelta(days=14))
    passed = datetime.combine(refill_by + timedelta(days=1), time.min, tzinfo=NEW_YORK)
    assert (high.tier, high.reassess_at) == (Tier.HIGH, passed.astimezone(UTC))
    assert ReasonCode.REFILL_BY_PASSED in overdue.codes
    assert (overdue.tier, overdue.reassess_at) == (Tier.HIGH, alarm_utc)
    assert critical.tier == Tier.CRITICAL
    assert critical.reassess_at == alarm_utc + timedelta(days=6)  # empty - 3 days
    assert ReasonCode.EMPTY_SOON in empty_soon.codes
    assert empty_soon.reassess_at is None


def test_reassess_at_for_a_booked_patient_is_when_the_appointment_day_ends() -> None:
    inputs = make_inputs()

    result = assess(inputs)
    after = assess_at(inputs, now=result.reassess_at)

    assert result.reassess_at == datetime(2027, 1, 2, 0, 0, tzinfo=NEW_YORK).astimezone(UTC)
    assert after.tier == Tier.HIGH
    assert ReasonCode.APPOINTMENT_PASSED in after.codes


def test_reassess_at_for_end_of_service_is_clinic_midnight_30_days_before() -> None:
    inputs = make_inputs(
        conservative_alarm_at=None,
        next_refill_appointment_at=None,
        end_of_service_on=TODAY + timedelta(days=40),
    )

    result = assess(inputs)
    after = assess_at(inputs, now=result.reassess_at)

    assert result.reassess_at == datetime(2026, 12, 2, 0, 0, tzinfo=NEW_YORK).astimezone(UTC)
    assert after.tier == Tier.CRITICAL
    assert after.codes == (ReasonCode.END_OF_SERVICE_SOON,)


def test_reassess_at_is_none_when_time_cannot_change_anything() -> None:
    inputs = make_inputs(conservative_alarm_at=None, next_refill_appointment_at=None)

    assert assess(inputs).reassess_at is None


def test_reassess_at_skips_crossings_that_change_nothing() -> None:
    # Booked in time: DTA crossing 21 and 14 days changes nothing, so the next
    # moment is the end of the appointment day (40 days from now), not alarm - 21 d.
    result = assess(make_inputs(conservative_alarm_at=at_day(45, 15)))

    assert result.tier == Tier.LOW
    assert result.reassess_at == at_day(41, 0).astimezone(UTC)


ZONES = [NEW_YORK, ZoneInfo("Europe/London"), UTC]
OFFSETS = st.one_of(
    st.none(), st.timedeltas(min_value=timedelta(days=-5), max_value=timedelta(days=70))
)


@st.composite
def risk_inputs(draw: st.DrawFn) -> RiskInputs:
    zone = draw(st.sampled_from(ZONES))
    now = draw(
        st.datetimes(
            min_value=datetime(2024, 1, 1),
            max_value=datetime(2027, 1, 1),
            timezones=st.just(zone),
            allow_imaginary=False,
        )
    )
    now_utc = now.astimezone(UTC)
    alarm_offset = draw(OFFSETS)
    alarm_at = None if alarm_offset is None else now_utc + alarm_offset
    empty_at = None
    if alarm_at is not None and draw(st.booleans()):
        empty_at = alarm_at + draw(st.timedeltas(timedelta(0), timedelta(days=15)))
    appointment_offset = draw(OFFSETS)
    today = now.date()
    return RiskInputs(
        now=now,
        today=today,
        clinic_tz=zone,
        conservative_alarm_at=alarm_at,
        empty_at=empty_at,
        refill_by=draw(st.none() | st.dates(today - timedelta(days=5), today + timedelta(70))),
        refill_by_reason=draw(st.sampled_from([*RefillByReason, ""])),
        next_refill_appointment_at=(
            None if appointment_offset is None else now_utc + appointment_offset
        ),
        missed_appointment=draw(st.booleans()),
        last_discrepancy_ml=draw(st.none() | st.decimals(-5, 5, places=1)),
        last_discrepancy_flagged=draw(st.booleans()),
        critical_alarm_reported=draw(st.booleans()),
        noncritical_alarm_reported=draw(st.booleans()),
        symptoms_reported=draw(st.booleans()),
        label_risk_factors=tuple(draw(st.lists(st.sampled_from(["SCI", "Prior"]), unique=True))),
        other_risk_factors=tuple(
            draw(st.lists(st.sampled_from(["Cognitive", "Hearing", "Transport"]), unique=True))
        ),
        transport_barrier=draw(st.booleans()),
        end_of_service_on=draw(st.none() | st.dates(today, today + timedelta(days=90))),
        eri_reached=draw(st.booleans()),
        replacement_dates=tuple(
            draw(st.lists(st.dates(today - timedelta(days=5), today + timedelta(days=120))))
        ),
        oral_bridge=draw(st.booleans()),
    )


@given(inputs=risk_inputs())
def test_oral_bridge_never_changes_the_assessment(inputs: RiskInputs) -> None:
    assert assess(replace(inputs, oral_bridge=True)) == assess(replace(inputs, oral_bridge=False))


@given(inputs=risk_inputs(), fraction=st.floats(min_value=0, max_value=1, exclude_max=True))
def test_reassess_at_is_the_true_next_change(inputs: RiskInputs, fraction: float) -> None:
    result = assess(inputs)
    if result.reassess_at is None:
        return
    now = inputs.now.astimezone(UTC)
    just_before = result.reassess_at - timedelta(microseconds=1)
    # Float scaling can round up onto reassess_at itself; stay strictly before it.
    somewhere_before = min(now + (result.reassess_at - now) * fraction, just_before)

    assert result.reassess_at > now
    assert outcome(assess_at(inputs, now=result.reassess_at)) != outcome(result)
    assert outcome(assess_at(inputs, now=just_before)) == outcome(result)
    assert outcome(assess_at(inputs, now=somewhere_before)) == outcome(result)


# --- policy and inputs ---------------------------------------------------------------


def test_policy_thresholds_are_honoured() -> None:
    inputs = make_inputs(next_refill_appointment_at=None, conservative_alarm_at=at_day(18))

    assert assess(inputs).tier == Tier.MODERATE
    assert assess(inputs, RiskPolicy(unbooked_high_dta_days=20)).tier == Tier.HIGH


def test_policy_gives_the_forecast_margin() -> None:
    policy = RiskPolicy()

    assert policy.margin_days(risk_factors_present=False) == 3
    assert policy.margin_days(risk_factors_present=True) == 7


def test_policy_rejects_negative_thresholds() -> None:
    with pytest.raises(ValueError):
        RiskPolicy(eos_critical_days=-1)


def test_tier_labels_read_as_words() -> None:
    assert [tier.label for tier in Tier] == ["Low", "Moderate", "High", "Critical"]
    assert Tier.CRITICAL > Tier.HIGH > Tier.MODERATE > Tier.LOW


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        RiskInputs(now=datetime(2026, 11, 22, 10, 0), today=date(2026, 11, 22))


def test_risk_factor_lists_become_tuples() -> None:
    inputs = make_inputs(label_risk_factors=["Prior withdrawal"])

    assert inputs.label_risk_factors == ("Prior withdrawal",)
    assert hash(inputs)
