"""Reports 1-7 in a real browser at desktop width (1366 px), and each report's PDF
rendered to PNG (pypdfium2), all in test-artifacts/ for a person to look at."""

import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts.models import Role
from refills.models import Appointment, AppointmentStatus, PumpForecast, Refill, RiskTier
from reminders.models import Alert, Notification
from reports.metrics import CATALOGUE
from reports.models import TierSnapshot
from tests.conftest import verify_second_factor
from tests.dashboard.conftest import fill
from tests.factories import ClinicFactory, PatientFactory, PumpFactory, staff

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PEOPLE = [
    ("Quill", "Avery", 80, {"prior_withdrawal": True}),
    ("Marsh", "Bianca", 68, {"sci_t6_or_above": True}),
    ("Okafor", "Chidi", 60, {"consent_sms": False, "consent_email": False}),
    ("Lindqvist", "Dana", 30, {}),
    ("Petrov", "Elena", 45, {"transport_barrier": True}),
    ("Nakamura", "Fumi", 15, {"communication_difficulty": True}),
]


def _history(clinic, nurse, pumps) -> None:
    """A few months of invented activity: refills, visits, alerts, messages, snapshots."""
    now = timezone.now()
    for i, pump in enumerate(pumps):
        program = pump.programs.first()
        for k in range(1, 4):
            when = now - dt.timedelta(days=90 * k + 5 * i + 1)
            Refill.objects.create(
                pump=pump,
                performed_at=when,
                performed_by=nurse,
                actual_residual_ml=Decimal(3),
                expected_residual_ml=Decimal(3),
                volume_added_ml=Decimal(18),
                resulting_volume_ml=Decimal(20),
                drug_product=program.drug_product,
                concentration_mcg_per_ml=Decimal(2000),
                lot_number="LOT-DEMO",
                program=program,
                needle_placement="template-and-stop",
                needle_placement_confirmed=True,
                alarm_volume_ml=Decimal(2),
                due_by=(when - dt.timedelta(days=2 * (i % 3) - 2)).date(),
                performed_on_time=i % 3 != 2,
                discrepancy_flagged=i == 1 and k == 1,
                discrepancy_ml=Decimal("-2.4") if i == 1 and k == 1 else None,
            )
        status = [AppointmentStatus.MISSED, AppointmentStatus.CANCELLED][i % 2]
        Appointment.objects.create(
            patient=pump.patient,
            pump=pump,
            scheduled_start=now - dt.timedelta(days=20 + 7 * i),
            status=status,
            cancellation_reason="Invented reason" if status == "cancelled" else "",
        )
        Alert.objects.create(
            clinic=clinic,
            patient=pump.patient,
            pump=pump,
            kind="running-out",
            severity=int(RiskTier.CRITICAL if i < 2 else RiskTier.HIGH),
            state="resolved",
            raised_at=now - dt.timedelta(days=30 + i),
            acknowledged_at=now - dt.timedelta(days=30 + i, hours=-3),
            resolved_at=now - dt.timedelta(days=28 + i),
            resolved_by=nurse,
        )
        for n, status in enumerate(["delivered", "delivered", "failed" if i == 2 else "sent"]):
            Notification.objects.create(
                key=f"browser-{pump.pk}-{n}",
                kind="appointment-reminder",
                clinic=clinic,
                patient=pump.patient,
                channel="sms" if n else "email",
                status=status,
                body="Invented reminder",
                created_at=now - dt.timedelta(days=10 + n + i),
                last_error="30003 unreachable handset" if status == "failed" else "",
            )
    today = timezone.localdate()
    for d in range(14):
        TierSnapshot.objects.create(
            clinic=clinic,
            day=today - dt.timedelta(days=14 - d),
            taken_at=now,
            low=3 + d % 2,
            moderate=1,
            high=1 + (d > 7),
            critical=d % 5 == 0,
        )


@pytest.fixture
def reports_clinic(db):
    clinic = ClinicFactory(
        name="Riverside ITB Clinic", refill_slots_per_day=1, working_days="01234"
    )
    manager = staff(clinic, Role.MANAGER, username="mara", first_name="Mara", last_name="Manager")
    nurse = staff(clinic, Role.NURSE)
    pumps = []
    for family, given, days_ago, extra in PEOPLE:
        patient = PatientFactory(clinic=clinic, family_name=family, given_name=given, **extra)
        pump = PumpFactory(patient=patient)
        if family == "Quill":
            pump.implanted_on = timezone.localdate() - dt.timedelta(days=2557 - 120)
            pump.save()
        pumps.append(fill(pump, nurse, days_ago=days_ago))
    _history(clinic, nurse, pumps)
    # Five refills fall due today against at most five slots left this week (1 a day),
    # with Quill's already overdue: the capacity report marks this week.
    PumpForecast.objects.filter(pump__in=pumps[1:]).update(refill_by=timezone.localdate())
    return {"clinic": clinic, "manager": manager}


def _signed_in(browser, live_server, user):
    client = Client()
    client.force_login(user)
    verify_second_factor(client, user)
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    return client, context


def test_every_report_at_desktop_width_and_its_pdf(browser, live_server, artifacts, reports_clinic):
    import pypdfium2

    client, context = _signed_in(browser, live_server, reports_clinic["manager"])
    page = context.new_page()
    problems = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{live_server.url}/reports/")
    page.get_by_role("link", name="Reports", exact=True).wait_for()
    page.screenshot(path=str(artifacts / "reports-index-1366.png"), full_page=True)
    for number, kind in enumerate(CATALOGUE, start=1):
        page.get_by_role("link", name=f"{number}. {kind.title}").first.click()
        page.wait_for_url(f"**/reports/{kind.key}/**")
        assert page.locator("svg.report-chart").count() == 1
        if kind.key == "capacity":
            assert page.get_by_text("over capacity", exact=True).count() == 1
        assert page.get_by_role("heading", level=1).inner_text().startswith(kind.title)
        page.screenshot(
            path=str(artifacts / f"report-{number}-{kind.key}-1366.png"), full_page=True
        )
        response = client.get(f"/reports/{kind.key}.pdf")
        assert response.status_code == 200
        pdf = pypdfium2.PdfDocument(response.content)
        assert len(pdf) >= 1
        pdf[0].render(scale=1.5).to_pil().save(artifacts / f"report-{number}-{kind.key}-pdf.png")
        page.goto(f"{live_server.url}/reports/")
    assert problems == []
    context.close()
