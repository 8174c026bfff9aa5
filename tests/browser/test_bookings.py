"""Bookings that respect the clinic, in a real browser at desktop and phone widths.

A manager records a holiday on the clinic's Closures page (signing in with a real TOTP
code); a nurse tries to book on it at 06:00, reads why not, gives a reason and books;
the patient page shows the reason; the calendar greys the closed day and its weekly
counts lead to those patients. No page scrolls sideways at 390 px.
"""

import datetime as dt

import pytest
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Role
from tests.dashboard.conftest import fill
from tests.factories import ClinicFactory, PatientFactory, PumpFactory, staff

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PASSWORD = "correct horse battery"  # noqa: S105
WIDTHS = {"desktop": 1366, "phone": 390}


@pytest.fixture
def clinic_week(db):
    clinic = ClinicFactory(
        name="Harbourside ITB Clinic",
        working_days="01234",
        day_starts=dt.time(9),
        day_ends=dt.time(17),
    )
    nurse = staff(clinic, Role.NURSE, username="nora", first_name="Nora", last_name="Nurse")
    manager = staff(clinic, Role.MANAGER, username="mona", first_name="Mona", last_name="Manager")
    for user in (nurse, manager):
        user.set_password(PASSWORD)
        user.save()
    device = TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)
    patient = PatientFactory(clinic=clinic, family_name="Wexford", given_name="Imogen")
    pump = fill(PumpFactory(patient=patient), nurse, days_ago=20)
    today = timezone.localdate(timezone=clinic.tz)
    # A Wednesday at least a week ahead: the holiday.
    holiday = today + dt.timedelta(days=(2 - today.weekday()) % 7 + 7)
    return {
        "clinic": clinic,
        "patient": patient,
        "pump": pump,
        "device": device,
        "holiday": holiday,
    }


def _context(browser, width):
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    return context, page


def _sign_in(page, live_server, username, device=None):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if device is not None:
        page.wait_for_url("**/two-factor/**")
        token = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()
        page.get_by_label("6-digit code from your authenticator app").fill(f"{token:06d}")
        page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"{live_server.url}/")


def _no_sideways_scroll(page, where):
    wide = page.evaluate("document.documentElement.scrollWidth")
    seen = page.evaluate("document.documentElement.clientWidth")
    assert wide <= seen, f"{where} scrolls sideways: {wide} px in {seen} px"


@pytest.mark.parametrize("label", list(WIDTHS))
def test_a_holiday_and_a_booking_outside_hours(browser, live_server, clinic_week, artifacts, label):
    width = WIDTHS[label]
    clinic, patient, holiday = clinic_week["clinic"], clinic_week["patient"], clinic_week["holiday"]
    shot = lambda page, name: page.screenshot(  # noqa: E731
        path=str(artifacts / f"bookings-{name}-{width}.png"), full_page=True
    )

    # The manager records the holiday.
    context, page = _context(browser, width)
    _sign_in(page, live_server, "mona", clinic_week["device"])
    page.goto(f"{live_server.url}/clinic/{clinic.pk}/closures/")
    page.get_by_label("First day closed").fill(holiday.isoformat())
    page.get_by_label("Reason").fill("Harbour festival (public holiday)")
    page.get_by_role("button", name="Add the closure").click()
    row = page.locator(".closure-row", has_text="Harbour festival (public holiday)")
    row.wait_for()
    assert f"{holiday:%a} {holiday.day} {holiday:%b %Y}" in row.inner_text()
    _no_sideways_scroll(page, "closures page")
    shot(page, "closures")
    context.close()

    # The nurse books on it at 06:00: told why, gives a reason, books.
    context, page = _context(browser, width)
    _sign_in(page, live_server, "nora")
    page.goto(f"{live_server.url}/patients/{patient.pk}/appointments/new/")
    assert "Latest safe date proposed" in page.locator("main").inner_text()
    _no_sideways_scroll(page, "booking form")
    shot(page, "form")
    page.get_by_label("Date").fill(holiday.isoformat())
    page.get_by_label("Time").fill("06:00")
    page.get_by_role("button", name="Book").click()
    errors = page.locator("#div_id_day").inner_text()
    assert "The clinic is closed on" in errors and "Harbour festival" in errors
    # The hours are the time's problem, so that message sits under Time.
    time_errors = page.locator("#div_id_time").inner_text()
    assert "06:00 is outside the clinic's opening hours (09:00 to 17:00" in time_errors
    _no_sideways_scroll(page, "booking warning")
    shot(page, "warning")
    page.get_by_label("Override reason").fill("Festival shuttle is the patient's only transport")
    page.get_by_role("button", name="Book").click()
    page.wait_for_url(f"{live_server.url}/patients/{patient.pk}/")
    note = page.locator(".booking-override").first.inner_text()
    assert "Booked anyway: Festival shuttle is the patient's only transport" in note
    _no_sideways_scroll(page, "patient page")
    shot(page, "patient")

    # The calendar greys the holiday (with the booking to move) and links its counts.
    page.goto(f"{live_server.url}/calendar/?day={holiday.isoformat()}")
    closed = page.locator(".calendar-closed")
    assert "Closed: Harbour festival (public holiday)" in closed.inner_text()
    assert "Wexford, Imogen" in closed.inner_text()
    assert page.locator(".calendar-day").count() == 5  # the weekend is not shown
    _no_sideways_scroll(page, "calendar")
    shot(page, "calendar")
    page.locator("a.due-link").first.click()
    page.wait_for_selector(".due-window")
    assert "Wexford" in page.locator("main").inner_text()
    _no_sideways_scroll(page, "board from the calendar")
    shot(page, "board-due-week")
    context.close()
