"""A discrepancy trend across refills (domain.md §7.1 #7) and the post-fill check of
sensor pumps for a possible pocket fill (§2.4, §7.1 #8): the pure maths, what the
services store, the forecast that follows and the staff alerts raised.

The clock is frozen at Monday 2 June 2025, 10:00 in New York (the test clinic's zone).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
import time_machine
from django.utils import timezone

from refills import services
from refills.forecast import Direction, discrepancy_trend, post_fill_check
from refills.models import Override, PumpForecast, Refill
from refills.services import ClinicalValidationError
from reminders.models import Alert
from tests.conftest import program_input, refill_input
from tests.factories import PumpFactory, pump_model, sensor_pump_model

T0 = dt.datetime(2025, 6, 2, 14, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


# --------------------------------------------------------------------------- pure maths


@pytest.mark.parametrize(
    ("current", "previous", "expected"),
    [
        ("1.5", "1.2", Direction.UNDER_DELIVERY),
        ("-1.1", "-3", Direction.OVER_DELIVERY),
        ("1.5", "-1.5", None),  # opposite directions: no trend
        ("1.0", "1.5", None),  # 1 mL is not more than 1 mL
        ("1.5", "0.4", None),
        ("1.5", None, None),  # nothing to compare with (first reconciled refill)
        (None, "1.5", None),
    ],
)
def test_discrepancy_trend_needs_two_same_direction_discrepancies_above_1_ml(
    current, previous, expected
):
    def as_decimal(text):
        return None if text is None else D(text)

    assert discrepancy_trend(as_decimal(current), as_decimal(previous)) == expected


def test_discrepancy_trend_threshold_is_a_parameter():
    assert discrepancy_trend(D("1.5"), D("1.5"), threshold_ml=D("2")) is None
    assert discrepancy_trend(D("2.5"), D("2.1"), threshold_ml=D("2")) == Direction.UNDER_DELIVERY


@pytest.mark.parametrize(
    ("capacity", "programmed", "measured", "gap", "limit", "suspected"),
    [
        ("20", "20", "18.9", "1.1", "1", True),
        ("20", "20", "19", "1", "1", False),  # at the limit, not above it
        ("40", "40", "38.5", "1.5", "2", False),  # 40 mL pumps allow 2 mL
        ("40", "40", "37.5", "2.5", "2", True),
        ("20", "19.5", "20", "-0.5", "1", False),  # more measured than put in
    ],
)
def test_post_fill_check_limits_follow_the_reservoir_size(
    capacity, programmed, measured, gap, limit, suspected
):
    check = post_fill_check(
        capacity_ml=D(capacity), programmed_ml=D(programmed), measured_ml=D(measured)
    )
    assert (check.gap_ml, check.limit_ml, check.suspected) == (D(gap), D(limit), suspected)


def test_post_fill_check_refuses_floats_and_negative_readings():
    with pytest.raises(TypeError):
        post_fill_check(capacity_ml=D("20"), programmed_ml=20.0, measured_ml=D("18"))
    with pytest.raises(ValueError):
        post_fill_check(capacity_ml=D("20"), programmed_ml=D("20"), measured_ml=D("-1"))


# --------------------------------------------------------------------------- trend, stored


def fill_at(pump, nurse, *, days_ago, residual="3", **extra):
    return services.refill_record(
        pump=pump,
        by=nurse,
        data=refill_input(
            performed_at=timezone.now() - days_ago * DAY, residual=residual, added="20", **extra
        ),
    )


@pytest.fixture
def pump_with_one_small_discrepancy(pump, nurse):
    """20 mL at 0.2 mL a day. Filled 120 days ago; 60 days later 9.5 mL was found where
    8.0 mL was expected: +1.5 mL, 12.5 % of what should have been delivered. Within
    tolerance on its own."""
    services.program_start(
        pump=pump, by=nurse, program=program_input(400, 2000), effective_from=T0 - 120 * DAY
    )
    fill_at(pump, nurse, days_ago=120)
    middle = fill_at(pump, nurse, days_ago=60, residual="9.5")
    assert middle.discrepancy_ml == D("1.50")
    assert not middle.discrepancy_flagged and not middle.discrepancy_trend_flagged
    return pump


def test_second_same_direction_discrepancy_needs_an_assessment_and_saves_nothing_without(
    pump_with_one_small_discrepancy, nurse
):
    before = Refill.objects.count()
    with pytest.raises(ClinicalValidationError) as caught:
        fill_at(pump_with_one_small_discrepancy, nurse, days_ago=0, residual="9.4")
    errors = caught.value.message_dict
    assert set(errors) == {"discrepancy_assessment", "discrepancy_action"}
    (assessment,) = errors["discrepancy_assessment"]
    assert "1.4 mL more left than expected" in assessment
    assert "second refill in a row with more left than expected" in assessment
    assert "(1.4 mL now, 1.5 mL last time): a trend towards under-delivery" in assessment
    assert Refill.objects.count() == before


def test_second_same_direction_discrepancy_is_stored_and_raises_a_moderate_alert(
    pump_with_one_small_discrepancy, nurse
):
    pump = pump_with_one_small_discrepancy
    refill = fill_at(
        pump,
        nurse,
        days_ago=0,
        residual="9.4",
        discrepancy_assessment="Second small under-delivery; catheter study booked.",
        discrepancy_action="workup",
    )
    refill.refresh_from_db()
    assert refill.discrepancy_trend_flagged is True
    assert refill.discrepancy_flagged is False  # each within tolerance on its own
    raised = Alert.objects.get(pump=pump, kind="discrepancy")
    assert raised.severity == 2 and raised.occasion == f"refill:{refill.pk}"
    assert raised.reasons[0].startswith("Second volume discrepancy in the same direction")
    assert "1.4 mL more left than expected (under-delivery)" in raised.reasons[0]


def test_opposite_discrepancies_are_not_a_trend(pump_with_one_small_discrepancy, nurse):
    # 6.5 mL found where 8.0 were expected: -1.5 mL after +1.5 mL last time.
    refill = fill_at(pump_with_one_small_discrepancy, nurse, days_ago=0, residual="6.5")
    assert refill.discrepancy_ml == D("-1.50")
    assert refill.discrepancy_trend_flagged is False
    assert not Alert.objects.filter(pump=pump_with_one_small_discrepancy, kind="discrepancy")


def test_refill_preview_shows_the_trend_before_saving(pump_with_one_small_discrepancy):
    preview = services.refill_preview(
        pump=pump_with_one_small_discrepancy, data=refill_input(residual="9.4", added="20")
    )
    assert preview.trend == Direction.UNDER_DELIVERY
    assert preview.previous_discrepancy_ml == D("1.50")


# --------------------------------------------------------------------------- pocket fill


@pytest.fixture
def sensor_pump(patient, nurse):
    """A 20 mL pump whose model measures its reservoir volume, filled 60 days ago."""
    pump = PumpFactory(patient=patient, model=sensor_pump_model())
    services.program_start(
        pump=pump, by=nurse, program=program_input(400, 2000), effective_from=T0 - 60 * DAY
    )
    fill_at(pump, nurse, days_ago=60)
    return pump


def test_a_possible_pocket_fill_needs_an_override_reason(sensor_pump, nurse):
    before = Refill.objects.count()
    with pytest.raises(ClinicalValidationError) as caught:
        fill_at(
            sensor_pump, nurse, days_ago=0, residual="8", measured_volume_after_fill_ml=D("18.5")
        )
    (message,) = caught.value.message_dict["measured_volume_after_fill_ml"]
    assert message.startswith("Possible pocket fill: the pump measured 18.5 mL, 1.5 mL less")
    assert Refill.objects.count() == before


def test_a_possible_pocket_fill_is_stored_and_raises_a_critical_alert(sensor_pump, nurse):
    refill = services.refill_record(
        pump=sensor_pump,
        by=nurse,
        data=refill_input(residual="8", added="20", measured_volume_after_fill_ml=D("18.5")),
        override_reason="Pocket aspirated 1.5 mL; physician informed; observing 4 h.",
    )
    # The forecast starts from the measured volume, the safer assumption.
    refill.refresh_from_db()
    assert refill.pocket_fill_suspected is True
    assert refill.resulting_volume_ml == D("20.00")  # what the nurse entered stays as entered
    assert refill.measured_volume_after_fill_ml == D("18.50")
    assert Override.objects.filter(refill=refill, rule="possible_pocket_fill").exists()

    # 18.5 mL - 2 mL alarm = 16.5 mL usable at 0.2 mL/day x 1.15: 71.7 days, not 78.3.
    stored = PumpForecast.objects.get(pump=sensor_pump)
    days_to_conservative_alarm = (stored.conservative_alarm_at - refill.performed_at) / DAY
    assert 71.7 - 0.01 < days_to_conservative_alarm <= 71.74

    raised = Alert.objects.get(pump=sensor_pump, kind="pocket-fill")
    assert raised.severity == 4 and raised.state == "open"
    assert "measured 18.5 mL after 20.0 mL was programmed" in raised.reasons[0]


def test_a_reading_within_the_limit_changes_nothing(sensor_pump, nurse):
    refill = fill_at(
        sensor_pump, nurse, days_ago=0, residual="8", measured_volume_after_fill_ml=D("19.2")
    )
    assert refill.pocket_fill_suspected is False
    stored = PumpForecast.objects.get(pump=sensor_pump)
    days = (stored.conservative_alarm_at - refill.performed_at) / DAY
    assert 78.2 < days <= 78.27  # 18 mL usable, as programmed (domain §9 case 3 timing)
    assert not Alert.objects.filter(pump=sensor_pump, kind="pocket-fill")


def test_a_measured_volume_for_a_pump_without_a_sensor_is_refused(pump, nurse):
    services.program_start(
        pump=pump, by=nurse, program=program_input(400, 2000), effective_from=T0 - 60 * DAY
    )
    fill_at(pump, nurse, days_ago=60)
    with pytest.raises(ClinicalValidationError) as caught:
        fill_at(pump, nurse, days_ago=0, residual="8", measured_volume_after_fill_ml=D("19"))
    assert (
        "does not measure its reservoir volume"
        in caught.value.message_dict["measured_volume_after_fill_ml"][0]
    )


def test_the_pocket_fill_alert_stays_until_a_person_resolves_it(
    sensor_pump, nurse, physician, clock
):
    from reminders.alerts import alert_resolve

    services.refill_record(
        pump=sensor_pump,
        by=nurse,
        data=refill_input(residual="8", added="20", measured_volume_after_fill_ml=D("18")),
        override_reason="Physician informed.",
    )
    raised = Alert.objects.get(pump=sensor_pump, kind="pocket-fill")
    clock.shift(2 * DAY)
    services.forecast_refresh(pump=sensor_pump)
    raised.refresh_from_db()
    assert raised.state == "open"
    alert_resolve(alert=raised, by=physician, note="Observed 24 h, no overdose signs.")
    services.forecast_refresh(pump=sensor_pump)
    assert not Alert.objects.filter(pump=sensor_pump, kind="pocket-fill").exclude(state="resolved")


def test_replacing_the_pump_closes_the_old_pumps_pocket_fill_alert(sensor_pump, nurse):
    from patients.services import pump_implant

    services.refill_record(
        pump=sensor_pump,
        by=nurse,
        data=refill_input(residual="8", added="20", measured_volume_after_fill_ml=D("18")),
        override_reason="Physician informed.",
    )
    raised = Alert.objects.get(pump=sensor_pump, kind="pocket-fill")
    pump_implant(
        patient=sensor_pump.patient,
        model=pump_model("8637-20"),
        serial_number="REPLACEMENT-1",
        implanted_on=timezone.localdate() - DAY,
        replaces=sensor_pump,
        by=nurse,
    )
    raised.refresh_from_db()
    assert raised.state == "resolved" and raised.resolved_by == nurse
    assert raised.next_escalation_at is None
    assert "Pump replaced on" in raised.resolution_note
    assert raised.history.filter(state="resolved", history_user=nurse).exists()
