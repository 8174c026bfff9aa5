"""The alert inbox and the banners every page carries."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from reminders.models import Alert, AlertState, Notification, NotificationKind, SweepHeartbeat
from tests.factories import PatientFactory, PumpFactory, staff

INBOX = reverse("dashboard:alerts")


@pytest.fixture
def running_out(clinic, nurse, filler):
    """A pump past its conservative alarm date: the hooks raise CRITICAL alerts."""
    patient = PatientFactory(clinic=clinic, family_name="Runningout")
    return filler(PumpFactory(patient=patient), nurse, days_ago=80)


@pytest.fixture
def critical(running_out):
    return Alert.objects.filter(pump=running_out, severity=4).order_by("pk").first()


def test_inbox_groups_open_alerts_by_severity(nurse_client, running_out, clinic, nurse, filler):
    filler(
        PumpFactory(patient=PatientFactory(clinic=clinic, family_name="Highone")),
        nurse,
        days_ago=68,
    )
    html = nurse_client.get(INBOX).content.decode()
    critical_at = html.index('id="severity-4"')
    high_at = html.index('id="severity-3"')
    assert critical_at < high_at
    assert html.index("Runningout", critical_at) < high_at
    assert "Highone" in html[high_at:]


def test_acknowledge_assign_resolve(nurse_client, clinic, critical):
    colleague = staff(clinic, Role.SCHEDULER, first_name="Sam", last_name="Scheduler")
    response = nurse_client.post(
        reverse("dashboard:alert_acknowledge", args=[critical.pk]), follow=True
    )
    assert "Alert acknowledged" in response.content.decode()
    critical.refresh_from_db()
    assert critical.state == AlertState.ACKNOWLEDGED

    response = nurse_client.post(
        reverse("dashboard:alert_assign", args=[critical.pk]),
        {"assignee": colleague.pk},
        follow=True,
    )
    assert "Alert assigned to Sam Scheduler" in response.content.decode()
    critical.refresh_from_db()
    assert critical.assignee == colleague

    url = reverse("dashboard:alert_resolve", args=[critical.pk])
    response = nurse_client.post(url, {"note": ""}, follow=True)
    assert "Write a resolution note" in response.content.decode()
    critical.refresh_from_db()
    assert critical.state == AlertState.ACKNOWLEDGED
    response = nurse_client.post(url, {"note": "Refill booked for tomorrow"}, follow=True)
    assert "Alert resolved" in response.content.decode()
    critical.refresh_from_db()
    assert critical.state == AlertState.RESOLVED
    assert critical.resolution_note == "Refill booked for tomorrow"


def test_cannot_assign_to_another_clinics_staff(nurse_client, other_clinic, critical):
    outsider = staff(other_clinic, Role.NURSE)
    nurse_client.post(
        reverse("dashboard:alert_assign", args=[critical.pk]), {"assignee": outsider.pk}
    )
    critical.refresh_from_db()
    assert critical.assignee is None


def test_another_clinics_alert_is_404(as_user, other_clinic, critical):
    client = as_user(staff(other_clinic, Role.NURSE))
    for name in ("dashboard:alert_acknowledge", "dashboard:alert_resolve"):
        assert client.post(reverse(name, args=[critical.pk]), {"note": "x"}).status_code == 404
    assert "Runningout" not in client.get(INBOX).content.decode()
    critical.refresh_from_db()
    assert critical.state == AlertState.OPEN


def test_auditor_sees_but_cannot_act(as_user, clinic, critical):
    client = as_user(staff(clinic, Role.AUDITOR))
    html = client.get(INBOX).content.decode()
    assert "Runningout" in html
    assert reverse("dashboard:alert_acknowledge", args=[critical.pk]) not in html
    url = reverse("dashboard:alert_acknowledge", args=[critical.pk])
    assert client.post(url).status_code == 403
    critical.refresh_from_db()
    assert critical.state == AlertState.OPEN


@pytest.mark.parametrize(
    "page", ["dashboard:board", "dashboard:calendar", "dashboard:alerts", "patient"]
)
def test_open_critical_alerts_are_on_every_page(nurse_client, critical, filled_pump, page):
    url = (
        reverse("dashboard:patient", args=[filled_pump.patient_id])
        if page == "patient"
        else reverse(page)
    )
    html = nurse_client.get(url).content.decode()
    strip = html.split('class="critical-strip')[1].split("</section>")[0]
    assert "open critical alert" in strip
    assert "Runningout" in strip


def test_no_strip_without_critical_alerts(nurse_client, filled_pump):
    assert "critical-strip" not in nurse_client.get(reverse("dashboard:board")).content.decode()


def test_board_counts_open_alerts(nurse_client, running_out):
    html = nurse_client.get(reverse("dashboard:board")).content.decode()
    row = html.split("<tbody>")[1].split("Runningout")[1].split("</tr>")[0]
    count = Alert.objects.filter(pump=running_out).exclude(state=AlertState.RESOLVED).count()
    assert count >= 1
    assert f'>{count}<span class="visually-hidden"> open alert' in row


def test_patient_page_lists_alerts_and_messages(nurse_client, running_out, clinic):
    patient = running_out.patient
    Notification.objects.create(
        key="test-booking-1",
        kind=NotificationKind.BOOKING_CONFIRMATION,
        clinic=clinic,
        patient=patient,
        channel="sms",
        to_address=patient.phone,
        body="Test body",
        status="failed",
        attempts=3,
        last_error="Gateway timeout",
    )
    html = nurse_client.get(reverse("dashboard:patient", args=[patient.pk])).content.decode()
    alerts = html.split('id="alerts-heading"')[1].split("</section>")[0]
    assert "Reservoir running out" in alerts
    messages = html.split('id="messages-heading"')[1].split("</section>")[0]
    assert "Booking confirmation" in messages
    assert "Gateway timeout" in messages
    assert ">3</td>" in messages


def test_stale_sweep_banner(nurse_client, db):
    board = reverse("dashboard:board")
    assert "Reminders may not be going out" in nurse_client.get(board).content.decode()
    now = timezone.now()
    SweepHeartbeat.objects.create(started_at=now - dt.timedelta(seconds=5), finished_at=now)
    assert "Reminders may not be going out" not in nurse_client.get(board).content.decode()
