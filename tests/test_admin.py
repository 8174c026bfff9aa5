"""Django admin works for every registered model (changelist, and add where allowed)."""

import pytest
from django.contrib import admin
from django.urls import reverse

from accounts.models import User
from refills import services
from refills.models import ReportKind
from tests.factories import CaregiverFactory


@pytest.fixture
def every_kind_of_row(filled_pump, physician):
    """At least one row of every registered model, written the way the app writes them."""
    import datetime as dt

    from django.utils import timezone

    CaregiverFactory(patient=filled_pump.patient)
    late = timezone.now() + dt.timedelta(days=200)
    services.appointment_book(
        pump=filled_pump, by=physician, scheduled_start=late, override_reason="Patient abroad"
    )
    services.pump_report_record(pump=filled_pump, by=physician, kind=ReportKind.LOW_RESERVOIR_ALARM)
    return filled_pump


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("admin-test", "admin@example.org", "unused-pass-123")


OWN_APPS = {"accounts", "patients", "refills", "reminders"}


def registered_models(own_only=False):
    models = [m for m in admin.site._registry if not own_only or m._meta.app_label in OWN_APPS]
    return sorted(models, key=lambda m: m._meta.label)


@pytest.mark.parametrize("model", registered_models(), ids=lambda m: m._meta.label)
def test_admin_changelist_opens_for_every_model(
    client, as_user, superuser, every_kind_of_row, model
):
    client = as_user(superuser)
    opts = model._meta
    response = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert response.status_code == 200


@pytest.mark.parametrize("model", registered_models(own_only=True), ids=lambda m: m._meta.label)
def test_admin_change_page_opens_for_an_existing_row(
    client, as_user, superuser, every_kind_of_row, model
):
    row = model._default_manager.first()
    assert row is not None, f"the fixture should create a {model._meta.label} row"
    client = as_user(superuser)
    opts = model._meta
    response = client.get(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk])
    )
    assert response.status_code == 200


def test_clinical_rows_are_read_only_in_admin(as_user, superuser, filled_pump):
    """Refills feed the forecast; editing them in admin would silently move alarm dates."""
    client = as_user(superuser)
    refill = filled_pump.refills.get()
    url = reverse("admin:refills_refill_change", args=[refill.pk])
    response = client.post(url, {"actual_residual_ml": "15"})
    refill.refresh_from_db()
    assert response.status_code == 403
    assert refill.actual_residual_ml != 15
    assert client.get(reverse("admin:refills_refill_add")).status_code == 403
