"""Manager reports: role-gated, clinic-scoped, and counting what happened."""

import csv
import io

import pytest
from django.urls import reverse

from accounts.models import Role
from tests.factories import ClinicFactory, staff


@pytest.fixture
def manager(clinic):
    return staff(clinic, Role.MANAGER)


def test_reports_page_counts_refills_and_tiers(client, as_user, filled_pump, manager):
    as_user(manager)
    response = client.get(reverse("reports:index"))
    assert response.status_code == 200
    months = response.context["months"]
    assert sum(m.refills for m in months) == 1
    assert response.context["tiers"].total == 1


def test_activity_csv_has_a_row_per_month(client, as_user, filled_pump, manager):
    as_user(manager)
    response = client.get(reverse("reports:activity_csv"))
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][0] == "Month"
    assert len(rows) == 13
    assert sum(int(r[1]) for r in rows[1:]) == 1


@pytest.mark.parametrize("role", [Role.NURSE, Role.SCHEDULER])
def test_reports_are_refused_to_roles_without_them(client, as_user, clinic, role):
    as_user(staff(clinic, role))
    assert client.get(reverse("reports:index")).status_code == 403


def test_another_clinics_report_is_not_found(client, as_user, filled_pump, manager):
    other = ClinicFactory()
    as_user(manager)
    response = client.get(reverse("reports:index"), {"clinic": other.pk})
    assert response.status_code == 404


def test_auditor_exports_the_audit_trail_as_csv(client, as_user, filled_pump, clinic):
    as_user(staff(clinic, Role.AUDITOR))
    response = client.get(reverse("reports:audit"), {"since": "2000-01-01", "format": "csv"})
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][:6] == [
        "when (clinic time)",
        "time zone",
        "record type",
        "record id",
        "record",
        "change",
    ]
    assert any(r[2] == "Refill" and r[5] == "created" for r in rows[1:])


def test_nurse_cannot_export_the_audit_trail(client, as_user, clinic, nurse):
    as_user(nurse)
    assert client.get(reverse("reports:audit")).status_code == 403


@pytest.mark.parametrize("clinic_id", ["99999999999999999999999", "-1", "1e5", "ab", ""])
def test_odd_clinic_ids_are_not_found_never_an_error(
    client, as_user, filled_pump, manager, clinic_id
):
    as_user(manager)
    response = client.get(reverse("reports:index"), {"clinic": clinic_id})
    assert response.status_code == (200 if clinic_id == "" else 404)


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "2025-13-40", "<script>"])
def test_odd_audit_dates_fall_back_to_the_default_window(client, as_user, clinic, day):
    as_user(staff(clinic, Role.AUDITOR))
    response = client.get(reverse("reports:audit"), {"since": day, "until": day})
    assert response.status_code == 200
    assert b"<script>" not in response.content


def test_reports_open_at_the_first_clinic_where_the_role_allows_them(db, as_user):
    """A physician at one clinic who is a nurse at another (earlier by name) is not refused."""
    from django.urls import reverse

    from accounts.models import Membership, Role
    from tests.factories import ClinicFactory, staff

    as_nurse = ClinicFactory(name="Aardvark ITB Clinic")
    as_physician = ClinicFactory(name="Zephyr ITB Clinic")
    user = staff(as_physician, Role.PHYSICIAN)
    Membership.objects.create(user=user, clinic=as_nurse, role=Role.NURSE)
    response = as_user(user).get(reverse("reports:index"))
    assert response.status_code == 200
    assert response.context["clinic"] == as_physician


def test_the_unbooked_count_uses_the_policys_work_queue_window(
    client, as_user, filled_pump, manager
):
    """The window is PUMPTRACK_POLICY WORK_QUEUE_DTA_DAYS (the tier's and alerts' one), and
    the page says which: it used to be a hard-coded 21 days in the selector and the text."""
    import datetime as dt

    from django.conf import settings
    from django.test import override_settings
    from django.utils import timezone

    from refills.models import PumpForecast

    PumpForecast.objects.filter(pump=filled_pump).update(
        refill_by=timezone.localdate() + dt.timedelta(days=30), booked_before_refill_by=False
    )
    as_user(manager)
    default = client.get(reverse("reports:index"))
    assert default.context["tiers"].unbooked_within_work_queue == 0
    assert "within 21 days" in default.content.decode()
    with override_settings(
        PUMPTRACK_POLICY={**settings.PUMPTRACK_POLICY, "WORK_QUEUE_DTA_DAYS": 40}
    ):
        wider = client.get(reverse("reports:index"))
    assert wider.context["tiers"].unbooked_within_work_queue == 1
    assert "1 patient must be refilled within 40 days" in " ".join(wider.content.decode().split())
