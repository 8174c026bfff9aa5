"""Reads never write (issue 10): a GET of every page performs no INSERT, UPDATE or DELETE.

Every URL pattern of the URLconf is walked with GET, as a signed-in, two-factor-verified
manager and nurse of a clinic with demo-like data (a patient with a pump, a program,
refills, appointments, a pump report, an alert, notifications), after time has passed
beyond every stored forecast's reassess moment: the old "refresh a stale tier on read"
path would be caught here. The URL list comes from the URLconf, so a new page is walked
without editing this file; the parameters are filled as the cross-clinic walk fills them.
"""

import datetime as dt
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role
from refills import services
from refills.models import AppointmentStatus, PumpForecast
from reminders.models import Channel, Notification, NotificationStatus
from tests.conftest import refill_input
from tests.factories import staff
from tests.security.test_access import all_routes
from tests.security.test_cross_clinic_walk import clinic_b, fill  # noqa: F401 - a fixture

WRITE = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+[`"]?(\w+)', re.IGNORECASE)

# Writes a GET may make, each for the session and sign-in machinery, never for clinical data:
ALLOWED_WRITES = {
    # The session row: the idle timeout and messages framework save the session.
    "django_session",
    # django-axes records sign-in attempts and access (a sign-in page, not a clinical read).
    "axes_accessattempt",
    "axes_accesslog",
    "axes_accessfailurelog",
}
# Column-level exceptions on tables that otherwise must not be written on a GET.
ALLOWED_UPDATES = {
    # Django's user_logged_in signal stamps last_login (only when a page signs someone in).
    "accounts_user": ("last_login",),
    # django-otp's verification throttling and drift bookkeeping on the device row.
    "otp_totp_totpdevice": ("throttling_failure", "last_t", "drift", "last_used_at"),
}


def _table_writes(queries) -> list[str]:
    """Every INSERT, UPDATE or DELETE the allowlists above do not explain."""
    found = []
    for query in queries:
        sql = query["sql"]
        match = WRITE.match(sql)
        if match is None:
            continue
        table = match.group(1)
        if table in ALLOWED_WRITES:
            continue
        columns = ALLOWED_UPDATES.get(table)
        if columns and sql.lstrip().upper().startswith("UPDATE"):
            assigned = sql.split(" SET ", 1)[1].split(" WHERE ", 1)[0]
            names = re.findall(r'[`"]?(\w+)[`"]?\s*=', assigned)
            if names and all(name in columns for name in names):
                continue
        found.append(sql[:200])
    return found


@pytest.fixture
def demo_clinic(clinic_b):  # noqa: F811 - the cross-clinic walk's fixture, reused
    """The walk's clinic, made demo-like: more refills, a past and a missed appointment,
    notifications, a nurse beside the manager."""
    rows = dict(clinic_b)
    pump = rows["pump"]
    manager = rows["manager"]
    earlier = timezone.now() - dt.timedelta(days=10)
    services.refill_record(
        pump=pump, by=manager, data=refill_input(performed_at=earlier, residual="16")
    )
    past = services.appointment_book(
        pump=pump, by=manager, scheduled_start=timezone.now() + dt.timedelta(days=2)
    )
    past.status = AppointmentStatus.MISSED  # history shows a missed visit too
    past.save(update_fields=["status"])
    for n, status in enumerate((NotificationStatus.SENT, NotificationStatus.FAILED)):
        Notification.objects.create(
            key=f"reads-never-write:{n}",
            kind="appointment-reminder",
            stage="reminder-7d",
            clinic=rows["clinic"],
            patient=rows["patient"],
            channel=Channel.SMS,
            to_address="+15555550100",
            body="Hi, a reminder.",
            status=status,
        )
    rows["nurse"] = staff(rows["clinic"], Role.NURSE, username="reads.nurse")
    return rows


ROUTES = all_routes()


@pytest.mark.parametrize("role", ["manager", "nurse"])
def test_no_page_get_writes(client, as_user, demo_clinic, role):
    user = demo_clinic[role]
    stale = PumpForecast.objects.filter(pump=demo_clinic["pump"]).get()
    assert stale.reassess_at is not None
    # Past every reassess moment with no sweep run: a page that refreshed stale tiers
    # (and fired the reminder hooks) on a GET would write here.
    later = max(stale.reassess_at, timezone.now()) + dt.timedelta(days=1)
    walked = 0
    writes = []
    with time_machine.travel(later, tick=False):
        for route, name in ROUTES:
            if name in ("accounts:logout", "admin:logout"):
                continue  # signs the walker out; a POST-only page anyway
            url = fill(route, name, demo_clinic)
            # A fresh, fully signed-in session for each page (sessions end after idle time);
            # signing in writes, so it happens outside the captured block.
            as_user(user)
            with CaptureQueriesContext(connection) as queries:
                response = client.get(url)
            if name != "reminders:healthz":  # 503 is its answer when the sweep is stale
                assert response.status_code < 500, f"GET {url}: {response.status_code}"
            walked += response.status_code == 200
            writes += [f"GET {url} ({name}): {sql}" for sql in _table_writes(queries)]
    assert not writes, "\n".join(writes)
    # The walk really reached pages, the patient's among them.
    assert walked > 10
