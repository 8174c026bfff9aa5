"""A nurse's morning in a real browser: board, patient, a refill with a unit slip, an alert."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from accounts.models import Role
from refills import services
from reminders.models import Alert, AlertState
from tests.dashboard.conftest import fill
from tests.factories import PatientFactory, PumpFactory, staff

# serialized_rollback restores the migrated catalogues the flush would otherwise empty.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PASSWORD = "correct horse battery"  # noqa: S105


@pytest.fixture
def clinic_day(db):
    """An invented clinic with a mix of patients, and a nurse who can sign in."""
    from tests.factories import ClinicFactory

    clinic = ClinicFactory(name="Riverside ITB Clinic", phone="+16175550100")
    nurse = staff(clinic, Role.NURSE, username="nina", first_name="Nina", last_name="Nurse")
    nurse.set_password(PASSWORD)
    nurse.save()
    people = [
        ("Quill", "Avery", 80, {}),  # past the conservative alarm: critical
        ("Marsh", "Bianca", 68, {"sci_t6_or_above": True}),  # unbooked, due soon: high
        ("Okafor", "Chidi", 60, {}),  # moderate
        ("Lindqvist", "Dana", 30, {}),  # low
        ("Petrov", "Elena", 45, {"transport_barrier": True, "hearing_impairment": True}),
    ]
    pumps = {}
    for family, given, days_ago, risk in people:
        patient = PatientFactory(clinic=clinic, family_name=family, given_name=given, **risk)
        pumps[family] = fill(PumpFactory(patient=patient), nurse, days_ago=days_ago)
    day = timezone.localdate() + dt.timedelta(days=20)
    services.appointment_book(
        pump=pumps["Lindqvist"],
        by=nurse,
        scheduled_start=dt.datetime.combine(day, dt.time(10, 30), tzinfo=clinic.tz),
    )
    return {"clinic": clinic, "nurse": nurse, "pumps": pumps}


def _login(page, live_server):
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill("nina")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")


def test_nurse_refills_an_at_risk_patient_and_books_the_next_visit(
    page, live_server, clinic_day, artifacts
):
    _login(page, live_server)

    # The board: the at-risk patient is near the top, with the reason and "Not booked".
    board = page.locator("table.board-table tbody")
    row = board.locator("tr", has_text="Marsh, Bianca")
    assert "High" in row.locator(".tier-badge").inner_text()
    assert "Not booked" in row.inner_text()
    first = board.locator("tr").first.locator(".patient-link").inner_text()
    assert first.startswith("Quill")
    page.screenshot(path=str(artifacts / "board.png"), full_page=True)

    row.get_by_role("link", name="Marsh, Bianca").click()
    page.wait_for_selector("svg.reservoir-chart")
    assert page.locator("h1").inner_text().startswith("Bianca Marsh")
    page.screenshot(path=str(artifacts / "patient.png"), full_page=True)

    # Record the refill: 68 days at 0.2 mL/day leaves 6.4 mL of 20.
    page.get_by_role("link", name="Record a refill").first.click()
    page.get_by_label("Residual aspirated (mL)").fill("6.4")
    page.get_by_label("Lot number").fill("LOT-2000-77")
    lot_expiry = dt.date.today() + dt.timedelta(days=365)
    page.get_by_label("Lot expiry").fill(lot_expiry.isoformat())
    page.get_by_label("Volume added (mL)").fill("20")
    page.get_by_label("Programmed reservoir volume (mL)").fill("20")
    page.get_by_label("How needle placement was confirmed").select_option("template_stop")
    page.get_by_label(re.compile("Needle placement in the reservoir confirmed")).check()
    page.get_by_label(re.compile("Withdrawal and overdose signs reviewed")).check()
    # The unit slip: "2" typed into a mcg/mL field.
    page.get_by_label(re.compile(r"^\s*Concentration\s*\*?\s*$")).fill("2")
    prompt = page.locator("#refill-preview").get_by_text(
        re.compile("did you mean 2 mg/mL = 2000 mcg/mL", re.I)
    )
    prompt.wait_for()
    page.screenshot(path=str(artifacts / "refill-unit-error.png"), full_page=True)

    # Saving anyway shows the same message in place, under the concentration.
    page.get_by_role("button", name="Save the refill").click()
    in_place = page.locator("#div_id_concentration")
    assert re.search("did you mean 2 mg/mL = 2000 mcg/mL", in_place.inner_text(), re.I)

    # Correct it with the unit picker; the preview now shows the dates and the constraint.
    page.get_by_label("Concentration unit").select_option("mg/mL")
    page.locator("#refill-preview .preview-refill-by").wait_for()
    preview = page.locator("#refill-preview").inner_text()
    assert "Expected now" in preview and "6.4 mL" in preview
    assert "conservative alarm date minus the margin" in preview
    assert not re.search("did you mean", preview, re.I)
    page.get_by_role("button", name="Save the refill").click()

    # Saved: the latest safe date is proposed and booked in one click.
    page.wait_for_selector(".proposed-date")
    assert "Refill recorded" in page.locator(".messages").inner_text()
    proposed = page.locator(".proposed-date").inner_text()
    page.screenshot(path=str(artifacts / "refill-saved.png"), full_page=True)
    page.locator("#book-proposed").click()
    page.wait_for_selector(".messages")
    assert "Refill appointment booked for" in page.locator(".messages").inner_text()
    assert proposed in page.locator(".appointment-row").first.inner_text()

    page.screenshot(path=str(artifacts / "patient-after-refill.png"), full_page=True)
    page.get_by_role("link", name="Emergency card").click()
    card = page.locator("article.emergency-card").inner_text()
    assert "go to the emergency department" in card and "Seizures" in card
    page.screenshot(path=str(artifacts / "emergency-card.png"), full_page=True)

    pump = clinic_day["pumps"]["Marsh"]
    pump.forecast.refresh_from_db()
    assert pump.forecast.booked_before_refill_by
    assert pump.refills.latest("performed_at").concentration_mcg_per_ml == 2000

    # Acknowledge an alert in the inbox.
    page.get_by_role("link", name=re.compile("^Alerts")).click()
    card = page.locator("article.alert-card", has_text="Quill").first
    alert_id = int(card.get_attribute("id").split("-")[1])
    card.get_by_role("button", name="Acknowledge").click()
    page.wait_for_selector(".messages")
    assert "Alert acknowledged" in page.locator(".messages").inner_text()
    assert Alert.objects.get(pk=alert_id).state == AlertState.ACKNOWLEDGED
    page.screenshot(path=str(artifacts / "alerts.png"), full_page=True)

    page.get_by_role("link", name="Calendar").click()
    due = page.locator("section[aria-labelledby=due-heading]").inner_text()
    assert "1 refill overdue" in due  # Avery Quill
    page.screenshot(path=str(artifacts / "calendar.png"), full_page=True)

    # No script error and no Content-Security-Policy refusal on any page visited.
    assert not page.problems, page.problems
