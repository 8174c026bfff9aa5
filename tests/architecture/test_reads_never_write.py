"""Reads never write (issue 10): a GET of every page performs no INSERT, UPDATE or DELETE.

Every URL pattern of the URLconf is walked with GET, as a signed-in, two-factor-verified
member of each role of a clinic with demo-like data (a patient with a pump, a program,
refills, appointments, a pump report, an alert, notifications), after time has passed
beyond every stored forecast's reassess moment: the old "refresh a stale tier on read"
path would be caught here. The URL list comes from the URLconf, so a new page is walked
without editing this file; the parameters are filled as the cross-clinic walk fills them.
Pages are also walked with the query strings they read (board filters, paging, the CSV
export, calendar days ...), and the invitation link with a valid token in the session an
invitation sign-up leaves (its GET used to join the clinic). Writes are recognised by
tests/architecture/sql_writes.py, whatever their SQL form (INSERT OR IGNORE, REPLACE, WITH).
"""

import datetime as dt
import re
from urllib.parse import urlencode

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.invitation_views import SIGN_UP_SESSION_KEY
from accounts.models import Membership, Role, StaffInvitation
from refills import services
from refills.models import AppointmentStatus, PumpForecast
from reminders.models import Channel, Notification, NotificationStatus
from tests.architecture.sql_writes import written_table
from tests.conftest import refill_input
from tests.factories import staff
from tests.security.test_access import all_routes
from tests.security.test_cross_clinic_walk import clinic_b, fill  # noqa: F401 - a fixture

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
        write = written_table(sql)
        if write is None:
            continue
        verb, table = write
        if table in ALLOWED_WRITES:
            continue
        columns = ALLOWED_UPDATES.get(table)
        if columns and verb == "UPDATE":
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
        pump=pump,
        by=manager,
        scheduled_start=timezone.now() + dt.timedelta(days=2),
        # The pump has a refill booked already: a second one needs a reason.
        override_reason="Walk fixture: a second visit to mark missed",
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
    for role in (Role.NURSE, Role.PHYSICIAN, Role.SCHEDULER, Role.AUDITOR):
        rows[role.value] = staff(rows["clinic"], role, username=f"reads.{role.value}")
    rows["invitation_link"] = _invitee_signed_up(rows["clinic"], rows["manager"])
    return rows


def _invitee_signed_up(clinic, manager) -> dict:
    """An open invitation whose invitee has just signed up through its link: the session
    an invitation sign-up leaves, where a GET of the link used to join the clinic."""
    invitation = StaffInvitation.objects.create(
        clinic=clinic,
        email="reads.invitee@example.org",
        role=Role.PHYSICIAN,
        invited_by=manager,
        created_at=timezone.now(),
        expires_at=timezone.now() + dt.timedelta(days=365),  # open after the time travel
    )
    user = account_services.invitation_sign_up(
        invitation=invitation, first_name="Ida", last_name="Invitee", password="a-Long-pass-42!"
    )
    url = reverse("accounts:invitation_link", args=[account_services.invitation_token(invitation)])
    return {"invitation": invitation, "user": user, "url": url}


ROUTES = all_routes()
SKIPPED = {
    "accounts:logout": "signs the walker out; a POST-only page anyway",
    "admin:logout": "signs the walker out; a POST-only page anyway",
}
# The query strings the pages read (see the views and forms), walked besides the bare page.
QUERIES = {
    "dashboard:board": [
        {"q": "Zeb"},
        {"q": "BSECRET7731"},
        *({"tier": tier} for tier in ("1", "2", "3", "4")),
        *({"group": group} for group in ("overdue", "7", "14", "30", "later", "nofill")),
        *({"booked": booked} for booked in ("in-time", "late", "none")),
        {"pump_model": "{pump_model}"},
        {"page": "2"},
        {"page": "x"},
    ],
    "reminders:messages": [
        {"status": "failed"},
        {"channel": "sms"},
        {"kind": "appointment-reminder"},
        {"problems": "on"},
        {"page": "2"},
    ],
    "reports:audit": [
        {"format": "csv"},
        {"format": "csv", "since": "2000-01-01"},
        {"since": "2000-01-01", "until": "2100-01-01"},
        {"since": "2000-01-01", "kind": "patients.Patient", "user": "0", "page": "2"},
        {"since": "2000-01-01", "mrn": "BSECRET7731", "format": "csv"},
        {"since": "2000-01-01", "patient": "{patient}"},
    ],
    "reports:activity_csv": [{"since": "2000-01-01"}],
    **{
        f"reports:{key}{suffix}": [
            {"since": "2000-01-01", "until": "2100-01-01"},
            {"all_clinics": "on"},
            {"since": "x", "until": "2000-01-01"},
        ]
        for key in (
            "refills",
            "appointments",
            "safety",
            "delivery",
            "census",
            "devices",
            "capacity",
        )
        for suffix in ("", "_csv", "_pdf")
    },
    "dashboard:calendar": [{"view": "day"}, {"day": "{today}"}, {"view": "day", "day": "x"}],
    "dashboard:alerts": [{"show": "resolved"}],
    "dashboard:appointment_create": [{"day": "{today}", "time": "10:00", "kind": "refill"}],
    "dashboard:refill_create": [{"appointment": "{appointment}"}],
}
# Pages each role must have been shown (a 200), so a walk that only met sign-in
# redirects or refusals does not pass for a walk.
SHOWN = {
    "manager": {
        "dashboard:board",
        "dashboard:patient",
        "reports:audit",
        "reports:advisory",
        "dashboard:clinic_staff",
        "reports:refills",
        "reports:capacity_pdf",
    },
    "nurse": {"dashboard:board", "dashboard:patient", "dashboard:emergency_card"},
    "physician": {"dashboard:board", "dashboard:patient", "reports:audit", "reports:advisory"},
    "scheduler": {"dashboard:board", "dashboard:calendar"},
    "auditor": {"reports:audit", "reports:advisory", "reports:safety", "reports:census_csv"},
}


def _variants(name: str, url: str, rows) -> list[str]:
    values = {
        "pump_model": str(rows["pump"].model_id),
        "today": timezone.localdate().isoformat(),
        "appointment": str(rows["appointment"].pk),
        "patient": str(rows["patient"].pk),
    }
    urls = [url]
    for query in QUERIES.get(name, []):
        filled = {key: value.format(**values) for key, value in query.items()}
        urls.append(f"{url}&{urlencode(filled)}")
    return urls


def _sign_in(client, as_user, user, name, rows) -> str | None:
    """Sign the walker in for this page; the invitation link is the invitee's page."""
    if name != "accounts:invitation_link":
        as_user(user)
        return None
    invitee = rows["invitation_link"]
    as_user(invitee["user"])  # signed up, second factor set up: the "Join" step
    session = client.session
    session[SIGN_UP_SESSION_KEY] = invitee["invitation"].pk
    session.save()
    return invitee["url"]


@pytest.mark.parametrize("role", ["manager", "nurse", "physician", "scheduler", "auditor"])
def test_no_page_get_writes(client, as_user, demo_clinic, role):
    user = demo_clinic[role]
    stale = PumpForecast.objects.filter(pump=demo_clinic["pump"]).get()
    assert stale.reassess_at is not None
    # Past every reassess moment with no sweep run: a page that refreshed stale tiers
    # (and fired the reminder hooks) on a GET would write here.
    later = max(stale.reassess_at, timezone.now()) + dt.timedelta(days=1)
    walked, shown = set(), set()
    writes = []
    with time_machine.travel(later, tick=False):
        for route, name in ROUTES:
            if name in SKIPPED:
                continue
            for url in _variants(name, fill(route, name, demo_clinic), demo_clinic):
                # A fresh, fully signed-in session for each page (sessions end after idle
                # time); signing in writes, so it happens outside the captured block.
                url = _sign_in(client, as_user, user, name, demo_clinic) or url
                with CaptureQueriesContext(connection) as queries:
                    response = client.get(url)
                if name != "reminders:healthz":  # 503 is its answer when the sweep is stale
                    assert response.status_code < 500, f"GET {url}: {response.status_code}"
                walked.add(name)
                if response.status_code == 200:
                    shown.add(name)
                writes += [f"GET {url} ({name}): {sql}" for sql in _table_writes(queries)]
    assert not writes, "\n".join(writes)
    # Every route was requested, and the pages this role works with were really shown.
    assert walked == {name for _, name in ROUTES} - set(SKIPPED)
    assert SHOWN[role] <= shown, SHOWN[role] - shown
    # The invitee saw the "Join" page, and only a POST joins.
    assert "accounts:invitation_link" in shown
    assert not Membership.objects.filter(user=demo_clinic["invitation_link"]["user"]).exists()
