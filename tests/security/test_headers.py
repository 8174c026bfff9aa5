"""Every HTML page carries the security headers; pages with patient data are never cached."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from refills import services
from tests.factories import staff


def assert_security_headers(response, url):
    csp = response.get("Content-Security-Policy", "")
    assert "script-src 'self'" in csp, url
    assert "'unsafe-inline'" not in csp, url
    assert "frame-ancestors 'none'" in csp, url
    assert response.get("X-Frame-Options") == "DENY", url
    assert response.get("Referrer-Policy") == "same-origin", url
    assert response.get("X-Content-Type-Options") == "nosniff", url


def test_public_pages_carry_the_security_headers(client, db):
    for name in ("accounts:login", "accounts:password_reset", "accounts:password_reset_done"):
        url = reverse(name)
        response = client.get(url)
        assert response.status_code == 200
        assert_security_headers(response, url)


@pytest.fixture
def clinic_day(filled_pump, nurse):
    appointment = services.appointment_book(
        pump=filled_pump, by=nurse, scheduled_start=timezone.now() + dt.timedelta(days=5)
    )
    return filled_pump, appointment


def staff_pages(pump, refill):
    p = pump.patient_id
    return [
        reverse("dashboard:board"),
        reverse("dashboard:board") + "?q=T0",
        reverse("dashboard:patient", args=[p]),
        reverse("dashboard:refill_create", args=[p]),
        reverse("dashboard:refill_saved", args=[p, refill.pk]),
        reverse("dashboard:program_change", args=[p]),
        reverse("dashboard:appointment_create", args=[p]),
        reverse("dashboard:emergency_card", args=[p]),
        reverse("dashboard:emergency_card_pdf", args=[p]),
        reverse("dashboard:calendar"),
        reverse("dashboard:alerts"),
        reverse("reports:index"),
        reverse("reports:audit"),
        reverse("reports:activity_csv"),
        reverse("reports:advisory"),
        reverse("accounts:otp_setup"),
    ]


def test_every_staff_page_is_no_store_with_security_headers(as_user, clinic, clinic_day):
    pump, _ = clinic_day
    refill = pump.refills.get()
    # A physician sees the clinical pages, a manager the reports; a refusal page counts too.
    for role in (Role.PHYSICIAN, Role.MANAGER):
        client = as_user(staff(clinic, role))
        for url in staff_pages(pump, refill):
            check_page(client, url)


def check_page(client, url):
    response = client.get(url)
    assert response.status_code in (200, 302, 403), f"{url}: {response.status_code}"
    if response.status_code == 302:
        return
    assert response["Cache-Control"] == "no-store, private", url
    if response["Content-Type"].startswith("text/html"):
        assert_security_headers(response, url)
        body = response.content.decode()
        # No inline script: the CSP would block it anyway, so none must be needed.
        assert "<script>" not in body and "onclick=" not in body, url
