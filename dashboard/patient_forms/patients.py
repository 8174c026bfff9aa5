"""Registering and editing a patient."""

from __future__ import annotations

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Fieldset, Row
from django import forms
from django.core.exceptions import ValidationError

from patients.models import (
    Channel,
    Clinic,
    Patient,
    SpasticityOrigin,
)
from patients.validators import normalize_mrn
from pumptrack.limits import free_text_field

from ..form_choices import clinics_by_name, mrn_taken, same_person
from ..forms.fields import DateInput
from .common import (
    EARLIEST_BIRTH,
    ContactRulesMixin,
    boolean_field,
    char_field,
    contact_layout,
    email_field,
    form_helper,
    phone_field,
    timezone_choices,
    timezone_field,
)


def _patient_helper(*, with_clinic: bool, with_confirm: bool = False) -> FormHelper:
    """Identity (with the clinic picker when there is a choice), contact, risk factors."""
    identity = [
        Row(
            Column("given_name", css_class="col-md-4"),
            Column("family_name", css_class="col-md-4"),
            Column("mrn", css_class="col-md-4"),
        ),
        Row(
            Column("date_of_birth", css_class="col-md-4"),
            Column("spasticity_origin", css_class="col-md-4"),
        ),
    ]
    if with_clinic:
        identity.insert(0, "clinic")
    if with_confirm:
        identity.append("confirm_new_person")
    return form_helper(
        Fieldset("Identity", *identity),
        Fieldset(
            "Contact and reminders",
            *contact_layout(),
        ),
        Fieldset(
            "Withdrawal risk factors",
            Row(
                Column(
                    "sci_t6_or_above",
                    "communication_difficulty",
                    "prior_withdrawal",
                    "prior_prealarm_symptoms",
                    "caregiver_managed",
                    css_class="col-md-6",
                ),
                Column(
                    "cognitive_impairment",
                    "transport_barrier",
                    "hearing_impairment",
                    "lives_in_care_facility",
                    "oral_baclofen_bridge",
                    css_class="col-md-6",
                ),
            ),
        ),
        "notes",
    )


class PatientForm(ContactRulesMixin, forms.Form):
    clinic = forms.ModelChoiceField(label="Clinic", queryset=Clinic.objects.none())
    mrn = char_field(Patient, "mrn", help_text="The hospital's medical record number.")
    given_name = char_field(Patient, "given_name")
    family_name = char_field(Patient, "family_name")
    date_of_birth = forms.DateField(label="Date of birth", widget=DateInput())
    spasticity_origin = forms.ChoiceField(
        label="Spasticity origin",
        choices=SpasticityOrigin.choices,
        help_text=Patient._meta.get_field("spasticity_origin").help_text,
    )
    phone = phone_field()
    email = email_field()
    preferred_channel = forms.ChoiceField(label="Send reminders by", choices=Channel.choices)
    consent_sms = boolean_field(Patient, "consent_sms")
    consent_email = boolean_field(Patient, "consent_email")
    timezone = timezone_field("Leave empty to use the clinic's time zone.")
    sci_t6_or_above = boolean_field(Patient, "sci_t6_or_above")
    communication_difficulty = boolean_field(Patient, "communication_difficulty")
    prior_withdrawal = boolean_field(Patient, "prior_withdrawal")
    cognitive_impairment = boolean_field(Patient, "cognitive_impairment")
    transport_barrier = boolean_field(Patient, "transport_barrier")
    hearing_impairment = boolean_field(Patient, "hearing_impairment")
    lives_in_care_facility = boolean_field(Patient, "lives_in_care_facility")
    caregiver_managed = boolean_field(Patient, "caregiver_managed")
    prior_prealarm_symptoms = boolean_field(Patient, "prior_prealarm_symptoms")
    oral_baclofen_bridge = boolean_field(Patient, "oral_baclofen_bridge")
    notes = free_text_field(label="Notes", rows=3)
    # Shown only when a patient with the same names and date of birth exists.
    confirm_new_person = forms.BooleanField(
        label="This is a different person: register them anyway",
        required=False,
    )

    def __init__(self, *args, clinics=None, patient: Patient | None = None, **kwargs):
        """`clinics`: where a new patient may be registered; `patient`: the one edited."""
        super().__init__(*args, **kwargs)
        self.patient = patient
        self.fields["timezone"].choices = [("", "The clinic's time zone"), *timezone_choices()]
        clinics = list(clinics or [])
        if patient is not None or len(clinics) <= 1:
            # Chosen for the user: their only clinic, or the edited patient's.
            del self.fields["clinic"]
            self.fixed_clinic = patient.clinic if patient is not None else clinics[0]
        else:
            self.fixed_clinic = None
            self.fields["clinic"].queryset = clinics_by_name(clinics)
        self.helper = _patient_helper(with_clinic="clinic" in self.fields)

    @property
    def chosen_clinic(self) -> Clinic:
        return self.fixed_clinic or self.cleaned_data["clinic"]

    def clean_date_of_birth(self):
        born = self.cleaned_data["date_of_birth"]
        if born < EARLIEST_BIRTH:
            raise ValidationError("Check the year of birth.")
        return born

    def clean(self):
        data = super().clean()
        self.check_channel(data)
        mrn = normalize_mrn(data.get("mrn") or "")
        clinic = self.fixed_clinic or data.get("clinic")
        if mrn and clinic is not None:
            data["mrn"] = mrn
            if mrn_taken(clinic=clinic, mrn=mrn, patient=self.patient):
                self.add_error(
                    "mrn",
                    f"Another patient at {clinic.name} has MRN {mrn} "
                    "(MRNs are compared ignoring capitals and spaces around them).",
                )
        if self.patient is None and clinic is not None:
            self._check_same_person(data, clinic)
        return data

    def _check_same_person(self, data: dict, clinic: Clinic) -> None:
        """A new patient with the names and birth date of one already registered is
        probably a second record of the same person: say so, and register them only
        once the user confirms it is someone else."""
        family, given, born = (data.get(k) for k in ("family_name", "given_name", "date_of_birth"))
        if not (family and given and born) or data.get("confirm_new_person"):
            return
        existing = same_person(clinic=clinic, family_name=family, given_name=given, born=born)
        if existing is None:
            return
        self.helper = _patient_helper(with_clinic="clinic" in self.fields, with_confirm=True)
        self.add_error(
            "confirm_new_person",
            f"{clinic.name} already has {existing.family_name}, {existing.given_name}, "
            f"born {born:%m/%d/%Y} (MRN {existing.mrn}). If this is the same person, "
            "open their page instead; if it is someone else, tick this box.",
        )

    def patient_fields(self) -> dict:
        """The keyword arguments of patients.services.patient_create / patient_update."""
        data = self.cleaned_data
        return {
            name: data[name] for name in self.fields if name not in ("clinic", "confirm_new_person")
        }


def patient_initial(patient: Patient) -> dict:
    return {
        name: getattr(patient, name)
        for name in PatientForm.base_fields
        if name not in ("clinic", "confirm_new_person")
    }
