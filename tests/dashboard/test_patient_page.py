"""The patient page: identity, forecast, chart, refill history, appointments, history."""

import datetime as dt

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from refills import services
from refills.models import PumpForecast
from reminders.models import SweepHeartbeat
from reminders.sweep import sweep_run
from tests.conftest import refill_input
from tests.factories import CaregiverFactory


def _page(client, patient):
    response = client.get(reverse("dashboard:patient", args=[patient.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_patient_page_shows_identity_forecast_and_chart(nurse_client, filled_pump):
    patient = filled_pump.patient
    patient.sci_t6_or_above = True
    patient.save()
    CaregiverFactory(patient=patient, name="Grace Testcarer")
    html = _page(nurse_client, patient)
    assert patient.mrn in html
    assert "Grace Testcarer" in html
    assert "Spinal cord injury at T6 or above" in html
    assert "400 mcg/day" in html
    assert "SynchroMed II" in html
    forecast = filled_pump.forecast
    assert f"{forecast.refill_by:%a} {forecast.refill_by.day} {forecast.refill_by:%b %Y}" in html
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="reservoir-chart"' in html
    assert 'class="chart-alarm"' in html
    assert "chart-marker-refill-by" in html
    assert forecast.risk_reasons[0]["text"] in html


def test_discrepancy_is_highlighted_in_history_and_chart(nurse_client, pump, nurse, filler):
    filler(pump, nurse, days_ago=60)
    # 60 days at 0.2 mL/day from 20 mL leaves 8 mL; 12 mL found is under-delivery.
    services.refill_record(
        pump=pump,
        by=nurse,
        data=refill_input(
            residual="12",
            added="20",
            discrepancy_assessment="Catheter kink suspected",
            discrepancy_action="workup",
        ),
    )
    html = _page(nurse_client, pump.patient)
    assert "table-danger discrepancy-row" in html
    assert "under-delivery, withdrawal risk" in html
    assert "Catheter kink suspected" in html
    assert "chart-residual-flagged" in html


def test_appointments_and_actions_listed(nurse_client, filled_pump, nurse):
    start = timezone.now() + dt.timedelta(days=10)
    appointment = services.appointment_book(pump=filled_pump, by=nurse, scheduled_start=start)
    html = _page(nurse_client, filled_pump.patient)
    assert reverse("dashboard:appointment_reschedule", args=[appointment.pk]) in html
    assert reverse("dashboard:appointment_cancel", args=[appointment.pk]) in html
    assert "✓ before the refill-by date" in html
    assert "chart-appointment" in html


def test_change_history_names_who_changed_what(nurse_client, filled_pump, nurse):
    from patients.services import patient_update

    patient_update(patient=filled_pump.patient, transport_barrier=True)
    html = _page(nurse_client, filled_pump.patient)
    assert "Change history" in html
    assert "Patient details changed" in html
    assert "transport, weather or travel barrier" in html
    assert "Refill created" in html


def test_patient_without_pump_has_empty_states(nurse_client, patient):
    html = _page(nurse_client, patient)
    assert "No active pump" in html
    assert "No refills recorded yet" in html
    assert "Record a refill" not in html


def test_first_fill_pump_invites_a_refill(nurse_client, pump):
    html = _page(nurse_client, pump.patient)
    assert "No fill recorded for this pump yet" in html
    assert reverse("dashboard:refill_create", args=[pump.patient_id]) in html


def _queries(client, patient) -> int:
    with CaptureQueriesContext(connection) as queries:
        _page(client, patient)
    return len(queries)


def test_patient_page_query_count_does_not_grow(nurse_client, pump, nurse, filler):
    filler(pump, nurse, days_ago=100)
    for days in (70, 40):
        services.refill_record(
            pump=pump,
            by=nurse,
            data=refill_input(
                performed_at=timezone.now() - dt.timedelta(days=days),
                residual="14",
                added="20",
            ),
        )
    CaregiverFactory(patient=pump.patient)
    few = _queries(nurse_client, pump.patient)
    # Ten days at 0.2 mL/day leaves 18 of 20 mL, five days 19: no discrepancy.
    for days, residual in ((30, "18"), (20, "18"), (10, "18"), (5, "19")):
        services.refill_record(
            pump=pump,
            by=nurse,
            data=refill_input(
                performed_at=timezone.now() - dt.timedelta(days=days),
                residual=residual,
                added="20",
            ),
        )
    for i in range(3):
        CaregiverFactory(patient=pump.patient, name=f"Carer {i}")
        services.appointment_book(
            pump=pump,
            by=nurse,
            scheduled_start=timezone.now() + dt.timedelta(days=3 + i),
            # A second refill of the same pump needs a reason (bookfix #4).
            override_reason="Several visits planned on purpose",
        )
    many = _queries(nurse_client, pump.patient)
    assert many <= few, (few, many)


def test_patient_page_shows_the_conservative_empty_date_beside_the_nominal_one(
    nurse_client, filled_pump
):
    """Regression (clinician review): "Projected empty" showed only the nominal date,
    about 13 days later here than the date if the pump runs fast."""
    forecast = filled_pump.forecast
    html = _page(nurse_client, filled_pump.patient)
    zone = filled_pump.patient.clinic.tz

    def shown(moment):
        local = timezone.localtime(moment, zone)
        return f"{local:%a} {local.day} {local:%b %Y}, {local:%H:%M}"

    assert forecast.conservative_empty_at < forecast.empty_at
    assert "Projected empty (conservative)" in html
    assert shown(forecast.conservative_empty_at) in html
    assert shown(forecast.empty_at) in html


def test_stale_tier_is_said_not_refreshed_and_shows_the_last_sweep(as_user, nurse, filled_pump):
    """Reads never write: past the stored forecast's reassess moment, the page says the
    tier is due for a re-check and when the sweep last ran; the sweep re-tiers it."""
    stored = PumpForecast.objects.get(pump=filled_pump)
    assert stored.reassess_at is not None
    later = stored.reassess_at + dt.timedelta(days=1)
    with time_machine.travel(later, tick=False):
        html = _page(as_user(nurse), filled_pump.patient)
        assert "Tier due for re-check; no sweep has finished yet" in html
        assert PumpForecast.objects.get(pump=filled_pump).computed_at == stored.computed_at
        SweepHeartbeat.objects.create(
            started_at=later - dt.timedelta(minutes=3),
            finished_at=later - dt.timedelta(minutes=3),
            ok=True,
            report={},
            worker="test",
        )
        html = _page(as_user(nurse), filled_pump.patient)
        assert "Tier due for re-check; last sweep 3\xa0minutes ago" in html
        sweep_run(now=timezone.now(), publish=lambda pk: None)
        html = _page(as_user(nurse), filled_pump.patient)
    assert "Tier due for re-check" not in html
    assert PumpForecast.objects.get(pump=filled_pump).computed_at > stored.computed_at
