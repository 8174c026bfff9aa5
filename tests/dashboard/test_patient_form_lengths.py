"""Over-long input in the patient and caregiver forms is refused with a message, never
cut: the inputs carry no maxlength (a browser silently truncates at it)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dashboard.patient_forms.caregivers import CaregiverForm
from dashboard.patient_forms.patients import PatientForm
from patients.models import Patient
from tests.dashboard.test_patient_admin_pages import _field_html, _patient_data

pytestmark = pytest.mark.django_db


def test_a_125_character_last_name_is_refused_not_cut(nurse_client):
    long_name = "Q" * 125
    url = reverse("dashboard:patient_create")
    html = nurse_client.post(url, _patient_data(family_name=long_name)).content.decode()
    message = _field_html(html, "family_name")
    assert "This is too long: keep it to 100 characters or fewer (it has 125)" in message
    assert long_name in message  # what was typed is still there to correct
    assert not Patient.objects.exists()


@pytest.mark.parametrize("form_class", [PatientForm, CaregiverForm])
def test_no_input_of_the_patient_and_caregiver_forms_has_a_maxlength(clinic, form_class):
    kwargs = {"clinics": [clinic]} if form_class is PatientForm else {}
    form = form_class(**kwargs)
    assert "maxlength" not in str(form)
    bounded = [f for f in form.fields.values() if getattr(f, "max_length", None)]
    assert bounded  # the limits are still checked, on submit
    for field in bounded:
        assert "too long" in field.error_messages["max_length"]
