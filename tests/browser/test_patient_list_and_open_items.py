"""Issue 12 #1, #2 and #6 in a real browser, at 1366 px and 390 px: the patient list
finds a patient without a pump, says who no reminder can reach, and the tier leads to
what is open for the patient."""

import datetime as dt

import pytest

from accounts.models import Role
from refills import services
from refills.models import ReportKind
from tests.dashboard.conftest import fill
from tests.factories import ClinicFactory, PatientFactory, PumpFactory, staff

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PASSWORD = "correct horse battery"  # noqa: S105
WIDTHS = (1366, 390)


@pytest.fixture
def people(db):
    clinic = ClinicFactory(name="Riverside ITB Clinic")
    nurse = staff(clinic, Role.NURSE, username="nina")
    nurse.set_password(PASSWORD)
    nurse.save()
    symptomatic = PatientFactory(clinic=clinic, family_name="Marsh", given_name="Bianca")
    pump = fill(PumpFactory(patient=symptomatic), nurse, days_ago=20)
    services.pump_report_record(
        pump=pump, by=nurse, kind=ReportKind.WITHDRAWAL_SYMPTOMS, details="Itching, fever"
    )
    newcomer = PatientFactory(
        clinic=clinic,
        family_name="Quennell-Abernathy-Lindqvist",
        given_name="Nora",
        date_of_birth=dt.date(1971, 12, 1),
        consent_sms=False,
        consent_email=False,
    )
    return {"symptomatic": symptomatic, "newcomer": newcomer}


def _login(page, live_server):
    page.goto(f"{live_server.url}/")
    page.get_by_label("Username").fill("nina")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")


def _no_sideways_scroll(page, width):
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} scrolls sideways at {width} px ({scroll} px wide)"


def test_patient_list_and_open_items_at_desktop_and_phone_width(
    page, live_server, people, artifacts
):
    _login(page, live_server)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        # The board's search finds no pump, and points to the patient list.
        page.goto(f"{live_server.url}/?q=Nora")
        assert "Nobody matches" in page.content()
        assert page.locator(".unreachable-count").is_visible()
        page.locator(".untracked-matches a").click()
        page.wait_for_url("**/patients/?q=Nora")
        row = page.locator(".patient-row").first
        assert "Quennell-Abernathy-Lindqvist, Nora" in row.inner_text()
        assert "No pump yet" in row.inner_text()
        assert "No reminders will go out: no consented channel" in row.inner_text()
        _no_sideways_scroll(page, width)
        page.screenshot(path=str(artifacts / f"patient-list-{width}.png"), full_page=True)

        # Date of birth as the pages write it.
        page.goto(f"{live_server.url}/patients/")
        page.get_by_label("Search by name, MRN, date of birth or phone").fill("1 Dec 1971")
        page.get_by_role("button", name="Search").click()
        assert page.locator(".patient-row").count() == 1

        # The tier on the patient page leads to what is open, and what closes it.
        page.goto(f"{live_server.url}/patients/{people['symptomatic'].pk}/")
        page.locator("a.tier-badge").click()
        items = page.locator("#open-items")
        assert items.is_visible()
        text = items.inner_text()
        assert "Open pump report" in text and "holds the tier" in text
        assert "Resolve: Withdrawal symptoms reported" in text
        _no_sideways_scroll(page, width)
        items.screenshot(path=str(artifacts / f"open-items-{width}.png"))
        page.screenshot(path=str(artifacts / f"patient-open-items-{width}.png"))
    assert not page.problems, page.problems
