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


@pytest.mark.parametrize("model", registered_models(own_only=True), ids=lambda m: m._meta.label)
def test_admin_history_page_opens_for_an_existing_row(
    client, as_user, superuser, every_kind_of_row, model
):
    """Every admin row's "History" link works (the stored forecast's used to be a 500)."""
    row = model._default_manager.first()
    client = as_user(superuser)
    opts = model._meta
    response = client.get(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[row.pk])
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


# --------------------------------------------------------------------------- operators only


def _all_permissions():
    from django.contrib.auth.models import Permission

    return Permission.objects.all()


@pytest.fixture(params=["nurse", "manager"])
def clinic_staff_with_admin_rights(request, clinic):
    """A clinic nurse or manager given staff status and every model permission (view,
    add, change, delete): what the admin honoured before it became operators-only."""
    from accounts.models import Role
    from tests.factories import staff

    user = staff(clinic, Role.NURSE if request.param == "nurse" else Role.MANAGER)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.set(_all_permissions())
    return user


def _admin_urls(model):
    opts = model._meta
    urls = [
        reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
        reverse(f"admin:{opts.app_label}_{opts.model_name}_add"),
    ]
    row = model._default_manager.first()
    if row is not None:
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk]))
    return urls


def _refused(response) -> bool:
    if response.status_code == 403:
        return True
    return response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("model", registered_models(), ids=lambda m: m._meta.label)
def test_clinic_staff_with_admin_rights_get_no_admin_page(
    as_user, clinic_staff_with_admin_rights, every_kind_of_row, model
):
    client = as_user(clinic_staff_with_admin_rights)
    for url in _admin_urls(model):
        get = client.get(url)
        assert _refused(get), (url, get.status_code)
        post = client.post(url, {})
        assert _refused(post), (url, post.status_code)
    index = client.get(reverse("admin:index"))
    assert _refused(index)


def test_clinic_manager_cannot_change_a_clinic_in_the_admin(
    as_user, clinic_staff_with_admin_rights, clinic
):
    from tests.factories import ClinicFactory

    other = ClinicFactory(phone="+16175550111")
    client = as_user(clinic_staff_with_admin_rights)
    url = reverse("admin:patients_clinic_change", args=[other.pk])
    client.post(url, {"name": other.name, "timezone": "UTC", "phone": "+16175550999"})
    other.refresh_from_db()
    assert other.phone == "+16175550111"


def test_superuser_without_second_factor_gets_no_admin_page(client, superuser, every_kind_of_row):
    client.force_login(superuser)
    response = client.get(reverse("admin:patients_patient_changelist"))
    # Sent to two-factor set-up first; the admin itself also refuses an unverified session.
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:otp_setup"))


def test_operator_only_requires_a_verified_active_superuser(rf, superuser, nurse):
    from accounts.admin import operator_only

    request = rf.get("/admin/")
    request.user = superuser
    superuser.is_verified = lambda: True
    assert operator_only(request)
    superuser.is_verified = lambda: False
    assert not operator_only(request)
    nurse.is_staff = True
    nurse.is_verified = lambda: True
    request.user = nurse
    assert not operator_only(request)


@pytest.mark.parametrize("model", registered_models(), ids=lambda m: m._meta.label)
def test_superuser_still_opens_every_admin_page(as_user, superuser, every_kind_of_row, model):
    client = as_user(superuser)
    opts = model._meta
    response = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert response.status_code == 200
