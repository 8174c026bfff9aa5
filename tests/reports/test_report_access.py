"""Who reaches reports 1-7, and whose rows they show: managers, physicians and auditors;
one clinic or all of the user's clinics where their role allows reports, never another's."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, Role
from reports.metrics import CATALOGUE
from tests.factories import ClinicFactory, PatientFactory, PumpFactory, staff

KEYS = [kind.key for kind in CATALOGUE]


@pytest.mark.parametrize("role", [Role.NURSE, Role.SCHEDULER])
@pytest.mark.parametrize("suffix", ["", "_csv", "_pdf"])
def test_roles_without_reports_are_refused(client, as_user, clinic, role, suffix):
    as_user(staff(clinic, role))
    for key in KEYS:
        assert client.get(reverse(f"reports:{key}{suffix}")).status_code == 403


@pytest.mark.parametrize("role", [Role.MANAGER, Role.PHYSICIAN, Role.AUDITOR])
def test_managers_physicians_and_auditors_see_every_report(client, as_user, clinic, role):
    as_user(staff(clinic, role))
    for key in KEYS:
        assert client.get(reverse(f"reports:{key}")).status_code == 200


def test_another_clinics_report_is_not_found(client, as_user, clinic):
    other = ClinicFactory()
    as_user(staff(clinic, Role.MANAGER))
    for key in KEYS:
        response = client.get(reverse(f"reports:{key}"), {"clinic": other.pk})
        assert response.status_code == 404


def _due_soon(clinic, family_name):
    """A patient with an active pump due in 5 days, nothing booked (the census lists it)."""
    from refills.models import PumpForecast

    pump = PumpFactory(patient=PatientFactory(clinic=clinic, family_name=family_name))
    PumpForecast.objects.create(
        pump=pump,
        computed_at=timezone.now(),
        refill_by=timezone.localdate() + dt.timedelta(days=5),
        refill_by_reason="alarm",
        risk_tier=3,
    )


def test_all_my_clinics_covers_only_clinics_where_the_role_allows_reports(client, as_user, clinic):
    mine = ClinicFactory(name="Second clinic of mine")
    nursing = ClinicFactory(name="Clinic where I am a nurse")
    stranger = ClinicFactory(name="Clinic of strangers")
    user = staff(clinic, Role.MANAGER)
    Membership.objects.create(user=user, clinic=mine, role=Role.PHYSICIAN)
    Membership.objects.create(user=user, clinic=nursing, role=Role.NURSE)
    for c, name in ((clinic, "Homeperson"), (mine, "Secondperson")):
        _due_soon(c, name)
    _due_soon(nursing, "Nursedperson")
    _due_soon(stranger, "Strangerperson")
    as_user(user)
    one = client.get(reverse("reports:census"), {"clinic": clinic.pk}).content.decode()
    assert "Homeperson" in one and "Secondperson" not in one
    every = client.get(
        reverse("reports:census"), {"clinic": clinic.pk, "all_clinics": "on"}
    ).content.decode()
    assert "Homeperson" in every and "Secondperson" in every
    assert "Nursedperson" not in every and "Strangerperson" not in every
    csv = client.get(reverse("reports:census_csv"), {"clinic": clinic.pk, "all_clinics": "on"})
    body = b"".join(csv.streaming_content).decode()
    assert "Secondperson" in body and "Strangerperson" not in body


@pytest.mark.parametrize(
    "query",
    [
        {"since": "2026-05-01", "until": "2026-01-01"},
        {"since": "1900-01-01", "until": "2026-01-01"},
        {"since": "<script>", "until": "31/12/2026"},
    ],
)
def test_a_bad_period_says_why_and_shows_the_default(client, as_user, clinic, query):
    as_user(staff(clinic, Role.MANAGER))
    response = client.get(reverse("reports:refills"), query)
    assert response.status_code == 200
    assert b"The default period is shown" in response.content
    assert b"<script>" not in response.content
    report = response.context["report"]
    assert report.scope.until == timezone.localtime(timezone.now(), clinic.tz).date()


def test_the_nav_links_reports_only_for_roles_that_see_them(client, as_user, clinic):
    as_user(staff(clinic, Role.MANAGER))
    page = client.get(reverse("reports:refills")).content.decode()
    assert 'href="/reports/"' in page
    index = client.get(reverse("reports:index")).content.decode()
    for key in KEYS:
        assert f'href="/reports/{key}/?clinic={clinic.pk}"' in index
    client.logout()
    as_user(staff(clinic, Role.NURSE))
    board = client.get(reverse("dashboard:board")).content.decode()
    assert 'href="/reports/"' not in board
