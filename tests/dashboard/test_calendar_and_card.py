"""Calendar day and week lists, refills due per week; the emergency card (HTML and PDF)."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from dashboard.selectors.clinics import clinic_today
from refills import services

CALENDAR = reverse("dashboard:calendar")


def test_week_and_day_lists(nurse_client, filled_pump, nurse, clinic):
    start = timezone.now() + dt.timedelta(days=1)
    services.appointment_book(pump=filled_pump, by=nurse, scheduled_start=start)
    local = timezone.localtime(start, clinic.tz)
    name = filled_pump.patient.family_name
    week = nurse_client.get(CALENDAR, {"day": local.date().isoformat()}).content.decode()
    assert name in week
    assert f"{local:%a} {local.day} {local:%b %Y}" in week
    day = nurse_client.get(
        CALENDAR, {"view": "day", "day": local.date().isoformat()}
    ).content.decode()
    assert name in day
    other_day = (local.date() + dt.timedelta(days=1)).isoformat()
    empty = nurse_client.get(CALENDAR, {"view": "day", "day": other_day}).content.decode()
    assert name not in empty
    assert "Nothing booked." in empty


def test_refills_due_per_week(nurse_client, filled_pump):
    html = nurse_client.get(CALENDAR).content.decode()
    assert "Refills due, next 12 weeks" in html
    rows = html.split('class="table table-sm mb-0 small due-weeks"')[1].split("</tbody>")[0]
    assert rows.count("<tr>") == 13  # header + 12 weeks
    refill_by = filled_pump.forecast.refill_by
    monday = refill_by - dt.timedelta(days=refill_by.weekday())
    row = rows.split(f"{monday:%a} {monday.day} {monday:%b %Y}")[1].split("</tr>")[0]
    # Due that week, and not booked: each count a link to those patients on the board.
    assert re.search(r'<td class="text-end"><a class="due-link" href="[^"]+"[^>]*>1</a></td>', row)
    assert re.search(r'fw-semibold"><a class="link-danger unbooked-link" [^>]*>1</a></td>', row)


def test_calendar_hides_other_clinics(nurse_client, other_pump, nurse, filler):
    filler(other_pump, nurse, days_ago=10)
    services.appointment_book(
        pump=other_pump, by=nurse, scheduled_start=timezone.now() + dt.timedelta(hours=30)
    )
    assert "Elsewhere" not in nurse_client.get(CALENDAR).content.decode()
    assert nurse_client.get(CALENDAR, {"clinic": other_pump.patient.clinic_id}).status_code == 404


def test_emergency_card_html(nurse_client, filled_pump):
    patient = filled_pump.patient
    html = nurse_client.get(reverse("dashboard:emergency_card", args=[patient.pk])).content.decode()
    for text in (
        "Itching",
        "tingling",
        "High fever",
        "Confusion",
        "spasticity getting worse",
        "Seizures",
        "call the clinic now",
        "go to the emergency department",
        "2000 mcg/mL",
        "400 mcg/day",
        "+1 617-555-0100",
        "SynchroMed II",
    ):
        assert text in html, text
    alarm = timezone.localtime(filled_pump.forecast.alarm_at, patient.clinic.tz)
    assert f"{alarm:%a} {alarm.day} {alarm:%b %Y}" in html
    assert "data-print" in html


def test_emergency_card_pdf(nurse_client, filled_pump):
    response = nurse_client.get(
        reverse("dashboard:emergency_card_pdf", args=[filled_pump.patient_id])
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert len(response.content) > 1500


def test_emergency_card_shows_how_a_flex_dose_is_given(nurse_client, flex_pump):
    from dashboard import selectors

    card = selectors.emergency_card(flex_pump.patient)
    assert card.dose_schedule == "00:00 for 8 h at 15 mcg/h; 08:00 for 16 h at 17.5 mcg/h"
    url = reverse("dashboard:emergency_card", args=[flex_pump.patient_id])
    html = nurse_client.get(url).content.decode()
    assert "Given as" in html and "08:00 for 16 h at 17.5 mcg/h" in html


def test_emergency_card_of_a_simple_program_has_no_schedule_line(nurse_client, filled_pump):
    url = reverse("dashboard:emergency_card", args=[filled_pump.patient_id])
    assert "Given as" not in nurse_client.get(url).content.decode()


@pytest.mark.parametrize(
    ("asked", "view", "said"),
    [
        ("2026-13-45", "week", "this week"),
        ("yesterday", "day", "today"),
        ("0001-01-01", "week", "this week"),
    ],
)
def test_an_unreadable_day_is_said_not_silently_replaced(nurse_client, clinic, asked, view, said):
    response = nurse_client.get(reverse("dashboard:calendar"), {"day": asked, "view": view})
    assert response.status_code == 200
    page = response.content.decode()
    assert f"could not be read; showing {said}." in page
    assert response.context["day"] == clinic_today(clinic)


def test_a_readable_day_has_no_notice(nurse_client):
    response = nurse_client.get(reverse("dashboard:calendar"), {"day": "2026-03-04"})
    assert response.context["day"] == dt.date(2026, 3, 4)
    assert b"could not be read" not in response.content
