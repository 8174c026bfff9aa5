"""The patient list (issue 12 #1) and "no consented channel" on the pages (#2)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Role
from patients.models import Patient, PumpStatus
from patients.reachability import NO_CONSENTED_CHANNEL
from tests.factories import CaregiverFactory, PatientFactory, PumpFactory, staff

LIST = reverse("dashboard:patient_list")


def _names(client, **params) -> str:
    response = client.get(LIST, params)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def people(clinic, other_clinic):
    nopump = PatientFactory(
        clinic=clinic,
        given_name="Nora",
        family_name="Nopump",
        mrn="NP-1",
        date_of_birth=dt.date(1971, 12, 1),
        phone="+16175550199",
    )
    active = PatientFactory(clinic=clinic, given_name="Abel", family_name="Active", mrn="AC-2")
    PumpFactory(patient=active)
    explanted = PatientFactory(clinic=clinic, given_name="Exa", family_name="Explanted")
    PumpFactory(patient=explanted, status=PumpStatus.EXPLANTED, explanted_on=dt.date(2025, 1, 2))
    gone = PatientFactory(clinic=clinic, given_name="Gwen", family_name="Gone", is_active=False)
    outsider = PatientFactory(clinic=other_clinic, given_name="Nora", family_name="Elsewhere")
    return {
        "nopump": nopump,
        "active": active,
        "explanted": explanted,
        "gone": gone,
        "outsider": outsider,
    }


def test_every_patient_of_the_clinic_with_status(nurse_client, people):
    html = _names(nurse_client)
    for key in ("nopump", "active", "explanted", "gone"):
        assert people[key].family_name in html
    assert "Elsewhere" not in html  # another clinic's patients are absent
    assert "No pump yet" in html and "Active pump" in html
    assert "Explanted" in html and "Deceased or discharged" in html
    assert "Nopump" in _names(nurse_client, status="nopump")
    assert "Active" not in _names(nurse_client, status="nopump").split("patient-list")[-1]


@pytest.mark.parametrize(
    "typed",
    [
        "nora",
        "NP-1",
        "1 Dec 1971",
        "Wed 1 Dec 1971",
        "01 December 1971",
        "1971-12-01",
        "(617) 555-0199",
        "617.555.0199",
        "+1 617 555 0199",
        "6175550199",
    ],
)
def test_search_by_name_mrn_birth_date_and_phone(nurse_client, people, typed):
    html = _names(nurse_client, q=typed)
    assert "Nopump, Nora" in html
    assert "Active, Abel" not in html
    assert "Elsewhere" not in html


def test_search_finds_a_caregivers_phone(nurse_client, people):
    CaregiverFactory(patient=people["active"], phone="+16175550777")
    assert "Active, Abel" in _names(nurse_client, q="617-555-0777")


def test_query_count_does_not_grow_with_patients(nurse_client, clinic):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert nurse_client.get(LIST).status_code == 200
        return len(queries)

    for _ in range(3):
        PumpFactory(patient=PatientFactory(clinic=clinic))
    few = count()
    for _ in range(20):
        PatientFactory(clinic=clinic)
    assert count() == few


def test_nav_link_and_scoping(as_user, clinic, other_clinic, people):
    outsider = as_user(staff(other_clinic, Role.AUDITOR))
    html = outsider.get(reverse("dashboard:board")).content.decode()
    assert f'href="{LIST}"' in html
    html = _names(outsider)
    assert "Elsewhere" in html and "Nopump" not in html


def test_new_patient_continues_to_the_pump_or_the_patient_page(as_user, clinic):
    data = {
        "mrn": "N-1",
        "given_name": "Ines",
        "family_name": "New",
        "date_of_birth": "1975-03-02",
        "spasticity_origin": "spinal",
        "phone": "(617) 555-0142",
        "email": "",
        "preferred_channel": "sms",
        "timezone": "",
        "notes": "",
    }
    nurse = as_user(staff(clinic, Role.NURSE))
    response = nurse.post(reverse("dashboard:patient_create"), data, follow=True)
    patient = Patient.objects.get(mrn="N-1")
    assert response.redirect_chain[-1][0] == reverse("dashboard:pump_create", args=[patient.pk])
    html = response.content.decode()
    # The form's defaults (SMS, consent unticked): saved, with the warning.
    assert NO_CONSENTED_CHANNEL in html
    scheduler = as_user(staff(clinic, Role.SCHEDULER))
    # Another person (the same names and birth date would ask for a confirmation).
    second = {**data, "mrn": "N-2", "given_name": "Iris"}
    response = scheduler.post(reverse("dashboard:patient_create"), second)
    assert response.url == reverse("dashboard:patient", args=[Patient.objects.get(mrn="N-2").pk])


def test_board_search_points_to_the_patient_list(nurse_client, people):
    html = nurse_client.get(reverse("dashboard:board"), {"q": "Nopump"}).content.decode()
    assert "Nobody matches" in html
    assert f"{LIST}?q=Nopump" in html
    assert "1 patient without a tracked pump matches" in html
    html = nurse_client.get(reverse("dashboard:board"), {"q": "Zzyzx"}).content.decode()
    assert "without a tracked pump" not in html


def test_no_consented_channel_on_board_patient_page_and_list(nurse_client, clinic, nurse, filler):
    silent = PatientFactory(
        clinic=clinic, family_name="Silent", consent_sms=False, consent_email=False
    )
    filler(PumpFactory(patient=silent), nurse, days_ago=10)
    heard = PatientFactory(
        clinic=clinic, family_name="Heard", consent_sms=False, consent_email=False
    )
    filler(PumpFactory(patient=heard), nurse, days_ago=10)
    CaregiverFactory(patient=heard)  # a consenting caregiver is enough
    board = nurse_client.get(reverse("dashboard:board")).content.decode()
    assert board.count(NO_CONSENTED_CHANNEL) == 1
    assert f"{LIST}?unreachable=on" in board and "1 patient</a>" in board
    page = nurse_client.get(reverse("dashboard:patient", args=[silent.pk])).content.decode()
    assert NO_CONSENTED_CHANNEL in page
    page = nurse_client.get(reverse("dashboard:patient", args=[heard.pk])).content.decode()
    assert NO_CONSENTED_CHANNEL not in page
    html = _names(nurse_client, unreachable="on")
    assert "Silent" in html and "Heard" not in html


def test_removing_the_only_reachable_caregiver_warns(nurse_client, clinic):
    patient = PatientFactory(clinic=clinic, consent_sms=False, consent_email=False)
    caregiver = CaregiverFactory(patient=patient)
    url = reverse("dashboard:caregiver_remove", args=[caregiver.pk])
    assert NO_CONSENTED_CHANNEL in nurse_client.get(url).content.decode()
    response = nurse_client.post(url, follow=True)
    assert NO_CONSENTED_CHANNEL in response.content.decode()
