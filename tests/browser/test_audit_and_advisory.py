"""The audit trail and the device advisory lookup in a real browser at desktop width
(1366 px), as a clinic manager: screenshots in test-artifacts/."""

import dataclasses
import datetime as dt

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts.models import Role
from patients import services as patient_services
from refills import services
from tests.conftest import program_input, refill_input, verify_second_factor
from tests.factories import CaregiverFactory, ClinicFactory, PatientFactory, PumpFactory, staff

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def clinic_history(db):
    clinic = ClinicFactory(name="Riverside ITB Clinic", phone="+16175550100")
    nurse = staff(clinic, Role.NURSE, username="nina", first_name="Nina", last_name="Nurse")
    manager = staff(clinic, Role.MANAGER, username="mara", first_name="Mara", last_name="Manager")
    people = [("Quill", "Avery", "NGP000120H"), ("Marsh", "Bianca", "NGP000180H")]
    for index, (family, given, serial) in enumerate(people):
        patient = PatientFactory(clinic=clinic, family_name=family, given_name=given)
        CaregiverFactory(patient=patient, name=f"Sam {family}", relationship="spouse")
        pump = PumpFactory(patient=patient, serial_number=serial)
        start = timezone.now() - dt.timedelta(days=20)
        services.program_start(pump=pump, by=nurse, program=program_input(), effective_from=start)
        data = dataclasses.replace(refill_input(performed_at=start), lot_number="BX-77")
        services.refill_record(pump=pump, by=nurse, data=data)
        services.appointment_book(
            pump=pump, by=nurse, scheduled_start=timezone.now() + dt.timedelta(days=30 + index)
        )
        patient._history_user = nurse
        patient_services.patient_update(
            patient=patient, spasticity_origin="cerebral", transport_barrier=True
        )
    return {"clinic": clinic, "manager": manager}


def _signed_in(browser, live_server, user):
    """A desktop browser with the manager's session (password and second factor done)."""
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
    return context


def test_manager_reads_the_audit_trail_and_runs_an_advisory_lookup(
    browser, live_server, clinic_history, artifacts
):
    context = _signed_in(browser, live_server, clinic_history["manager"])
    page = context.new_page()
    page.set_default_timeout(15_000)

    page.goto(f"{live_server.url}/reports/audit/")
    table = page.locator("table.audit-table")
    assert "America/New_York" in page.locator("#audit-intro").inner_text()
    first = table.locator("tbody tr").first.inner_text()
    assert "Marsh, Bianca" in first and "Nina Nurse (nina)" in first
    assert "Spinal origin" in first and "Cerebral origin" in first
    page.screenshot(path=str(artifacts / "audit-trail.png"), full_page=True)

    page.get_by_label("Record").select_option(label="Refill")
    page.get_by_role("button", name="Show", exact=True).click()
    page.wait_for_load_state()
    rows = table.locator("tbody tr")
    assert rows.count() == 2
    assert "lot BX-77" in rows.first.inner_text()
    page.screenshot(path=str(artifacts / "audit-trail-refills.png"), full_page=True)

    page.goto(f"{live_server.url}/reports/advisory/")
    page.get_by_label("Pump model").select_option(index=1)
    page.get_by_label("Drug lot number").fill("bx-77")
    page.get_by_label("Pump model").select_option(label="Medtronic SynchroMed II (8637-20)")
    page.get_by_label("Serial number from").fill("NGP100H")
    page.get_by_label("Serial number to").fill("ngp-000150h")
    page.get_by_role("button", name="Find patients").click()
    page.wait_for_selector("#advisory-results")
    assert "1 patient found" in page.locator("#advisory-results").inner_text()
    results = page.locator("table tbody tr")
    assert results.count() == 1
    assert "Quill, Avery" in results.first.inner_text()
    assert "in the pump now" in results.first.inner_text()
    assert "Sam Quill" in results.first.inner_text()
    page.screenshot(path=str(artifacts / "advisory-lookup.png"), full_page=True)

    # The lookup is in the audit trail with who searched and what for.
    page.goto(f"{live_server.url}/reports/audit/?kind=reports.AdvisoryLookup")
    row = page.locator("table.audit-table tbody tr").first
    row.locator("summary").click()  # a new record's values are folded
    lookup = row.inner_text()
    assert "Mara Manager (mara)" in lookup and "bx-77" in lookup and "Patients found" in lookup
    page.screenshot(path=str(artifacts / "audit-trail-lookup.png"), full_page=True)
    context.close()
