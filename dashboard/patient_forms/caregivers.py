"""A patient's caregivers: who also gets the reminders."""

from __future__ import annotations

from crispy_forms.layout import Column, Row
from django import forms

from patients.models import (
    Caregiver,
    Channel,
)

from .common import (
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


class CaregiverForm(ContactRulesMixin, forms.Form):
    name = char_field(Caregiver, "name", label="Name")
    relationship = char_field(Caregiver, "relationship", label="Relationship to the patient")
    phone = phone_field()
    email = email_field()
    preferred_channel = forms.ChoiceField(label="Send reminders by", choices=Channel.choices)
    consent_sms = boolean_field(Caregiver, "consent_sms")
    consent_email = boolean_field(Caregiver, "consent_email")
    receives_reminders = forms.BooleanField(
        label="Receives refill reminders",
        required=False,
        initial=True,
        help_text="Untick to keep the caregiver on record without sending them reminders.",
    )
    timezone = timezone_field("Leave empty to use the patient's time zone.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = [("", "The patient's time zone"), *timezone_choices()]
        self.helper = form_helper(
            Row(
                Column("name", css_class="col-md-6"),
                Column("relationship", css_class="col-md-6"),
            ),
            *contact_layout(),
            "receives_reminders",
        )

    def clean(self):
        data = super().clean()
        if data.get("receives_reminders"):
            self.check_channel(data)
        return data

    def caregiver_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.fields}


def caregiver_initial(caregiver: Caregiver) -> dict:
    return {name: getattr(caregiver, name) for name in CaregiverForm.base_fields}
