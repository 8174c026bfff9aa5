"""A refill booked on a day the clinic is closed never secures the refill (bookfix #1).

Invariant (pure, over generated inputs): with the booked refill's day covered by a
closure, the tier never says "booked with margin", names the closed day, and is never
lower than with no closure, nor than with nothing booked at all. Worked through the
services: adding a closure over the booked day re-stores the forecast as not booked in
time (board, calendar, reports and the "please book" reminders read that flag); removing
it restores it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from patients import services as patient_services
from refills import services
from refills.models import PumpForecast
from refills.risk import ReasonCode, assess
from tests.refills.test_risk_properties import risk_inputs


@settings(max_examples=60)
@given(inputs=risk_inputs(), reason=st.sampled_from(["Public holiday", "Staff training"]))
def test_no_booking_on_a_closure_ever_counts_as_securing_the_refill(inputs, reason):
    closed = replace(inputs, next_refill_appointment_closure=reason)
    result = assess(closed)
    assert ReasonCode.BOOKED_WITH_MARGIN not in result.codes
    assert result.tier >= assess(inputs).tier
    unbooked = replace(inputs, next_refill_appointment_at=None)
    assert result.tier >= assess(unbooked).tier
    at = inputs.next_refill_appointment_at
    zone = inputs.clinic_tz
    if at is not None and at.astimezone(zone).date() >= inputs.now.astimezone(zone).date():
        on_closed = [r for r in result.reasons if r.code == ReasonCode.APPOINTMENT_ON_CLOSED_DAY]
        assert on_closed and reason in on_closed[0].text and "rebook" in on_closed[0].text


def _stored(pump) -> PumpForecast:
    return PumpForecast.objects.get(pump=pump)


def test_a_closure_over_the_booked_day_makes_the_refill_unbooked_until_removed(
    filled_pump, nurse, as_user
):
    clinic = filled_pump.patient.clinic
    # patients.services checks no role (accounts does): the nurse stands in for a manager.
    refill_by = _stored(filled_pump).refill_by
    day = timezone.localdate(timezone=clinic.tz) + dt.timedelta(days=3)
    assert day <= refill_by
    services.appointment_book(
        pump=filled_pump,
        by=nurse,
        scheduled_start=dt.datetime.combine(day, dt.time(10), tzinfo=clinic.tz),
    )
    assert _stored(filled_pump).booked_before_refill_by
    closure = patient_services.clinic_closure_add(
        clinic=clinic, by=nurse, first_day=day, reason="Burst pipe"
    )
    forecast = _stored(filled_pump)
    assert not forecast.booked_before_refill_by
    assert "Burst pipe" in forecast.booked_on_closed_day
    assert "appointment-on-closed-day" in [r["code"] for r in forecast.risk_reasons]
    html = as_user(nurse).get(f"/patients/{filled_pump.patient.pk}/").content.decode()
    assert "closed (Burst pipe): rebook" in html
    patient_services.clinic_closure_remove(closure=closure, by=nurse)
    forecast = _stored(filled_pump)
    assert forecast.booked_before_refill_by and not forecast.booked_on_closed_day
