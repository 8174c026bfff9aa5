"""The daily tier snapshot: once per clinic and calendar day in the clinic's zone, ids only
in the task arguments, and repeated runs change nothing."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refills.models import PumpForecast, RiskTier
from reports import services, tasks
from reports.metrics.capacity import week_slots
from reports.metrics.devices import add_months
from reports.models import TierSnapshot
from tests.factories import ClinicFactory, PatientFactory, PumpFactory

UTC = dt.UTC


@pytest.fixture
def two_zones(db):
    east = ClinicFactory(timezone="America/New_York")
    tokyo = ClinicFactory(timezone="Asia/Tokyo")
    for clinic, tiers in ((east, [RiskTier.HIGH, RiskTier.LOW, RiskTier.LOW]), (tokyo, [4])):
        for tier in tiers:
            pump = PumpFactory(patient=PatientFactory(clinic=clinic))
            PumpForecast.objects.create(
                pump=pump,
                computed_at=dt.datetime(2026, 3, 1, tzinfo=UTC),
                refill_by=dt.date(2026, 3, 10),
                refill_by_reason="alarm",
                risk_tier=int(tier),
            )
    return east, tokyo


def test_each_clinic_is_due_once_its_own_day_reaches_the_hour(two_zones):
    east, tokyo = two_zones
    # 22:00 UTC on 1 Mar: 07:00 on 2 Mar in Tokyo (due), 17:00 on 1 Mar in New York (due).
    now = dt.datetime(2026, 3, 1, 22, tzinfo=UTC)
    due = dict(services.tier_snapshots_due(now=now))
    assert due == {tokyo.pk: dt.date(2026, 3, 2), east.pk: dt.date(2026, 3, 1)}
    # 09:00 UTC on 1 Mar: 04:00 in New York, before the hour: not yet.
    early = dict(services.tier_snapshots_due(now=dt.datetime(2026, 3, 1, 9, tzinfo=UTC)))
    assert east.pk not in early


def test_the_snapshot_counts_tiers_and_is_taken_once_per_day(two_zones):
    east, _ = two_zones
    now = dt.datetime(2026, 3, 1, 22, tzinfo=UTC)
    first = services.tier_snapshot_take(clinic_id=east.pk, day=dt.date(2026, 3, 1), now=now)
    assert (first.low, first.moderate, first.high, first.critical) == (2, 0, 1, 0)
    # refill-by 10 Mar is within 21 days of 1 Mar and nothing is booked: all three.
    assert first.unbooked_within_window == 3
    PumpForecast.objects.update(risk_tier=int(RiskTier.CRITICAL))
    again = services.tier_snapshot_take(
        clinic_id=east.pk, day=dt.date(2026, 3, 1), now=now + dt.timedelta(hours=1)
    )
    assert again.pk == first.pk and again.critical == 0
    assert TierSnapshot.objects.filter(clinic=east).count() == 1
    assert dict(services.tier_snapshots_due(now=now)).get(east.pk) is None


def test_the_beat_task_queues_ids_and_dates_only(two_zones, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.tier_snapshot, "delay", lambda *args: queued.append(args))
    monkeypatch.setattr(tasks.timezone, "now", lambda: dt.datetime(2026, 3, 1, 22, tzinfo=UTC))
    assert tasks.tier_snapshots_schedule() == 2
    assert all(isinstance(c, int) and isinstance(d, str) for c, d in queued)
    for clinic_id, day in queued:
        tasks.tier_snapshot(clinic_id, day)
        tasks.tier_snapshot(clinic_id, day)  # a repeated message changes nothing
    assert TierSnapshot.objects.count() == 2


def test_the_snapshot_is_in_the_beat_schedule():
    from django.conf import settings as django_settings

    from pumptrack.settings import base

    assert base.CELERY_BEAT_SCHEDULE["reports-tier-snapshots"]["task"] == (
        "reports.tasks.tier_snapshots_schedule"
    )
    assert django_settings.PUMPTRACK_REPORTS["TIER_SNAPSHOT_HOUR"] in range(24)


@settings(max_examples=40, deadline=None)
@given(
    instant=st.datetimes(
        min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(["America/New_York", "Asia/Tokyo", "Pacific/Auckland", "Europe/London"]),
)
def test_the_due_day_is_the_clinics_own_calendar_day(instant, zone):
    local = instant.astimezone(ZoneInfo(zone))
    # The invariant tier_snapshots_due relies on: the day a clinic snapshots is its local
    # date, never more than one calendar day from the UTC date.
    assert abs((local.date() - instant.date()).days) <= 1


@settings(max_examples=60, deadline=None)
@given(
    day=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2090, 1, 1)),
    months=st.integers(min_value=0, max_value=24),
)
def test_add_months_lands_in_the_right_month_never_past_the_day(day, months):
    later = add_months(day, months)
    assert (later.year - day.year) * 12 + later.month - day.month == months
    assert later.day <= day.day
    assert later >= day


@settings(max_examples=60, deadline=None)
@given(
    monday=st.dates(min_value=dt.date(2020, 1, 6), max_value=dt.date(2035, 1, 1)).map(
        lambda d: d - dt.timedelta(days=d.weekday())
    ),
    offset=st.integers(min_value=0, max_value=8),
    working=st.frozensets(st.integers(min_value=0, max_value=6), min_size=1),
    per_day=st.integers(min_value=1, max_value=50),
)
def test_week_slots_count_only_working_days_from_today(monday, offset, working, per_day):
    first = monday + dt.timedelta(days=offset)
    slots = week_slots(slots_per_day=per_day, working_days=working, week=monday, first=first)
    days_left = sum(1 for k in range(7) if k >= offset and k in working)
    assert slots == per_day * days_left
    assert 0 <= slots <= per_day * len(working)
