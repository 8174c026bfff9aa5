"""The board's filters."""

from __future__ import annotations

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row
from django import forms

from refills.models import RiskTier

from ..selectors import BOOKED_CHOICES, GROUPS
from .fields import sane_year


class BoardFilterForm(forms.Form):
    q = forms.CharField(label="Search by name or MRN", required=False, max_length=100)
    tier = forms.TypedChoiceField(
        label="Tier",
        required=False,
        coerce=int,
        empty_value=None,
        # Most urgent first, in the words of the tiers.
        choices=[("", "Any tier"), *reversed(RiskTier.choices)],
    )
    group = forms.ChoiceField(label="Due", required=False, choices=[("", "Any time"), *GROUPS])
    pump_model = forms.TypedChoiceField(
        label="Pump model", required=False, coerce=int, empty_value=None
    )
    booked = forms.ChoiceField(
        label="Appointment", required=False, choices=[("", "Booked or not"), *BOOKED_CHOICES]
    )

    # Set by the calendar's links (refills due in a week at one clinic); kept as hidden
    # inputs so the other filters can be applied on top.
    clinic = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    due_from = forms.DateField(required=False, widget=forms.HiddenInput, validators=[sane_year])
    due_to = forms.DateField(required=False, widget=forms.HiddenInput, validators=[sane_year])

    def __init__(self, *args, pump_models, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pump_model"].choices = [("", "Any model")] + [
            (m.pk, f"{m.name} {m.model_number}") for m in pump_models
        ]
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = Layout(
            Row(
                Column("q", css_class="col-12 col-lg-4"),
                Column("tier", css_class="col-6 col-md-3 col-lg-2"),
                Column("group", css_class="col-6 col-md-3 col-lg-2"),
                Column("pump_model", css_class="col-6 col-md-3 col-lg-2"),
                Column("booked", css_class="col-6 col-md-3 col-lg-2"),
                css_class="g-2",
            ),
            "clinic",
            "due_from",
            "due_to",
        )
