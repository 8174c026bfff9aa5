"""Paired and targeted properties (issue 8): what makes the reservoir run out sooner
never makes a date later; calendar days are calendar days across clock changes; the
end of service caps the refill-by date.

Each example builds its pumps through the services in a fresh clinic, on a frozen
clock, inside a transaction that is rolled back.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from patients import services as patient_services
from refills import services
from refills.models import NeedleCheck
from tests.factories import PatientFactory, PumpFactory
from tests.invariants.conftest import (
    ALERTS,
    frozen,
    margin_days,
    new_world,
    rolled_back,
    stored,
    violations,
)
from tests.invariants.machine import OVERRIDE, _program

DST_ZONES = (
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Pacific/Auckland",
)
# Known-failing properties stop at the first counterexample: shrinking would only cost time.
# Each example opens and rolls back its own transaction inside the db fixture's.
FIXTURE_OK = [HealthCheck.function_scoped_fixture]
NO_SHRINK = [Phase.explicit, Phase.reuse, Phase.generate]


def _fill(world, pump, *, at, dose, concentration=2000, added="20", alarm=None):
    if alarm is not None:
        patient_services.pump_update(pump=pump, alarm_volume_ml=Decimal(alarm))
    services.program_start(
        pump=pump,
        by=world.physician,
        program=_program(dose, concentration),
        effective_from=at,
        reason=OVERRIDE,
    )
    services.refill_record(
        pump=pump,
        by=world.physician,
        data=services.RefillInput(
            performed_at=at,
            actual_residual_ml=Decimal(0),
            volume_added_ml=Decimal(added),
            resulting_volume_ml=Decimal(added),
            drug_product=_program(dose, concentration).drug_product,
            concentration_mcg_per_ml=Decimal(concentration),
            lot_number="LOT-INV-2",
            lot_expiry=at.date() + dt.timedelta(days=365),
            needle_placement=NeedleCheck.TEMPLATE_AND_STOP,
            needle_placement_confirmed=True,
        ),
        override_reason=OVERRIDE,
    )
    return stored(pump)


def _second_pump(world):
    return PumpFactory(patient=PatientFactory(clinic=world.clinic))


def _dates(forecast):
    return {
        "conservative alarm": forecast.conservative_alarm_at,
        "nominal alarm": forecast.alarm_at,
        "empty": forecast.empty_at,
        "refill-by": forecast.refill_by,
    }


def _never_later(base, variant, what):
    for name, day in _dates(base).items():
        other = _dates(variant)[name]
        if day is not None and other is not None:
            assert other <= day, f"{what} moved the {name} later: {day} -> {other}"


NOW = st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2026, 12, 31)).map(
    lambda moment: moment.replace(tzinfo=dt.UTC)
)
BASE = st.fixed_dictionaries(
    {
        "zone": st.sampled_from(DST_ZONES + ("UTC",)),
        "now": NOW,
        "days_ago": st.integers(0, 60),
        "dose": st.sampled_from([100, 200, 400, 650]),
        "concentration": st.sampled_from([1000, 2000]),
        "added": st.sampled_from(["12", "16", "20"]),
        "alarm": st.sampled_from(["2.0", "3.0"]),
    }
)


@settings(max_examples=25, suppress_health_check=FIXTURE_OK)
@given(
    base=BASE,
    variant=st.sampled_from(["dose", "fill", "alarm"]),
    factor=st.sampled_from(["1.05", "1.2", "1.5"]),
)
def test_more_drug_out_or_less_in_never_makes_a_date_later(db, base, variant, factor):
    """A higher dose, a lower fill volume or a higher alarm volume: never a later date."""
    factor = Decimal(factor)
    with rolled_back(), frozen(base["now"]):
        world = new_world(base["zone"])
        at = timezone.now() - dt.timedelta(days=base["days_ago"], minutes=3)
        kwargs = {k: base[k] for k in ("dose", "concentration", "added", "alarm")}
        first = _fill(world, world.pump, at=at, **kwargs)
        if variant == "dose":
            kwargs["dose"] = (Decimal(kwargs["dose"]) * factor).quantize(Decimal("0.1"))
        elif variant == "fill":
            kwargs["added"] = str((Decimal(kwargs["added"]) / factor).quantize(Decimal("0.1")))
        else:
            kwargs["alarm"] = str((Decimal(kwargs["alarm"]) * factor).quantize(Decimal("0.1")))
        second = _fill(world, _second_pump(world), at=at, **kwargs)
        _never_later(first, second, f"a {variant} change x{factor}")


@settings(max_examples=25, suppress_health_check=FIXTURE_OK, phases=NO_SHRINK)
@given(
    base=BASE,
    ratio=st.sampled_from(["1.05", "1.1", "1.25", "1.5"]),
    after=st.floats(0.05, 0.95),
)
def test_a_higher_rate_program_change_never_makes_a_date_later(db, base, ratio, after):
    """The same fill, plus a program change to a higher rate between refills."""
    with rolled_back(), frozen(base["now"]):
        world = new_world(base["zone"])
        at = timezone.now() - dt.timedelta(days=base["days_ago"], minutes=30)
        kwargs = {k: base[k] for k in ("dose", "concentration", "added", "alarm")}
        first = _fill(world, world.pump, at=at, **kwargs)
        pump = _second_pump(world)
        _fill(world, pump, at=at, **kwargs)
        services.drug_program_change(
            pump=pump,
            by=world.physician,
            program=_program(Decimal(base["dose"]) * Decimal(ratio), base["concentration"]),
            reason="Invariant test: more tone",
            effective_from=at + (timezone.now() - at) * after,
            override_reason=OVERRIDE,
        )
        _never_later(first, stored(pump), f"a program change x{ratio}")


def _fall_backs(zone: ZoneInfo, year: int) -> list[dt.date]:
    """Local dates on which the clocks go back in ``zone`` during ``year``."""
    found = []
    moment = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    while moment.year == year:
        later = moment + dt.timedelta(hours=1)
        if later.astimezone(zone).utcoffset() < moment.astimezone(zone).utcoffset():
            found.append(later.astimezone(zone).date())
        moment = later
    return found


def _spring_forwards(zone: ZoneInfo, year: int) -> list[dt.date]:
    found = []
    moment = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    while moment.year == year:
        later = moment + dt.timedelta(hours=1)
        if later.astimezone(zone).utcoffset() > moment.astimezone(zone).utcoffset():
            found.append(later.astimezone(zone).date())
        moment = later
    return found


# Passes on 0e952a9: this construction did not reach the one-day-late case (see report).
@settings(max_examples=20, suppress_health_check=FIXTURE_OK)
@given(
    zone=st.sampled_from(DST_ZONES),
    days_after=st.integers(0, 2),
    minutes_to_midnight=st.integers(1, 29),
    dose=st.sampled_from([300, 400, 600]),
)
def test_refill_by_is_calendar_days_before_the_conservative_alarm_across_a_clock_change(
    db, zone, days_after, minutes_to_midnight, dose
):
    """refill-by <= local date of the conservative alarm - margin, even when the clocks
    went back in between and the alarm falls late in the evening (domain §7.1 #6)."""
    tz = ZoneInfo(zone)
    change = _fall_backs(tz, 2025)[0]
    alarm_day = change + dt.timedelta(days=days_after)
    target = dt.datetime.combine(alarm_day + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    target = (target.astimezone(dt.UTC) - dt.timedelta(minutes=minutes_to_midnight)).astimezone(tz)
    daily_ml = Decimal(dose) / 2000 * Decimal("1.15")
    days = (Decimal(20) - Decimal(2)) / daily_ml
    at = target - dt.timedelta(seconds=float(days * 86400) - 30)
    with rolled_back(), frozen(at + dt.timedelta(hours=1)):
        world = new_world(zone)
        forecast = _fill(world, world.pump, at=at, dose=dose)
        alarm_local = forecast.conservative_alarm_at.astimezone(tz).date()
        limit = alarm_local - dt.timedelta(days=margin_days(world.patient))
        assert forecast.refill_by <= limit, (
            f"refill-by {forecast.refill_by} is after {alarm_local} - margin = {limit} "
            f"(conservative alarm {forecast.conservative_alarm_at.astimezone(tz)})"
        )


@settings(max_examples=20, suppress_health_check=FIXTURE_OK, phases=NO_SHRINK)
@given(
    zone=st.sampled_from(DST_ZONES),
    days_before=st.integers(1, 170),
    minutes_to_midnight=st.integers(1, 29),
)
def test_refill_by_is_at_most_180_calendar_days_after_the_fill_across_a_clock_change(
    db, zone, days_before, minutes_to_midnight
):
    """A late-evening fill whose 180 days span the clocks going forward (domain §7.1 #6)."""
    tz = ZoneInfo(zone)
    change = _spring_forwards(tz, 2025)[0]
    fill_day = change - dt.timedelta(days=days_before)
    at = dt.datetime.combine(fill_day + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    at = (at.astimezone(dt.UTC) - dt.timedelta(minutes=minutes_to_midnight)).astimezone(tz)
    with rolled_back(), frozen(at + dt.timedelta(hours=1)):
        world = new_world(zone)
        forecast = _fill(world, world.pump, at=at, dose=100)
        limit = at.date() + dt.timedelta(days=180)
        assert forecast.refill_by <= limit, (
            f"refill-by {forecast.refill_by} is after the fill {at} + 180 days = {limit}"
        )


@settings(max_examples=15, suppress_health_check=FIXTURE_OK, phases=NO_SHRINK)
@given(
    zone=st.sampled_from(DST_ZONES + ("UTC",)),
    now=NOW,
    days_to_shutdown=st.integers(1, 150),
    dose=st.sampled_from([100, 200, 400]),
)
def test_refill_by_is_never_after_end_of_service(db, zone, now, days_to_shutdown, dose):
    """A pump that stops needs the patient seen before it does (domain §7.1 #6)."""
    with rolled_back(), frozen(now):
        world = new_world(zone, implanted_days_ago=2557 - days_to_shutdown)
        forecast = _fill(world, world.pump, at=timezone.now() - dt.timedelta(minutes=5), dose=dose)
        eos = world.pump.end_of_service_on
        assert forecast.refill_by <= eos, f"refill-by {forecast.refill_by} after EOS {eos}"


@settings(max_examples=15, suppress_health_check=FIXTURE_OK, phases=NO_SHRINK)
@given(
    zone=st.sampled_from(DST_ZONES + ("UTC",)),
    now=NOW,
    days_to_shutdown=st.integers(1, 30),
    planned_after=st.integers(1, 200),
)
def test_a_replacement_planned_after_end_of_service_does_not_calm_the_tier(
    db, zone, now, days_to_shutdown, planned_after
):
    """End of service within 30 days: CRITICAL unless a replacement comes before it."""
    with rolled_back(), frozen(now):
        world = new_world(zone, implanted_days_ago=2557 - days_to_shutdown)
        _fill(world, world.pump, at=timezone.now() - dt.timedelta(minutes=5), dose=200)
        eos = world.pump.end_of_service_on
        assert stored(world.pump).risk_tier == 4
        patient_services.pump_update(
            pump=world.pump, planned_replacement_on=eos + dt.timedelta(days=planned_after)
        )
        forecast = stored(world.pump)
        assert forecast.risk_tier == 4, forecast.risk_reasons


@settings(max_examples=10, suppress_health_check=FIXTURE_OK, phases=NO_SHRINK)
@given(zone=st.sampled_from(DST_ZONES + ("UTC",)), now=NOW, days_to_alarm=st.integers(15, 20))
def test_a_work_queue_alert_is_open_when_the_alarm_is_21_days_away_and_nothing_booked(
    db, zone, now, days_to_alarm
):
    """domain.md §8: a clinic work-queue alert when DTA <= 21 days with no appointment."""
    from reminders.models import Alert, AlertState

    days = (Decimal(20) - Decimal(2)) / (Decimal(400) / 2000 * Decimal("1.15"))
    at = now - dt.timedelta(days=float(days) - days_to_alarm)
    with rolled_back(), frozen(now):
        world = new_world(zone)
        forecast = _fill(world, world.pump, at=at, dose=400)
        assert not forecast.booked_before_refill_by
        assert Alert.objects.filter(pump=world.pump).exclude(state=AlertState.RESOLVED).exists(), (
            f"conservative alarm {forecast.conservative_alarm_at}, nothing booked, no alert"
        )


@settings(max_examples=25, suppress_health_check=FIXTURE_OK, phases=NO_SHRINK)
@given(
    zone=st.sampled_from(DST_ZONES + ("UTC",)),
    now=NOW,
    hours_to_alarm=st.integers(1, 71),
    booking=st.none() | st.tuples(st.integers(0, 3), st.sampled_from([8, 11, 16, 23])),
)
def test_the_running_out_alert_and_the_tier_agree_in_the_last_three_days(
    db, zone, now, hours_to_alarm, booking
):
    """Clinician review (issue 8): with the conservative alarm under 72 hours away, the
    CRITICAL running-out alert is open exactly when no refill is booked before the alarm
    instant, and no CRITICAL alert is ever open on a LOW patient."""
    from django.core.exceptions import ValidationError

    from reminders.models import Alert, AlertState

    with rolled_back(), frozen(now) as clock:
        world = new_world(zone)
        alarm = _fill(world, world.pump, at=now, dose=400).conservative_alarm_at
        clock.move_to(alarm - dt.timedelta(hours=hours_to_alarm))
        services.forecast_refresh(pump=world.pump)
        booked_at = None
        if booking is not None:
            days, hour = booking
            day = timezone.localdate(timezone=world.zone) + dt.timedelta(days=days)
            start = dt.datetime.combine(day, dt.time(hour), tzinfo=world.zone)
            try:
                services.appointment_book(
                    pump=world.pump,
                    by=world.physician,
                    scheduled_start=start,
                    override_reason="Invariant test: reviewed",
                )
                booked_at = start
            except ValidationError:
                pass  # a time already past: nothing booked
        assert violations(world.pump, now=timezone.now(), families={ALERTS}) == []
        running_out = (
            Alert.objects.filter(pump=world.pump, kind="running-out")
            .exclude(state=AlertState.RESOLVED)
            .exists()
        )
        assert running_out == (booked_at is None or booked_at >= alarm), (
            f"alarm {alarm.astimezone(world.zone)}, booked {booked_at}, open {running_out}"
        )
