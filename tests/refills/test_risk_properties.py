"""Invariants of the withdrawal-risk tier (domain.md §8, issue 8), over generated inputs.

Pure: every property runs refills.risk.assess on RiskInputs built by hypothesis,
in several clinic zones, with appointments, reports, discrepancies, ERI, end of
service and planned replacement dates (before, near and after end of service).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from refills.forecast import RefillByReason
from refills.risk import (
    DEFAULT_POLICY,
    ReasonCode,
    RiskInputs,
    RiskPolicy,
    Tier,
    assess,
    assess_at,
    replacement_plan,
)

ZONES = [ZoneInfo("America/New_York"), ZoneInfo("Europe/London"), ZoneInfo("Asia/Kolkata"), UTC]
OFFSETS = st.one_of(
    st.none(), st.timedeltas(min_value=timedelta(days=-10), max_value=timedelta(days=200))
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
    today = now.date()
    alarm_offset = draw(OFFSETS)
    alarm_at = None if alarm_offset is None else now_utc + alarm_offset
    empty_at = conservative_empty_at = None
    if alarm_at is not None and draw(st.booleans()):
        empty_at = alarm_at + draw(st.timedeltas(timedelta(0), timedelta(days=15)))
        if draw(st.booleans()):
            # The fast-pump empty date: after the conservative alarm, never after the
            # nominal empty date.
            conservative_empty_at = alarm_at + (empty_at - alarm_at) * draw(
                st.floats(0, 1, allow_nan=False)
            )
    refill_by = None
    if alarm_at is not None:
        refill_by = alarm_at.astimezone(zone).date() - timedelta(days=draw(st.integers(0, 60)))
    elif draw(st.booleans()):
        refill_by = today + timedelta(days=draw(st.integers(-10, 200)))
    appointment_offset = draw(OFFSETS)
    eos = draw(st.none() | st.dates(today - timedelta(days=5), today + timedelta(days=400)))
    replacement_dates = draw(
        st.lists(st.dates(today - timedelta(days=30), today + timedelta(days=500)), max_size=3)
    )
    return RiskInputs(
        now=now,
        today=today,
        clinic_tz=zone,
        conservative_alarm_at=alarm_at,
        empty_at=empty_at,
        conservative_empty_at=conservative_empty_at,
        refill_by=refill_by,
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
        end_of_service_on=eos,
        eri_reached=draw(st.booleans()),
        eri_on=draw(st.none() | st.dates(today - timedelta(days=30), today + timedelta(days=60))),
        replacement_dates=tuple(replacement_dates),
        oral_bridge=draw(st.booleans()),
        program_stopped=draw(st.booleans()),
    )


def outcome(inputs: RiskInputs, now: datetime | None = None):
    result = assess(inputs) if now is None else assess_at(inputs, now=now)
    return result.tier, frozenset(result.codes)


@given(inputs=risk_inputs(), later=st.timedeltas(timedelta(0), timedelta(days=30)))
def test_the_conservative_empty_date_never_makes_the_tier_calmer_or_later(
    inputs: RiskInputs, later: timedelta
) -> None:
    """The CRITICAL "empty soon" rule fires on the conservative (fast-pump) empty date,
    so no later than it would on the nominal date alone (clinician review, issue 8)."""
    nominal_only = replace(inputs, conservative_empty_at=None)
    for now in (None, inputs.now + later):
        tier, codes = outcome(inputs, now)
        nominal_tier, nominal_codes = outcome(nominal_only, now)
        assert tier >= nominal_tier
        if ReasonCode.EMPTY_SOON in nominal_codes:
            assert ReasonCode.EMPTY_SOON in codes
    if inputs.conservative_empty_at is not None:
        soon = inputs.conservative_empty_at - timedelta(
            days=DEFAULT_POLICY.critical_empty_within_days
        )
        tier, codes = outcome(inputs, max(soon, inputs.now))
        assert tier == Tier.CRITICAL and ReasonCode.EMPTY_SOON in codes


@given(inputs=risk_inputs(), later=st.timedeltas(timedelta(0), timedelta(days=200)))
def test_a_stopped_program_is_never_below_high(inputs: RiskInputs, later: timedelta) -> None:
    """A stopped pump is the abrupt discontinuation of the boxed warning: at least HIGH,
    with its own reason, for as long as the program in effect is stopped."""
    stopped = replace(inputs, program_stopped=True)
    for now in (None, inputs.now + later):
        result = assess(stopped) if now is None else assess_at(stopped, now=now)
        assert result.tier >= Tier.HIGH
        assert ReasonCode.PUMP_STOPPED in result.codes


@given(inputs=risk_inputs())
def test_the_tier_always_has_a_reason_at_its_own_level(inputs: RiskInputs) -> None:
    result = assess(inputs)
    assert result.reasons
    assert all(reason.text.strip() for reason in result.reasons)
    assert max(reason.tier for reason in result.reasons) == result.tier


@given(inputs=risk_inputs())
def test_an_oral_bridge_never_lowers_the_tier(inputs: RiskInputs) -> None:
    without = assess(replace(inputs, oral_bridge=False)).tier
    with_bridge = assess(replace(inputs, oral_bridge=True)).tier
    assert with_bridge >= without


@given(
    inputs=risk_inputs(),
    later=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)),
)
def test_time_passing_without_a_refill_never_lowers_the_tier(
    inputs: RiskInputs, later: timedelta
) -> None:
    assert assess_at(inputs, now=inputs.now + later).tier >= assess(inputs).tier


@given(
    inputs=risk_inputs(),
    fraction=st.floats(min_value=0, max_value=1, exclude_max=True),
    beyond=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=600)),
)
def test_reassess_at_is_never_after_the_first_change(
    inputs: RiskInputs, fraction: float, beyond: timedelta
) -> None:
    result = assess(inputs)
    now = inputs.now.astimezone(UTC)
    if result.reassess_at is None:
        # Nothing time-driven is pending: the answer is the same at any later moment.
        assert outcome(inputs, now + beyond) == outcome(inputs)
        return
    assert result.reassess_at > now
    just_before = result.reassess_at - timedelta(microseconds=1)
    somewhere_before = min(now + (result.reassess_at - now) * fraction, just_before)
    assert outcome(inputs, somewhere_before) == outcome(inputs)
    assert outcome(inputs, just_before) == outcome(inputs)


@given(inputs=risk_inputs(), after=st.lists(st.integers(1, 400), min_size=1, max_size=3))
def test_a_replacement_after_end_of_service_never_lowers_the_tier(
    inputs: RiskInputs, after: list[int]
) -> None:
    eos = inputs.end_of_service_on or inputs.today + timedelta(days=20)
    base = replace(inputs, end_of_service_on=eos, replacement_dates=())
    late = replace(base, replacement_dates=tuple(eos + timedelta(days=d) for d in after))
    assert assess(late).tier >= assess(base).tier
    # And it says why the date does not count (after end of service, or already passed).
    why = {ReasonCode.REPLACEMENT_AFTER_END_OF_SERVICE, ReasonCode.REPLACEMENT_DATE_PASSED}
    assert why & set(assess(late).codes)


@given(inputs=risk_inputs())
def test_without_a_plan_before_end_of_service_the_shut_down_rules_hold(
    inputs: RiskInputs,
) -> None:
    """§8: EOS within 30 days with no replacement booked is CRITICAL; ERI with no
    replacement date is HIGH; only a date from today up to end of service is a plan."""
    result = assess(inputs)
    eos = inputs.end_of_service_on
    plan = replacement_plan(inputs.replacement_dates, end_of_service_on=eos, today=inputs.today)
    if plan.planned_on is not None:
        assert inputs.today <= plan.planned_on
        assert eos is None or plan.planned_on <= eos
        return
    if eos is not None and (eos - inputs.today).days <= 30:
        assert result.tier == Tier.CRITICAL
        assert ReasonCode.END_OF_SERVICE_SOON in result.codes
    eri = inputs.eri_reached or (inputs.eri_on is not None and inputs.eri_on <= inputs.today)
    if eri:
        assert result.tier >= Tier.HIGH


@given(inputs=risk_inputs(), days_before=st.integers(0, 89))
def test_a_replacement_less_than_90_days_before_end_of_service_is_a_warning(
    inputs: RiskInputs, days_before: int
) -> None:
    eos = inputs.today + timedelta(days=days_before + 1)
    planned = replace(
        inputs, end_of_service_on=eos, replacement_dates=(eos - timedelta(days_before),)
    )
    result = assess(planned)
    assert ReasonCode.REPLACEMENT_LATE in result.codes
    assert result.tier >= Tier.MODERATE


@given(inputs=risk_inputs(), shift=st.integers(0, 40))
def test_thresholds_come_from_the_policy(inputs: RiskInputs, shift: int) -> None:
    """A wider work-queue window never lowers the tier (one source per threshold)."""
    wider = RiskPolicy(unbooked_moderate_dta_days=21 + shift)
    assert assess(inputs, wider).tier >= assess(inputs).tier


def test_a_discrepancy_left_to_observe_keeps_the_patient_high() -> None:
    """What _risk_inputs passes for "observe": still flagged, so at least HIGH."""
    now = datetime(2026, 3, 2, 10, tzinfo=ZoneInfo("America/New_York"))
    inputs = RiskInputs(
        now=now,
        today=now.date(),
        conservative_alarm_at=now + timedelta(days=80),
        refill_by=(now + timedelta(days=77)).date(),
        next_refill_appointment_at=now + timedelta(days=60),
        last_discrepancy_ml=Decimal("3.0"),
        last_discrepancy_flagged=True,
    )
    assert assess(inputs).tier >= Tier.HIGH
