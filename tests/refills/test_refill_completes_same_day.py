"""A refill completes only a visit of its own clinic day (or the next), never an earlier
day's (nurse review, item 2): an unattended earlier visit stays for the missed sweep.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refills import services
from refills.models import AppointmentStatus
from refills.services import ClinicalValidationError
from tests.conftest import program_input, refill_input
from tests.factories import PatientFactory, PumpFactory

NY = ZoneInfo("America/New_York")  # the test clinic's zone
START = dt.datetime(2026, 11, 1, 10, 0, tzinfo=NY)


def _filled_pump(clinic, nurse):
    pump = PumpFactory(patient=PatientFactory(clinic=clinic))
    services.program_start(pump=pump, by=nurse, program=program_input(), effective_from=START)
    services.refill_record(pump=pump, by=nurse, data=refill_input(performed_at=START))
    return pump


def _refill_at(pump, nurse, at: dt.datetime, **kwargs):
    # 20 mL at 0.2 mL/day: the residual the pump should hold then.
    days = (at - START).total_seconds() / 86400
    residual = f"{20 - 0.2 * days:.1f}"
    with time_machine.travel(at + dt.timedelta(minutes=5), tick=False):
        return services.refill_record(
            pump=pump, by=nurse, data=refill_input(performed_at=at, residual=residual), **kwargs
        )


def _book(pump, nurse, at: dt.datetime):
    with time_machine.travel(START + dt.timedelta(hours=1), tick=False):
        return services.appointment_book(
            pump=pump, by=nurse, scheduled_start=at, override_reason="Test booking"
        )


@pytest.mark.django_db
def test_worked_example_sunday_no_show_is_not_completed_by_tuesday_refill(clinic, nurse):
    pump = _filled_pump(clinic, nurse)
    sunday = _book(pump, nurse, dt.datetime(2026, 11, 29, 10, 0, tzinfo=NY))
    _refill_at(pump, nurse, dt.datetime(2026, 12, 1, 15, 0, tzinfo=NY))
    sunday.refresh_from_db()
    assert sunday.status == AppointmentStatus.SCHEDULED  # left for the missed sweep
    assert sunday.completed_refill is None


@pytest.mark.django_db
def test_worked_example_choosing_an_earlier_days_visit_is_refused(clinic, nurse):
    pump = _filled_pump(clinic, nurse)
    sunday = _book(pump, nurse, dt.datetime(2026, 11, 29, 10, 0, tzinfo=NY))
    with pytest.raises(ClinicalValidationError) as caught:
        _refill_at(pump, nurse, dt.datetime(2026, 12, 1, 15, 0, tzinfo=NY), appointment=sunday)
    (finding,) = [f for f in caught.value.findings if f.code == "appointment_earlier_day"]
    assert "Sun 29 Nov 2026" in finding.message
    sunday.refresh_from_db()
    assert sunday.status == AppointmentStatus.SCHEDULED
    assert pump.refills.count() == 1  # nothing saved half way


@pytest.mark.django_db
def test_worked_example_same_day_visit_is_completed(clinic, nurse):
    pump = _filled_pump(clinic, nurse)
    visit = _book(pump, nurse, dt.datetime(2026, 12, 1, 9, 0, tzinfo=NY))
    refill = _refill_at(pump, nurse, dt.datetime(2026, 12, 1, 23, 30, tzinfo=NY))
    visit.refresh_from_db()
    assert visit.status == AppointmentStatus.COMPLETED and visit.completed_refill == refill


@pytest.mark.django_db
# Each example makes its own patient and pump, so the shared clinic and nurse are safe.
@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    visit_days=st.integers(min_value=-4, max_value=3),
    visit_hour=st.integers(min_value=0, max_value=23),
    refill_hour=st.integers(min_value=0, max_value=23),
)
def test_a_refill_never_completes_an_earlier_days_visit(
    clinic, nurse, visit_days, visit_hour, refill_hour
):
    pump = _filled_pump(clinic, nurse)
    refill_at = dt.datetime(2026, 12, 1, refill_hour, 10, tzinfo=NY)
    visit_at = dt.datetime(2026, 12, 1, visit_hour, 0, tzinfo=NY) + dt.timedelta(days=visit_days)
    visit = _book(pump, nurse, visit_at)
    _refill_at(pump, nurse, refill_at)
    visit.refresh_from_db()
    day_gap = (visit_at.date() - refill_at.date()).days
    assert (visit.status == AppointmentStatus.COMPLETED) == (0 <= day_gap <= 1)
    if day_gap < 0:
        assert visit.status == AppointmentStatus.SCHEDULED
