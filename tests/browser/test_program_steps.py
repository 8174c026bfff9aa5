"""The flex-step editor in a real browser: mode switch, rows added and removed, live totals."""

import datetime as dt
import re
from decimal import Decimal

import pytest

from accounts.models import Role
from refills.models import DosingMode, DrugProgram
from tests.dashboard.conftest import fill
from tests.factories import ClinicFactory, PatientFactory, PumpFactory, staff

# serialized_rollback restores the migrated catalogues the flush would otherwise empty.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PASSWORD = "correct horse battery"  # noqa: S105


@pytest.fixture
def patient_pump(db):
    clinic = ClinicFactory(name="Riverside ITB Clinic")
    nurse = staff(clinic, Role.NURSE, username="nina")
    nurse.set_password(PASSWORD)
    nurse.save()
    patient = PatientFactory(clinic=clinic, family_name="Marsh", given_name="Bianca")
    return fill(PumpFactory(patient=patient), nurse, days_ago=20)  # 400 mcg/day, simple


def _login(page, live_server):
    page.goto(f"{live_server.url}/")
    page.get_by_label("Username").fill("nina")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")


def _row(page, number: int):
    return page.locator("[data-step-rows] [data-step-row]").nth(number - 1)


def test_nurse_enters_a_flex_program_with_the_keyboard_and_mouse(
    page, live_server, patient_pump, artifacts
):
    _login(page, live_server)
    page.goto(f"{live_server.url}/patients/{patient_pump.patient_id}/program/")

    # Simple mode: the daily dose is shown, the steps are not.
    steps = page.locator("#flex-steps")
    assert steps.is_hidden()
    assert page.get_by_label("Basal daily dose (mcg/day)").is_visible()

    page.get_by_label("Dosing mode").select_option("flex")
    assert steps.is_visible()
    assert page.get_by_label("Basal daily dose (mcg/day)").is_hidden()
    assert page.locator("[data-step-rows] [data-step-row]").count() == 3

    page.get_by_label("Step 1: Starts at").fill("00:00")
    page.get_by_label("Step 1: Duration (hours)").fill("8")
    page.get_by_label("Step 1: Rate (mcg/hour)").fill("15")
    page.get_by_label("Step 2: Starts at").fill("08:00")
    page.get_by_label("Step 2: Duration (hours)").fill("16")
    page.get_by_label("Step 2: Rate (mcg/hour)").fill("20")
    assert _row(page, 1).locator("[data-step-ends]").inner_text() == "08:00"
    assert _row(page, 2).locator("[data-step-dose]").inner_text() == "320"
    assert "24 of 24 hours" in steps.inner_text()
    totals = page.locator("#program-totals")
    assert "440 mcg/day" in totals.locator("[data-total=total]").inner_text()
    assert totals.locator("[data-total=change]").inner_text() == "+10 % (×1.1)"

    # Remove the blank third row; add one, which starts where the last step ends.
    _row(page, 3).get_by_role("button", name="Remove step 3").click()
    assert page.locator("[data-step-rows] [data-step-row]").count() == 2
    assert page.locator("[name=steps-TOTAL_FORMS]").input_value() == "2"
    page.get_by_role("button", name="Add a step").click()
    new_start = page.get_by_label("Step 3: Starts at")
    assert new_start.input_value() == "00:00"
    assert new_start.evaluate("element => element === document.activeElement")
    assert page.locator("[name=steps-2-hours]").count() == 1
    # Removing the first row renumbers the others, names included.
    _row(page, 1).get_by_role("button", name="Remove step 1").click()
    assert page.get_by_label("Step 1: Starts at").input_value() == "08:00"
    assert page.locator("[name=steps-0-rate_mcg_per_hour]").input_value() == "20"
    assert "320 mcg/day" in totals.locator("[data-total=total]").inner_text()
    # Put the night step back, as the last row.
    page.get_by_label("Step 2: Starts at").fill("00:00")
    page.get_by_label("Step 2: Duration (hours)").fill("8")
    page.get_by_label("Step 2: Rate (mcg/hour)").fill("15")
    assert "440 mcg/day" in totals.locator("[data-total=total]").inner_text()
    page.screenshot(path=str(artifacts / "program-flex.png"), full_page=True)

    page.get_by_label(re.compile(r"^\s*Reason for the change")).fill("Night spasms")
    page.get_by_role("button", name="Save the new program").click()
    page.wait_for_selector(".messages")
    assert "Drug program changed" in page.locator(".messages").inner_text()

    program = DrugProgram.objects.filter(pump=patient_pump).latest()
    assert program.mode == DosingMode.FLEX
    assert program.daily_dose_mcg == Decimal(440)
    steps_saved = [(s.starts_at, s.hours, s.rate_mcg_per_hour) for s in program.flex_steps.all()]
    assert steps_saved == [
        (dt.time(0), Decimal(8), Decimal(15)),
        (dt.time(8), Decimal(16), Decimal(20)),
    ]

    # Back on the page: the steps are there, in flex mode, with the same total.
    page.goto(f"{live_server.url}/patients/{patient_pump.patient_id}/program/")
    assert steps.is_visible()
    assert page.get_by_label("Step 2: Starts at").input_value() == "08:00"
    assert "440 mcg/day" in page.locator("[data-total=total]").inner_text()
    assert page.locator("[data-total=change]").inner_text() == "no change"

    assert not page.problems, page.problems


def test_the_ismp_unit_slip_is_shown_before_saving(page, live_server, patient_pump, artifacts):
    _login(page, live_server)
    page.goto(f"{live_server.url}/patients/{patient_pump.patient_id}/program/")
    page.get_by_label("Dosing mode").select_option("flex")
    page.get_by_label("Step 1: Starts at").fill("00:00")
    page.get_by_label("Step 1: Duration (hours)").fill("24")
    page.get_by_label("Step 1: Rate (mcg/hour)").fill("400")
    totals = page.locator("#program-totals")
    assert "9600 mcg/day" in totals.locator("[data-total=total]").inner_text()
    assert totals.locator("[data-total=change]").inner_text() == "+2300 % (×24.0)"

    page.get_by_label(re.compile(r"^\s*Reason for the change")).fill("Titration")
    page.get_by_role("button", name="Save the new program").click()
    errors = page.locator("#flex-steps-errors")
    errors.wait_for()
    assert "from 400 to 9600 mcg/day" in errors.inner_text()
    assert page.locator("#flex-steps").is_visible()
    page.screenshot(path=str(artifacts / "program-flex-ismp.png"), full_page=True)
    assert DrugProgram.objects.filter(pump=patient_pump).count() == 1
    assert not page.problems, page.problems
