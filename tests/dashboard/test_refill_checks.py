"""The refill page and the patient page for the post-fill (pocket fill) check, the
discrepancy trend, and a refill of a pump on a flex program."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from refills import services
from refills.models import DosingMode, DrugProgram, Refill
from reminders.models import Alert
from tests.conftest import program_input, refill_input
from tests.factories import PatientFactory, PumpFactory, sensor_pump_model


def _local(value: dt.datetime, clinic) -> str:
    return timezone.localtime(value, clinic.tz).strftime("%Y-%m-%dT%H:%M")


def refill_post(pump, **changes) -> dict:
    """A correct refill of a 20 mL pump filled 30 days ago at 0.2 mL/day: 14 mL left."""
    data = {
        "performed_at": _local(timezone.now() - dt.timedelta(minutes=2), pump.patient.clinic),
        "actual_residual_ml": "14",
        "residual_left_ml": "0",
        "product": "Gablofen",
        "concentration": "2000",
        "concentration_unit": "mcg/mL",
        "lot_number": "LOT-42",
        "lot_expiry": (timezone.localdate() + dt.timedelta(days=365)).isoformat(),
        "volume_added_ml": "20",
        "resulting_volume_ml": "20",
        "needle_placement": "template_stop",
        "needle_placement_confirmed": "on",
        "symptom_screen_done": "on",
    }
    data.update(changes)
    return data


def urls(pump):
    return (
        reverse("dashboard:refill_create", args=[pump.patient_id]),
        reverse("dashboard:refill_preview", args=[pump.patient_id]),
    )


@pytest.fixture
def sensor_pump(clinic, nurse):
    pump = PumpFactory(patient=PatientFactory(clinic=clinic), model=sensor_pump_model())
    start = timezone.now() - dt.timedelta(days=30)
    services.program_start(
        pump=pump, by=nurse, program=program_input(400, 2000), effective_from=start
    )
    services.refill_record(
        pump=pump, by=nurse, data=refill_input(performed_at=start, residual="3", added="20")
    )
    return pump


# --------------------------------------------------------------------------- post-fill check


def test_the_measured_volume_is_asked_only_for_pumps_with_a_sensor(
    nurse_client, sensor_pump, filled_pump
):
    field = 'name="measured_volume_after_fill_ml"'
    assert field in nurse_client.get(urls(sensor_pump)[0]).content.decode()
    assert field not in nurse_client.get(urls(filled_pump)[0]).content.decode()


def test_preview_warns_of_a_possible_pocket_fill(nurse_client, sensor_pump):
    html = nurse_client.post(
        urls(sensor_pump)[1], refill_post(sensor_pump, measured_volume_after_fill_ml="18.5")
    ).content.decode()
    assert "Possible pocket fill: the pump measured 1.5 mL less than was programmed" in html
    assert 'data-code="possible_pocket_fill"' in html
    assert Refill.objects.filter(pump=sensor_pump).count() == 1  # the preview writes nothing


def test_a_possible_pocket_fill_is_refused_without_a_reason_and_saved_with_one(
    nurse_client, sensor_pump
):
    url = urls(sensor_pump)[0]
    data = refill_post(sensor_pump, measured_volume_after_fill_ml="18.5")
    response = nurse_client.post(url, data)
    assert response.status_code == 200
    assert "Possible pocket fill" in response.content.decode()
    assert Refill.objects.filter(pump=sensor_pump).count() == 1

    data["override_reason"] = "Pocket aspirated; physician informed; observing."
    response = nurse_client.post(url, data)
    assert response.status_code == 302
    refill = Refill.objects.filter(pump=sensor_pump).latest()
    assert refill.pocket_fill_suspected and refill.measured_volume_after_fill_ml == Decimal("18.5")
    assert Alert.objects.get(pump=sensor_pump, kind="pocket-fill").severity == 4

    page = nurse_client.get(reverse("dashboard:patient", args=[sensor_pump.patient_id]))
    html = page.content.decode()
    assert "pump measured 18.5 mL" in html
    assert 'class="small fw-semibold pocket-fill-flag">Possible pocket fill' in html


# --------------------------------------------------------------------------- trend


def test_the_patient_page_marks_a_discrepancy_trend(nurse_client, pump, nurse):
    start = timezone.now() - dt.timedelta(days=120)
    services.program_start(
        pump=pump, by=nurse, program=program_input(400, 2000), effective_from=start
    )
    for days_ago, residual in ((120, "3"), (60, "9.5")):
        services.refill_record(
            pump=pump,
            by=nurse,
            data=refill_input(
                performed_at=timezone.now() - dt.timedelta(days=days_ago), residual=residual
            ),
        )
    preview = nurse_client.post(urls(pump)[1], refill_post(pump, actual_residual_ml="9.5"))
    assert "Second discrepancy in a row in the same direction (+1.5 mL" in preview.content.decode()
    services.refill_record(
        pump=pump,
        by=nurse,
        data=refill_input(
            residual="9.5",
            discrepancy_assessment="Small under-delivery twice; side-port study booked.",
            discrepancy_action="workup",
        ),
    )
    html = nurse_client.get(reverse("dashboard:patient", args=[pump.patient_id])).content.decode()
    assert "Second same-direction discrepancy in a row: trend towards under-delivery" in html
    assert "side-port study booked" in html


# --------------------------------------------------------------------------- flex programs


def test_a_dose_change_on_the_refill_form_cannot_replace_flex_steps(nurse_client, flex_pump):
    programs = DrugProgram.objects.count()
    refills = Refill.objects.count()
    data = refill_post(flex_pump, new_daily_dose_mcg="450", program_change_reason="Tone")
    response = nurse_client.post(urls(flex_pump)[0], data)
    assert response.status_code == 200
    assert "This pump runs a flex program" in response.content.decode()
    assert (DrugProgram.objects.count(), Refill.objects.count()) == (programs, refills)


def test_a_refill_without_a_dose_change_keeps_the_flex_steps(nurse_client, flex_pump):
    response = nurse_client.post(
        urls(flex_pump)[0], refill_post(flex_pump, actual_residual_ml="14")
    )
    assert response.status_code == 302
    program = DrugProgram.objects.filter(pump=flex_pump).latest()
    assert program.mode == DosingMode.FLEX
    assert program.flex_steps.count() == 2


def test_the_patient_page_lists_the_flex_steps(nurse_client, flex_pump):
    html = nurse_client.get(reverse("dashboard:patient", args=[flex_pump.patient_id])).content
    html = html.decode()
    assert "00:00 for 8 h at 15 mcg/h" in html
    assert "08:00 for 16 h at 17.5 mcg/h" in html


def test_a_clock_change_notice_shows_for_flex_programs_only(as_user, flex_pump, nurse, clinic):
    import time_machine

    from tests.conftest import verify_second_factor

    simple = PumpFactory(patient=PatientFactory(clinic=clinic))
    start = timezone.now() - dt.timedelta(days=1)
    services.program_start(
        pump=simple, by=nurse, program=program_input(400, 2000), effective_from=start
    )
    services.refill_record(
        pump=simple, by=nurse, data=refill_input(performed_at=start, residual="3", added="20")
    )
    # Find the next change in the test clinic's zone, then look at the pages a week before
    # it (signed in again there: a months-long jump ends the idle session).
    from refills.clock import clock_change_near

    change = clock_change_near(flex_pump.clock_tz, timezone.now(), days_before=400, days_after=0)
    for when, shown in (
        (change.at - dt.timedelta(days=7), True),
        (change.at + dt.timedelta(days=20), False),
    ):
        with time_machine.travel(when, tick=False):
            client = as_user(nurse)
            verify_second_factor(client, nurse)
            flex_page = reverse("dashboard:patient", args=[flex_pump.patient_id])
            html = client.get(flex_page).content.decode()
            assert ("Check the pump clock against local time" in html) is shown
            refill_page = client.get(urls(flex_pump)[0]).content.decode()
            assert ("Check the pump clock against local time" in refill_page) is shown
            simple_page = client.get(reverse("dashboard:patient", args=[simple.patient_id]))
            assert "Check the pump clock" not in simple_page.content.decode()
