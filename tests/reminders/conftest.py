"""Fixtures for the reminders tests. Every person here is invented.

The clock starts at T0, Monday 2 June 2025, 10:00 in New York (the test clinic's
zone), and moves with time_machine.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from refills import services
from reminders.channels import LocmemSmsBackend
from reminders.delivery import notification_send
from reminders.models import Notification, NotificationStatus
from reminders.sweep import sweep_run
from tests.conftest import program_input, refill_input

T0 = dt.datetime(2025, 6, 2, 14, 0, tzinfo=dt.UTC)
NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def sms_outbox():
    LocmemSmsBackend.outbox.clear()
    yield LocmemSmsBackend.outbox
    LocmemSmsBackend.outbox.clear()


def fill(pump, by, *, days_ago: float = 0, **refill):
    """Program and fill a 20 mL pump (400 mcg/day of 2000 mcg/mL: 0.2 mL a day)."""
    at = timezone.now() - dt.timedelta(days=days_ago) - dt.timedelta(minutes=5)
    services.program_start(pump=pump, by=by, program=program_input(400, 2000), effective_from=at)
    services.refill_record(
        pump=pump, by=by, data=refill_input(performed_at=at, residual="3", added="20", **refill)
    )
    pump.refresh_from_db()
    return pump


def local(year, month, day, hour=9, minute=0, zone=NY) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=zone)


def book(pump, by, at: dt.datetime, **kwargs):
    return services.appointment_book(
        pump=pump, by=by, scheduled_start=at, override_reason="test booking", **kwargs
    )


class Published(list):
    """A publish() for sweep_run that records the ids instead of using a broker."""

    def __call__(self, pk: int) -> None:
        self.append(pk)


def sweep(now: dt.datetime | None = None, **kwargs):
    publish = Published()
    report = sweep_run(now=now, publish=publish, **kwargs)
    report.published = publish
    return report


def deliver_due(now: dt.datetime | None = None) -> list[str]:
    """Run the send task body for every pending row, as a worker would."""
    outcomes = []
    for pk in Notification.objects.filter(status=NotificationStatus.PENDING).values_list(
        "pk", flat=True
    ):
        outcomes.append(notification_send(notification_id=pk, now=now).outcome)
    return outcomes


def rows(**filters):
    return list(Notification.objects.filter(**filters).order_by("created_at", "pk"))


def stages(**filters) -> list[str]:
    return [n.stage for n in rows(**filters)]
