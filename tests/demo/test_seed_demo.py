"""seed_demo: an invented demo clinic that shows every tier, loads once, and stays local."""

import datetime as dt
import logging
from io import StringIO

import phonenumbers
import pytest
import time_machine
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Max, Min
from django.test import RequestFactory

from accounts.models import Membership, Role, User
from demo.builder import DEMO_CLINIC_NAME, PATIENT_COUNT, load_demo
from patients.models import Caregiver, Clinic, Patient, Pump
from refills.models import (
    Appointment,
    AppointmentStatus,
    PumpForecast,
    PumpReport,
    Refill,
)
from refills.risk import Tier

# A Wednesday afternoon in New York, on the hour as the command rounds it.
NOW = dt.datetime(2025, 3, 12, 18, 0, tzinfo=dt.UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_allowed(settings):
    settings.DEMO_LOGIN_ENABLED = True


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


def test_demo_clinic_covers_every_tier_and_loads_only_once(demo_allowed, frozen, caplog):
    caplog.set_level(logging.DEBUG, logger="demo")

    result = load_demo(now=NOW)

    clinic = Clinic.objects.get(name=DEMO_CLINIC_NAME)
    assert str(clinic.timezone) == "America/New_York"
    patients = list(Patient.objects.filter(clinic=clinic))
    assert len(patients) == PATIENT_COUNT == 50
    assert result.loaded and result.patients == 50

    # Invented people only: demo MRNs, fictional 555-01xx numbers, example.org mail.
    for patient in patients:
        assert patient.mrn.startswith("DEMO-")
        number = phonenumbers.parse(str(patient.phone))
        assert phonenumbers.is_valid_number(number)
        assert str(number.national_number)[3:7] == "5550"
        assert not patient.email or patient.email.endswith("@example.org")
    assert Caregiver.objects.filter(patient__clinic=clinic, receives_reminders=True).exists()

    # One to three years of refills for everyone, none in the future.
    spans = Refill.objects.filter(pump__patient__clinic=clinic).values("pump__patient")
    spans = spans.annotate(first=Min("performed_at"), last=Max("performed_at"))
    assert len(spans) == 50
    for span in spans:
        assert NOW - dt.timedelta(days=3 * 366) <= span["first"] <= NOW - dt.timedelta(days=365)
        assert span["last"] <= NOW

    # Every refill after a pump's first keeps the refill-by date that was in force and
    # came before it: refill_record reads the stored forecast, and so does the history
    # to place the next refill, so the forecast is refreshed after each one (deferring
    # the refresh over a pump's history would leave due_by stale or empty).
    history = Refill.objects.filter(pump__patient__clinic=clinic).order_by("pump", "performed_at")
    previous_pump = None
    for refill in history:
        if refill.pump_id == previous_pump:
            assert refill.due_by is not None
            assert refill.performed_on_time
        previous_pump = refill.pump_id

    # The pump mix from the catalogue, and every withdrawal-risk tier.
    models = set(Pump.objects.filter(patient__clinic=clinic).values_list("model__model_number"))
    assert models == {("8637-20",), ("8637-40",), ("13827",), ("16827",)}
    tiers = set(
        PumpForecast.objects.filter(pump__patient__clinic=clinic).values_list(
            "risk_tier", flat=True
        )
    )
    assert tiers == {Tier.LOW, Tier.MODERATE, Tier.HIGH, Tier.CRITICAL}
    assert sum(result.tiers.values()) == 50
    critical_pumps = PumpForecast.objects.filter(risk_tier=Tier.CRITICAL).values("pump")
    assert PumpReport.objects.filter(pump__in=critical_pumps, resolved_at__isnull=True).exists()

    appointments = Appointment.objects.filter(patient__clinic=clinic)
    assert appointments.filter(status=AppointmentStatus.MISSED).exists()
    assert appointments.filter(status=AppointmentStatus.SCHEDULED, scheduled_start__gt=NOW).exists()
    flagged = Refill.objects.filter(pump__patient__clinic=clinic, discrepancy_flagged=True)
    assert flagged.exists()
    for refill in flagged:
        assert refill.discrepancy_ml > 2
        assert refill.discrepancy_assessment and refill.discrepancy_action

    # The demo login works; the other staff accounts cannot log in.
    request = RequestFactory().get("/")
    demo = authenticate(request, username="demo", password="demo")
    assert demo is not None
    assert Membership.objects.get(user=demo, clinic=clinic).role == Role.NURSE
    # The admin is operators' only: the demo nurse has no staff status or model rights.
    assert not demo.is_staff and not demo.is_superuser
    assert not demo.has_perm("refills.view_refill")
    physician = authenticate(request, username="demo.physician", password="demo")
    assert Membership.objects.get(user=physician, clinic=clinic).role == Role.PHYSICIAN
    # Every role has a demo login with the demo password (review: no scheduler login),
    # and the summary names each with its role.
    printed_logins = "\n".join(result.lines())
    for role in Role:
        members = Membership.objects.filter(clinic=clinic, role=role).select_related("user")
        assert members, f"no demo {role.label}"
        for member in members:
            user = authenticate(request, username=member.user.username, password="demo")
            assert user == member.user, member.user.username
            assert not user.is_staff and not user.is_superuser
            assert f"{user.username} ({role.label}" in printed_logins
    assert "demo.scheduler (Scheduler)" in printed_logins
    assert "demo.manager (Clinic manager, two-factor set-up first)" in printed_logins

    # Logs and the printed summary carry ids and counts, never names.
    printed = "\n".join(result.lines()) + caplog.text
    assert "demo / demo" in printed
    for patient in patients:
        assert patient.family_name not in printed

    _history_is_dated_at_its_clinical_time(clinic)

    # A second run changes nothing.
    counts = (Patient.objects.count(), Refill.objects.count(), Appointment.objects.count())
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "Demo data already loaded" in out.getvalue()
    again = load_demo(now=NOW, if_empty=True)
    assert not again.loaded
    assert (Patient.objects.count(), Refill.objects.count(), Appointment.objects.count()) == counts
    assert Clinic.objects.filter(name=DEMO_CLINIC_NAME).count() == 1


def test_if_empty_leaves_a_database_with_patients_alone(demo_allowed, patient):
    out = StringIO()
    call_command("seed_demo", "--if-empty", stdout=out)

    assert "already has patients" in out.getvalue()
    assert not Clinic.objects.filter(name=DEMO_CLINIC_NAME).exists()
    assert not User.objects.filter(username="demo").exists()


@pytest.mark.parametrize("setting", ["missing", False])
def test_command_refuses_without_demo_login_enabled(settings, setting):
    if setting == "missing":
        if hasattr(settings, "DEMO_LOGIN_ENABLED"):
            del settings.DEMO_LOGIN_ENABLED
    else:
        settings.DEMO_LOGIN_ENABLED = setting

    with pytest.raises(CommandError, match="DEMO_LOGIN_ENABLED"):
        call_command("seed_demo", stdout=StringIO())

    assert not Clinic.objects.filter(name=DEMO_CLINIC_NAME).exists()
    assert not User.objects.filter(username="demo").exists()


def test_a_fresh_demo_sends_no_message_naming_a_past_date(demo_allowed, frozen):
    """`make run` on an empty database: seed, one sweep, the sends. Not one stale date."""
    from reminders.delivery import notification_send
    from reminders.models import Notification, NotificationStatus
    from reminders.sweep import sweep_run
    from tests.reminders.dates import dates_in, past_dates

    load_demo(now=NOW)
    sweep_run(now=NOW, publish=lambda pk: None)
    for pk in Notification.objects.filter(status=NotificationStatus.PENDING).values_list(
        "pk", flat=True
    ):
        notification_send(notification_id=pk, now=NOW)

    notifications = list(
        Notification.objects.select_related("clinic", "patient", "caregiver", "appointment")
    )
    sent = [n for n in notifications if n.status in (NotificationStatus.SENT, "delivered")]
    # The demo has unbooked patients, bookings and misses: messages of each kind went out.
    assert {n.kind for n in sent} >= {"unbooked-nudge", "booking-confirmation"}
    assert any(dates_in(n.body) for n in sent)
    # Every row, sent or not: staff read them all on the patient and messages pages.
    stale = {n.pk: past_dates(n, NOW) for n in notifications}
    assert {pk: days for pk, days in stale.items() if days} == {}
    # And nothing was withdrawn for being stale: the demo does not write such rows at all.
    assert not [n.suppressed_reason for n in notifications if n.status == "cancelled"]


def _history_is_dated_at_its_clinical_time(clinic):
    """The audit trail of the back-dated records carries their clinical time, not the
    load time: a filter on a past month finds that month's refills, each record's first
    version comes first, and nothing is dated after the load."""
    refills = list(Refill.objects.filter(pump__patient__clinic=clinic))
    created = {
        h.id: h.history_date
        for h in Refill.history.filter(history_type="+", id__in=[r.pk for r in refills])
    }
    assert all(created[r.pk] == r.performed_at for r in refills)
    past_month = dt.datetime(2024, 10, 1, tzinfo=dt.UTC)
    assert Refill.history.filter(
        history_date__gte=past_month, history_date__lt=past_month + dt.timedelta(days=31)
    ).exists()
    for model in (Pump, Refill, Appointment):
        rows = model.history.filter(history_date__gt=NOW)
        assert not rows.exists(), model
    for pump in Pump.objects.filter(patient__clinic=clinic):
        versions = list(pump.history.order_by("history_date", "history_id"))
        assert versions[0].history_type == "+"
        first_refill = pump.refills.order_by("performed_at").first()
        assert versions[0].history_date < first_refill.performed_at
