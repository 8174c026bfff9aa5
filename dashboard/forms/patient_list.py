"""The patient list's search and filters."""

from __future__ import annotations

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row
from django import forms

from ..selectors.patient_list import STATUSES


class PatientSearchForm(forms.Form):
    q = forms.CharField(
        label="Search by name, MRN, date of birth or phone",
        required=False,
        max_length=100,
        help_text="Date of birth as the pages write it (1 Dec 1980) or 1980-12-01; "
        "a phone number in any form.",
    )
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any status"), *STATUSES]
    )
    unreachable = forms.BooleanField(label="Only patients no reminder can reach", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = Layout(
            Row(
                Column("q", css_class="col-12 col-lg-6"),
                Column("status", css_class="col-12 col-md-6 col-lg-3"),
                Column("unreachable", css_class="col-12 col-md-6 col-lg-3 pt-lg-4"),
                css_class="g-2",
            )
        )
