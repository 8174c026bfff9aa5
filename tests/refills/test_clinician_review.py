"""A clinician's review (issue 8): the conservative empty date drives the tier, and a
stopped pump is a tier reason of its own. Every person here is invented."""

import datetime as dt
from decimal import Decimal

import time_machine
from django.utils import timezone

from refills import services
from refills.models import DosingMode, PumpForecast
from refills.risk import ReasonCode, Tier
from tests.conftest import program_input, refill_input


def _codes(forecast: PumpForecast) -> set[str]:
    return {reason["code"] for reason in forecast.risk_reasons}


def test_the_conservative_empty_date_is_stored_and_never_after_the_nominal_one(filled_pump):
    forecast = PumpForecast.objects.get(pump=filled_pump)
    assert forecast.conservative_empty_at is not None
    assert forecast.conservative_alarm_at <= forecast.conservative_empty_at
    # 20 mL at 0.2 mL/day: 100 days nominal, 100 / 1.15 = 87 days if the pump runs fast.
    gap = forecast.empty_at - forecast.conservative_empty_at
    assert dt.timedelta(days=12) < gap < dt.timedelta(days=14)


def test_the_empty_soon_rule_fires_on_the_conservative_empty_date(filled_pump):
    """Regression: two days before the conservative empty date the nominal one is still
    15 days away, and the base did not say the reservoir may soon be empty."""
    forecast = PumpForecast.objects.get(pump=filled_pump)
    at = forecast.conservative_empty_at - dt.timedelta(days=2)
    assert forecast.empty_at - at > dt.timedelta(days=3)
    with time_machine.travel(at, tick=False):
        stored = services.forecast_refresh(pump=filled_pump)
    assert stored.risk_tier == Tier.CRITICAL
    assert ReasonCode.EMPTY_SOON in _codes(stored)


def _stop(pump, physician, *, at=None):
    return services.drug_program_change(
        pump=pump,
        by=physician,
        program=program_input(0, 2000, mode=DosingMode.STOPPED),
        reason="Stopped for surgery",
        effective_from=at,
        override_reason="Physician: stopped on purpose",
    )


def test_a_stopped_pump_is_high_with_its_own_reason(filled_pump, physician):
    """Regression: the base left a stopped pump MODERATE or LOW and never said why."""
    _stop(filled_pump, physician)
    stored = PumpForecast.objects.get(pump=filled_pump)
    assert stored.risk_tier >= Tier.HIGH
    reasons = {r["code"]: r for r in stored.risk_reasons}
    assert reasons[ReasonCode.PUMP_STOPPED]["text"] == (
        "The pump is stopped: no baclofen is being delivered"
    )
    assert reasons[ReasonCode.PUMP_STOPPED]["tier"] == Tier.HIGH


def test_a_restarted_pump_loses_the_stopped_reason(filled_pump, physician):
    _stop(filled_pump, physician, at=timezone.now() - dt.timedelta(hours=2))
    services.drug_program_change(
        pump=filled_pump,
        by=physician,
        program=program_input(400, 2000),
        reason="Restarted",
        override_reason="Physician: restarted",
    )
    stored = PumpForecast.objects.get(pump=filled_pump)
    assert ReasonCode.PUMP_STOPPED not in _codes(stored)


def test_a_stop_planned_for_later_is_reassessed_when_it_starts(filled_pump, physician):
    later = timezone.now() + dt.timedelta(days=2)
    _stop(filled_pump, physician, at=later)
    stored = PumpForecast.objects.get(pump=filled_pump)
    assert ReasonCode.PUMP_STOPPED not in _codes(stored)
    assert stored.reassess_at is not None and stored.reassess_at <= later
    with time_machine.travel(later, tick=False):
        services.forecast_reassess_due(now=later)
    stored.refresh_from_db()
    assert ReasonCode.PUMP_STOPPED in _codes(stored)


def test_a_pump_started_stopped_after_a_fill_is_high(pump, nurse, physician):
    start = timezone.now() - dt.timedelta(days=3)
    services.program_start(
        pump=pump, by=nurse, program=program_input(400, 2000), effective_from=start
    )
    services.refill_record(pump=pump, by=nurse, data=refill_input(performed_at=start, added="20"))
    _stop(pump, physician)
    stored = PumpForecast.objects.get(pump=pump)
    assert stored.risk_tier >= Tier.HIGH
    assert stored.daily_volume_ml == Decimal(0)
