"""Issue 8 classes #1 and #3 through the services: the stored forecast after program
changes and near the pump's end of service.

The clock is frozen at T0 (Monday 2 June 2025, 10:00 in New York, the test clinic's zone).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from refills import services
from refills.forecast import Fill, ProgramChange, forecast
from refills.models import PumpForecast, Refill
from tests.conftest import program_input, refill_input
from tests.factories import PumpFactory, pump_model

T0 = dt.datetime(2025, 6, 2, 14, 0, tzinfo=dt.UTC)
NY = ZoneInfo("America/New_York")
DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def fill_days_ago(pump, nurse, days: int, dose: int = 400) -> Refill:
    """20 mL of 2000 mcg/mL at ``dose`` mcg/day, filled ``days`` days ago."""
    at = timezone.now() - days * DAY
    services.program_start(
        pump=pump, by=nurse, program=program_input(dose, 2000), effective_from=at
    )
    return services.refill_record(
        pump=pump, by=nurse, data=refill_input(performed_at=at, residual="3", added="20")
    )


def stored(pump) -> PumpForecast:
    return PumpForecast.objects.get(pump=pump)


def change_dose(pump, nurse, dose: int, *, at: dt.datetime | None = None) -> None:
    services.drug_program_change(
        pump=pump,
        by=nurse,
        program=program_input(dose, 2000),
        reason="More spasms at night",
        effective_from=at,
    )


# --- #1 a program change keeps the fast-pump allowance ---------------------------------


@pytest.mark.parametrize("new_dose", [404, 420, 480])
def test_raising_the_dose_never_makes_the_alarm_refill_by_or_tier_later_or_calmer(
    pump, nurse, new_dose
):
    refill = fill_days_ago(pump, nurse, 70)  # conservative alarm in 8.3 days: HIGH
    before = stored(pump)

    change_dose(pump, nurse, new_dose)

    after = stored(pump)
    assert after.conservative_alarm_at <= before.conservative_alarm_at
    assert after.alarm_at <= before.alarm_at
    assert after.empty_at <= before.empty_at
    assert after.refill_by <= before.refill_by
    assert after.risk_tier >= before.risk_tier
    # And it is the whole-history projection: 1.15 x every mL since the refill.
    expected = forecast(
        Fill(
            filled_at=refill.performed_at.astimezone(NY),
            volume_ml=D(20),
            concentration_mcg_per_ml=D(2000),
            daily_dose_mcg=D(400),
            alarm_volume_ml=D(2),
            program_changes=(ProgramChange(at=T0, daily_dose_mcg=D(new_dose)),),
        ),
        accuracy=D("0.15"),
        margin_days=3,
    )
    assert after.conservative_alarm_at == expected.conservative_alarm_at
    assert after.refill_by == expected.refill_by


def test_two_changes_between_refills_keep_the_allowance_of_both(pump, nurse, clock):
    fill_days_ago(pump, nurse, 40)
    change_dose(pump, nurse, 440, at=timezone.now() - 20 * DAY)
    first = stored(pump)
    change_dose(pump, nurse, 480)

    after = stored(pump)

    # Conservative: 18 - 1.15 x (0.2 x 20 + 0.22 x 20) = 8.34 mL left above the alarm.
    days = (D(18) - D("1.15") * (D(4) + D("4.4"))) / (D("0.24") * D("1.15"))
    assert after.conservative_alarm_at == T0 + dt.timedelta(seconds=int(days * 86400))
    assert after.conservative_alarm_at <= first.conservative_alarm_at
    # The stored anchor is the segment in force: its start, nominal volume and rate.
    assert after.anchor_at == T0
    assert after.anchor_volume_ml == D("11.60")  # 20 - 4 - 4.4
    assert after.daily_volume_ml == D("0.2400")


def test_the_refill_preview_reconciles_against_every_segment(pump, nurse, clock):
    fill_days_ago(pump, nurse, 60)
    change_dose(pump, nurse, 480, at=timezone.now() - 30 * DAY)  # 0.2 then 0.24 mL/day

    data = refill_input(performed_at=timezone.now(), residual="7", added="13")
    preview = services.refill_preview(pump=pump, data=data, by=nurse)

    assert preview.reconciliation.expected_ml == D(20) - D(6) - D("7.2")
    assert preview.reconciliation.flagged is False


# --- #3 the end of service caps the refill-by date --------------------------------------


def pump_shutting_down_in(patient, days: int):
    life = pump_model("8637-20").max_service_life_days
    return PumpFactory(
        patient=patient, implanted_on=timezone.localdate() - dt.timedelta(days=life - days)
    )


def test_end_of_service_before_the_alarm_sets_the_refill_by_date(patient, nurse):
    pump = pump_shutting_down_in(patient, 20)
    fill_days_ago(pump, nurse, 1)

    row = stored(pump)

    assert pump.end_of_service_on == timezone.localdate() + 20 * DAY
    assert row.refill_by == pump.end_of_service_on
    assert row.refill_by_reason == "end-of-service"
    assert row.get_refill_by_reason_display() == "Pump end of service or shut-down"


def test_a_replacement_after_end_of_service_leaves_the_refill_by_at_end_of_service(patient, nurse):
    pump = pump_shutting_down_in(patient, 20)
    pump.planned_replacement_on = timezone.localdate() + 40 * DAY
    pump.save()
    fill_days_ago(pump, nurse, 1)

    row = stored(pump)

    assert row.refill_by == pump.end_of_service_on
    assert row.refill_by_reason == "end-of-service"
