"""An active pump with no fill on record is never LOW (nurse review, item 1).

Without a fill the reservoir level is unknown: it may be empty. The tier is HIGH, and
CRITICAL once more days have passed since the implant than a full reservoir lasts at
the program in effect, or than PUMPTRACK_POLICY NO_FILL_CRITICAL_DAYS (the sooner).
Worked examples first, then the invariant over generated inputs, then the whole path
(implant -> stored forecast -> open items -> staff alert) on the database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from dashboard.selectors.open_items import open_items_for
from patients import services as patient_services
from refills import services
from refills.models import PumpForecast
from refills.risk import DEFAULT_POLICY, ReasonCode, RiskInputs, Tier, assess
from reminders.models import Alert, AlertKind, AlertState
from tests.conftest import program_input, refill_input
from tests.factories import pump_model
from tests.refills.test_risk_properties import risk_inputs

LONDON = ZoneInfo("Europe/London")
NO_FILL_TEXT = (
    "No fill recorded: the reservoir level is unknown; record the implant fill or the last refill"
)


def _inputs(now: datetime, implanted: dt.date, capacity_days=None) -> RiskInputs:
    return RiskInputs(
        now=now,
        today=now.astimezone(LONDON).date(),
        clinic_tz=LONDON,
        no_fill_since=implanted,
        no_fill_capacity_days=capacity_days,
    )


def test_worked_example_six_months_after_implant_is_critical():
    # The review's case: SynchroMed II 20 mL implanted 1 Jun 2026, nothing recorded since.
    now = datetime(2026, 12, 1, 10, 0, tzinfo=LONDON)
    result = assess(_inputs(now, dt.date(2026, 6, 1)))
    assert result.tier == Tier.CRITICAL
    assert result.reasons[0].code == ReasonCode.NO_FILL
    assert result.reasons[0].text == NO_FILL_TEXT


def test_worked_example_implanted_today_is_high_and_turns_critical_on_day_31():
    now = datetime(2026, 6, 1, 10, 0, tzinfo=LONDON)
    result = assess(_inputs(now, dt.date(2026, 6, 1)))
    assert result.tier == Tier.HIGH
    assert result.codes == (ReasonCode.NO_FILL,)
    # 30 policy days after the implant day: CRITICAL from the start of 2 Jul (London).
    assert result.reassess_at == datetime(2026, 7, 2, tzinfo=LONDON).astimezone(UTC)


def test_worked_example_program_rate_makes_it_critical_sooner():
    # 20 mL at 400 mcg/day of 500 mcg/mL (0.8 mL/day) lasts 25 days: critical from day 26.
    implanted = dt.date(2026, 6, 1)
    day_25 = datetime(2026, 6, 26, 12, 0, tzinfo=LONDON)
    day_26 = datetime(2026, 6, 27, 0, 30, tzinfo=LONDON)
    assert assess(_inputs(day_25, implanted, Decimal("25"))).tier == Tier.HIGH
    assert assess(_inputs(day_26, implanted, Decimal("25"))).tier == Tier.CRITICAL


@given(
    inputs=risk_inputs(),
    days_ago=st.integers(min_value=0, max_value=3000),
    capacity=st.one_of(st.none(), st.decimals(min_value=0, max_value=400, places=2)),
)
def test_a_pump_without_a_fill_is_never_low(inputs, days_ago, capacity):
    implanted = inputs.today - timedelta(days=days_ago)
    inputs = replace(inputs, no_fill_since=implanted, no_fill_capacity_days=capacity)
    result = assess(inputs)
    assert result.tier >= Tier.HIGH
    no_fill = [r for r in result.reasons if r.code == ReasonCode.NO_FILL]
    assert len(no_fill) == 1 and no_fill[0].text == NO_FILL_TEXT
    limit = DEFAULT_POLICY.no_fill_critical_days
    if capacity is not None:
        limit = min(limit, int(capacity))
    # CRITICAL exactly when more whole days than the limit have passed since the implant.
    assert (no_fill[0].tier == Tier.CRITICAL) == (days_ago > limit)
    # Reasons stay highest tier first.
    tiers = [r.tier for r in result.reasons]
    assert tiers == sorted(tiers, reverse=True)


@pytest.mark.django_db
def test_implant_without_fill_is_open_alerted_and_clears_with_the_fill(patient, nurse):
    today = timezone.localdate(timezone.now(), patient.clinic.tz)
    pump = patient_services.pump_implant(
        patient=patient,
        model=pump_model("8637-20"),
        serial_number="NOFILL-1",
        implanted_on=today - timedelta(days=183),
    )
    row = PumpForecast.objects.get(pump=pump)
    assert row.risk_tier == Tier.CRITICAL
    assert row.risk_reasons[0]["code"] == ReasonCode.NO_FILL
    forecast, items = open_items_for(patient)
    assert items[0].key == "no-fill" and items[0].tier == Tier.CRITICAL
    assert NO_FILL_TEXT in items[0].reasons
    assert [a.label for a in items[0].actions] == ["Record the refill"]
    alert = Alert.objects.get(pump=pump, kind=AlertKind.RUNNING_OUT)
    assert alert.severity == Tier.CRITICAL and NO_FILL_TEXT in alert.reasons

    start = timezone.now() - timedelta(hours=1)
    services.program_start(pump=pump, by=nurse, program=program_input(), effective_from=start)
    services.refill_record(pump=pump, by=nurse, data=refill_input(performed_at=start))
    row.refresh_from_db()
    assert ReasonCode.NO_FILL not in [r["code"] for r in row.risk_reasons]
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED
