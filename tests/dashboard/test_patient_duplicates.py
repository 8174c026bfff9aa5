"""Duplicate patients: an MRN differing only in capitals or spaces is the same record
number, and a new patient with the names and birth date of one already registered is
registered only once the nurse confirms it is someone else."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.patient_forms.patients import PatientForm
from patients import services
from patients.models import Patient
from tests.dashboard.test_patient_admin_pages import _field_html, _patient_data
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

SPACES = st.text(alphabet=" \t", max_size=3)


@st.composite
def mrn_variants(draw, mrn: str = "RV-0002") -> str:
    """The MRN with any letters' case flipped and spaces around it."""
    flips = draw(st.lists(st.booleans(), min_size=len(mrn), max_size=len(mrn)))
    body = "".join(c.swapcase() if f else c for c, f in zip(mrn, flips, strict=True))
    return draw(SPACES) + body + draw(SPACES)


def _form(clinic, **overrides) -> PatientForm:
    data = _patient_data(**overrides)
    return PatientForm(data=data, clinics=[clinic])


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(variant=mrn_variants())
def test_any_case_or_space_variant_of_an_mrn_is_refused(clinic, variant):
    PatientFactory(clinic=clinic, mrn="RV-0002")
    form = _form(clinic, mrn=variant, family_name="Other", given_name="Person")
    assert not form.is_valid()
    assert "Another patient at" in form.errors["mrn"][0]
    assert "ignoring capitals" in form.errors["mrn"][0]
    # The database refuses it too, whoever calls the service.
    with pytest.raises(ValidationError) as refused:
        services.patient_create(
            clinic=clinic,
            mrn=variant,
            given_name="Other",
            family_name="Person",
            date_of_birth=dt.date(1970, 1, 1),
        )
    assert "this MRN" in str(refused.value)
    assert Patient.objects.filter(clinic=clinic).count() == 1
    Patient.objects.all().delete()


def test_the_same_mrn_is_fine_at_another_clinic(clinic, other_clinic):
    PatientFactory(clinic=other_clinic, mrn="RV-0002")
    assert _form(clinic, mrn="rv-0002 ").is_valid()


def test_the_mrn_is_stored_trimmed_with_its_case_kept(clinic):
    patient = services.patient_create(
        clinic=clinic,
        mrn="  rv-0009 ",
        phone="+16175550123",
        given_name="Ada",
        family_name="Trim",
        date_of_birth=dt.date(1970, 1, 1),
    )
    assert patient.mrn == "rv-0009"


def test_editing_a_patient_keeps_their_own_mrn(clinic):
    patient = PatientFactory(clinic=clinic, mrn="RV-0002")
    form = PatientForm(data=_patient_data(mrn="rv-0002"), patient=patient)
    assert form.is_valid(), form.errors


def test_same_names_and_birth_date_need_confirmation(nurse_client, clinic):
    PatientFactory(
        clinic=clinic,
        mrn="RV-0002",
        family_name="Newpatient",
        given_name="Ines",
        date_of_birth=dt.date(1975, 3, 2),
    )
    url = reverse("dashboard:patient_create")
    data = _patient_data(mrn="RV-0003", family_name=" newpatient", given_name="INES")
    html = nurse_client.post(url, data).content.decode()
    warning = _field_html(html, "confirm_new_person")
    assert "already has Newpatient, Ines, born 03/02/1975 (MRN RV-0002)" in warning
    assert Patient.objects.count() == 1
    response = nurse_client.post(url, {**data, "confirm_new_person": "on"})
    assert response.status_code == 302
    assert Patient.objects.count() == 2


def test_no_confirmation_asked_for_a_different_birth_date(clinic):
    PatientFactory(
        clinic=clinic,
        family_name="Newpatient",
        given_name="Ines",
        date_of_birth=dt.date(1975, 3, 3),
    )
    assert _form(clinic).is_valid()
