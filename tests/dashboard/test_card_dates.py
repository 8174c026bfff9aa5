"""The emergency card (HTML and PDF) and the patient page tell what today says about each
date (issue 8: no date may be calmer than the truth; domain.md §4.3, §7.1 #9): ERI and end of
service are shown, a pump past end of service "may have stopped delivering", alarm dates after
it are marked as not reachable, every date already passed is flagged, and the card says when
it was printed."""

import datetime as dt
import re

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from refills import services
from tests.conftest import program_input, refill_input
from tests.dashboard import test_emergency_card_contents as card_contents
from tests.factories import PatientFactory, PumpFactory

ZONE = "America/New_York"
# Tue 1 Dec 2026, 14:05 in New York.
NOW = dt.datetime(2026, 12, 1, 19, 5, tzinfo=dt.UTC)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _both(client, patient) -> tuple[str, str]:
    """The card's HTML and PDF text; the PDF's em dash (WinAnsi octal 227) read as itself."""
    html, pdf = card_contents._both(client, patient)
    return html, pdf.replace("\\227", "—")


def _day(when) -> str:
    from zoneinfo import ZoneInfo

    if isinstance(when, dt.datetime):
        when = when.astimezone(ZoneInfo(ZONE)).date()
    return f"{when:%a} {when.day} {when:%b %Y}"


def _filled(patient, by, *, filled_at, dose, **pump_fields):
    pump = PumpFactory(patient=patient, implanted_on=dt.date(2022, 3, 1), **pump_fields)
    services.program_start(
        pump=pump, by=by, program=program_input(dose, 2000), effective_from=filled_at
    )
    services.refill_record(
        pump=pump, by=by, data=refill_input(performed_at=filled_at, residual="3", added="20")
    )
    pump.refresh_from_db()
    return pump


@pytest.fixture
def traveller():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def past_eos(traveller, clinic, nurse):
    """ERI 1 Sep 2026, so end of service 30 Nov 2026; filled 1 Oct at 200 mcg/day, so the
    alarm dates fall in 2027, after the pump stops."""
    clinic.timezone = ZONE
    clinic.save(update_fields=["timezone"])
    patient = PatientFactory(clinic=clinic)
    filled_at = dt.datetime(2026, 10, 1, 14, 0, tzinfo=dt.UTC)
    return _filled(patient, nurse, filled_at=filled_at, dose=200, eri_on=dt.date(2026, 9, 1))


@pytest.fixture
def overdue(traveller, clinic, nurse):
    """Filled 20 Aug 2026 at 400 mcg/day: refill-by, both alarms and empty all before today."""
    clinic.timezone = ZONE
    clinic.save(update_fields=["timezone"])
    patient = PatientFactory(clinic=clinic)
    filled_at = dt.datetime(2026, 8, 20, 14, 0, tzinfo=dt.UTC)
    return _filled(patient, nurse, filled_at=filled_at, dose=400)


def _patient_page(client, patient) -> str:
    return _text(client.get(reverse("dashboard:patient", args=[patient.pk])).content.decode())


def test_card_past_end_of_service_says_the_pump_may_have_stopped(as_user, nurse, past_eos):
    client = as_user(nurse)
    forecast = past_eos.forecast
    assert forecast.alarm_at.date() > dt.date(2027, 1, 1)  # the scenario of the report
    for text in _both(client, past_eos.patient):
        assert "The pump may have stopped delivering: end of service was Mon 30 Nov 2026." in text
        assert "Tue 1 Sep 2026" in text  # ERI
        assert "End of service Mon 30 Nov 2026" in text
        # The alarm dates stay readable and are marked as not reachable.
        for when in (forecast.conservative_alarm_at, forecast.alarm_at):
            assert (
                f"{_day(when)} (the pump stops before this date (end of service Mon 30 Nov 2026))"
                in text
            )
        assert "Refill by Mon 30 Nov 2026 (passed — refill overdue)" in text


def test_card_of_an_overdue_patient_flags_every_passed_date(as_user, nurse, overdue):
    client = as_user(nurse)
    forecast = overdue.forecast
    today = dt.date(2026, 12, 1)
    assert forecast.refill_by < today
    assert forecast.empty_at.date() < today
    for text in _both(client, overdue.patient):
        assert f"Refill by {_day(forecast.refill_by)} (passed — refill overdue)" in text
        for when in (forecast.conservative_alarm_at, forecast.alarm_at):
            assert f"{_day(when)} (passed — the reservoir may be at/below the alarm volume)" in text
        # The fast-pump empty date: the earlier of the two, so the warning is never late.
        assert forecast.conservative_empty_at <= forecast.empty_at
        assert (
            "The reservoir may be empty: its projected empty date if the pump runs fast, "
            f"{_day(forecast.conservative_empty_at)}, has passed." in text
        )


def test_card_says_when_it_was_printed(as_user, nurse, overdue):
    client = as_user(nurse)
    for text in _both(client, overdue.patient):
        assert f"Printed Tue 1 Dec 2026, 14:05 ({ZONE})" in text


def test_a_card_with_nothing_passed_flags_nothing(as_user, nurse, clinic, traveller):
    patient = PatientFactory(clinic=clinic)
    filled_at = timezone.now() - dt.timedelta(days=5)
    _filled(patient, nurse, filled_at=filled_at, dose=400)
    for text in _both(as_user(nurse), patient):
        assert "passed" not in text
        assert "may have stopped" not in text
        assert "stops before this date" not in text
        assert "may be empty" not in text


def test_patient_page_past_end_of_service(as_user, nurse, past_eos):
    text = _patient_page(as_user(nurse), past_eos.patient)
    assert "The pump may have stopped delivering: end of service was Mon 30 Nov 2026." in text
    assert "the pump stops before this date (end of service Mon 30 Nov 2026)" in text
    assert "refill overdue" in text


def test_patient_page_of_an_overdue_patient(as_user, nurse, overdue):
    text = _patient_page(as_user(nurse), overdue.patient)
    assert "refill overdue" in text
    assert "the reservoir may be at/below the alarm volume" in text
    assert "The reservoir may be empty" in text
