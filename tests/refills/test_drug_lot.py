"""Drug lots (issue 8 #9): the expiry date is required and an expired lot is refused.

"Expired" is judged on the clinic's calendar: a lot that expired yesterday, clinic
time, is refused even while it is still that day in UTC. Nothing is saved.
"""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from refills import services
from refills.services import ClinicalValidationError
from tests.conftest import refill_input


def _codes(caught) -> set[str]:
    return {f.code for f in caught.value.findings}


def test_a_refill_without_the_lot_expiry_is_refused(filled_pump, nurse):
    with pytest.raises(ClinicalValidationError) as caught:
        services.refill_record(
            pump=filled_pump, by=nurse, data=refill_input(residual="14", lot_expiry=None)
        )
    assert _codes(caught) == {"lot_expiry_missing"}
    assert filled_pump.refills.count() == 1  # only the fixture's fill


def test_an_expired_lot_is_refused_and_nothing_saved(filled_pump, nurse):
    today = timezone.localdate(timezone=filled_pump.patient.clinic.tz)
    with pytest.raises(ClinicalValidationError) as caught:
        services.refill_record(
            pump=filled_pump,
            by=nurse,
            data=refill_input(residual="14", lot_expiry=today - dt.timedelta(days=1)),
            override_reason="I accept the risk",  # an error cannot be overridden
        )
    (finding,) = caught.value.findings
    assert finding.code == "lot_expired" and finding.field == "lot_expiry"
    assert "Do not use it" in finding.message
    assert filled_pump.refills.count() == 1
    assert filled_pump.programs.count() == 1


def test_a_lot_expiring_on_the_refill_day_is_accepted(filled_pump, nurse):
    today = timezone.localdate(timezone=filled_pump.patient.clinic.tz)
    refill = services.refill_record(
        pump=filled_pump, by=nurse, data=refill_input(residual="14", lot_expiry=today)
    )
    assert refill.lot_expiry == today


def test_expiry_is_judged_on_the_clinic_calendar_not_utc(filled_pump, nurse):
    clinic = filled_pump.patient.clinic
    clinic.timezone = "Australia/Sydney"
    clinic.save(update_fields=["timezone"])
    sydney = ZoneInfo("Australia/Sydney")
    # 08:00 in Sydney is still the day before in UTC.
    local = timezone.localtime(timezone.now(), sydney).replace(
        hour=8, minute=0, second=0, microsecond=0
    )
    if local > timezone.now():
        local -= dt.timedelta(days=1)
    assert local.astimezone(dt.UTC).date() == local.date() - dt.timedelta(days=1)
    expired_yesterday_in_sydney = local.date() - dt.timedelta(days=1)
    with pytest.raises(ClinicalValidationError) as caught:
        services.refill_record(
            pump=filled_pump,
            by=nurse,
            data=refill_input(
                performed_at=local, residual="14", lot_expiry=expired_yesterday_in_sydney
            ),
            override_reason="any",
        )
    assert "lot_expired" in _codes(caught)
