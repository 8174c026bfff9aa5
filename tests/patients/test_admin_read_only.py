"""The Django admin saves rows directly (no service, no signal): the fields that move a
stored forecast, a risk tier or a pump's lifecycle are read-only there on an existing row,
so an operator's edit can never leave a forecast, a booking or an alert stale."""

import pytest
from django.contrib import admin
from django.urls import reverse

from accounts.models import User
from patients.admin import (
    CLINIC_FIELDS_OWNED_BY_SERVICES,
    PATIENT_FIELDS_OWNED_BY_SERVICES,
    PUMP_FIELDS_OWNED_BY_SERVICES,
    PUMP_MODEL_FIELDS_IN_FORECASTS,
)
from patients.models import Clinic, Patient, Pump, PumpModel, PumpStatus
from refills.models import PumpForecast


@pytest.fixture
def operator(db):
    return User.objects.create_superuser("operator", "operator@example.org", "unused-pass-123")


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (Clinic, CLINIC_FIELDS_OWNED_BY_SERVICES),
        (PumpModel, PUMP_MODEL_FIELDS_IN_FORECASTS),
        (Patient, PATIENT_FIELDS_OWNED_BY_SERVICES),
        (Pump, PUMP_FIELDS_OWNED_BY_SERVICES),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_forecast_and_lifecycle_fields_are_read_only_on_an_existing_row(
    rf, operator, filled_pump, model, fields
):
    request = rf.get("/")
    request.user = operator
    row = {
        Clinic: filled_pump.patient.clinic,
        PumpModel: filled_pump.model,
        Patient: filled_pump.patient,
        Pump: filled_pump,
    }[model]
    readonly = admin.site._registry[model].get_readonly_fields(request, row)
    assert set(fields) <= set(readonly)
    # A new clinic or pump model is set up in full.
    if model in (Clinic, PumpModel):
        assert not set(fields) & set(admin.site._registry[model].get_readonly_fields(request))


def test_an_operators_pump_save_cannot_change_its_status_or_alarm_volume(
    client, as_user, operator, filled_pump
):
    forecast_before = PumpForecast.objects.get(pump=filled_pump)
    response = as_user(operator).post(
        reverse("admin:patients_pump_change", args=[filled_pump.pk]),
        {
            "serial_number": "OP-FIXED-1",
            "status": PumpStatus.EXPLANTED,
            "alarm_volume_ml": "5.0",
            "explanted_on": "2020-01-01",
            "_save": "Save",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    filled_pump.refresh_from_db()
    assert filled_pump.serial_number == "OP-FIXED-1"  # a typo is still the operator's to fix
    assert filled_pump.status == PumpStatus.ACTIVE
    assert filled_pump.explanted_on is None
    assert PumpForecast.objects.get(pump=filled_pump).refill_by == forecast_before.refill_by


def test_pumps_are_implanted_on_the_patients_page_not_in_the_admin(rf, operator):
    request = rf.get("/")
    request.user = operator
    assert not admin.site._registry[Pump].has_add_permission(request)
