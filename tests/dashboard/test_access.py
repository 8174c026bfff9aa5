"""Every page: login required, another clinic's rows are 404, roles follow PERMISSIONS."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.access import PERMISSIONS
from accounts.models import Role
from refills import services
from refills.models import Appointment, AppointmentKind, AppointmentStatus
from tests.factories import staff

PATIENT_PAGES = [
    ("dashboard:patient", "view_clinical"),
    ("dashboard:refill_create", "record_refill"),
    ("dashboard:program_change", "change_program"),
    ("dashboard:appointment_create", "manage_appointments"),
    ("dashboard:emergency_card", "view_clinical"),
    ("dashboard:emergency_card_pdf", "view_clinical"),
]
APPOINTMENT_PAGES = [
    ("dashboard:appointment_reschedule", "get"),
    ("dashboard:appointment_cancel", "get"),
    ("dashboard:appointment_missed", "post"),
    ("dashboard:appointment_complete", "post"),
]
SITE_PAGES = ["dashboard:board", "dashboard:calendar", "dashboard:alerts"]


@pytest.fixture
def booked(filled_pump, nurse):
    return services.appointment_book(
        pump=filled_pump, by=nurse, scheduled_start=timezone.now() + dt.timedelta(days=7)
    )


@pytest.mark.parametrize("name", SITE_PAGES)
def test_site_pages_need_login(client, db, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


@pytest.mark.parametrize("name,_action", PATIENT_PAGES)
def test_patient_pages_need_login(client, filled_pump, name, _action):
    response = client.get(reverse(name, args=[filled_pump.patient_id]))
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


@pytest.mark.parametrize("name,_action", PATIENT_PAGES)
def test_another_clinics_patient_is_404(as_user, other_clinic, filled_pump, name, _action):
    outsider = staff(other_clinic, Role.PHYSICIAN)
    response = as_user(outsider).get(reverse(name, args=[filled_pump.patient_id]))
    assert response.status_code == 404


def test_preview_of_another_clinics_patient_is_404(as_user, other_clinic, filled_pump):
    outsider = staff(other_clinic, Role.NURSE)
    url = reverse("dashboard:refill_preview", args=[filled_pump.patient_id])
    assert as_user(outsider).post(url, {}).status_code == 404


@pytest.mark.parametrize("name,method", APPOINTMENT_PAGES)
def test_another_clinics_appointment_is_404(as_user, other_clinic, booked, name, method):
    outsider = staff(other_clinic, Role.SCHEDULER)
    client = as_user(outsider)
    url = reverse(name, args=[booked.pk])
    response = client.post(url, {"reason": "x"}) if method == "post" else client.get(url)
    assert response.status_code == 404
    booked.refresh_from_db()
    assert booked.status == AppointmentStatus.SCHEDULED


@pytest.mark.parametrize("role", [r for r, _ in Role.choices])
@pytest.mark.parametrize("name,action", PATIENT_PAGES)
def test_patient_pages_follow_the_permission_table(
    as_user, clinic, filled_pump, role, name, action
):
    user = staff(clinic, role)
    response = as_user(user).get(reverse(name, args=[filled_pump.patient_id]))
    expected = 200 if role in PERMISSIONS[action] else 403
    assert response.status_code == expected


def test_scheduler_cannot_record_a_refill(as_user, clinic, filled_pump):
    client = as_user(staff(clinic, Role.SCHEDULER))
    url = reverse("dashboard:refill_create", args=[filled_pump.patient_id])
    assert client.post(url, {"actual_residual_ml": "5"}).status_code == 403
    preview = reverse("dashboard:refill_preview", args=[filled_pump.patient_id])
    assert client.post(preview, {}).status_code == 403
    assert filled_pump.refills.count() == 1


def test_auditor_cannot_book_but_can_read(as_user, clinic, filled_pump):
    client = as_user(staff(clinic, Role.AUDITOR))
    url = reverse("dashboard:appointment_create", args=[filled_pump.patient_id])
    start = timezone.localtime(timezone.now() + dt.timedelta(days=5), clinic.tz)
    response = client.post(
        url,
        {
            "kind": "refill",
            "day": start.date().isoformat(),
            "time": "10:00",
            "duration_minutes": 30,
        },
    )
    assert response.status_code == 403
    assert not Appointment.objects.exists()
    page = client.get(reverse("dashboard:patient", args=[filled_pump.patient_id]))
    assert page.status_code == 200
    assert "Record a refill" not in page.content.decode()
    assert "Book an appointment" not in page.content.decode()


@pytest.mark.parametrize("name,method", APPOINTMENT_PAGES)
def test_auditor_cannot_change_appointments(as_user, clinic, booked, name, method):
    client = as_user(staff(clinic, Role.AUDITOR))
    url = reverse(name, args=[booked.pk])
    response = client.post(url, {"reason": "x"}) if method == "post" else client.get(url)
    assert response.status_code == 403
    booked.refresh_from_db()
    assert booked.status == AppointmentStatus.SCHEDULED


def test_posts_only_for_state_changes(nurse_client, booked):
    url = reverse("dashboard:appointment_missed", args=[booked.pk])
    assert nurse_client.get(url).status_code == 405
    booked.refresh_from_db()
    assert booked.status == AppointmentStatus.SCHEDULED
    assert booked.kind == AppointmentKind.REFILL


@pytest.mark.parametrize("name,_action", PATIENT_PAGES[:-1])
def test_pages_have_no_inline_script_or_style(nurse_client, booked, name, _action):
    """The Content-Security-Policy forbids inline script; keep the markup clean of it."""
    html = nurse_client.get(reverse(name, args=[booked.patient_id])).content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+\s*=", html)
    assert "style=" not in html
