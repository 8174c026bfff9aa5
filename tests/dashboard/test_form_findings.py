"""One way to put a service's refusal on a form (dashboard.forms.findings)."""

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from dashboard.forms.findings import add_findings_to_form
from dashboard.forms.refills import discrepancy_assessment_help
from refills.policy import discrepancy_help_text
from refills.services import ClinicalValidationError
from refills.validation import Finding, Severity


class DoseForm(forms.Form):
    dose = forms.DecimalField(required=False)
    token = forms.CharField(required=False, widget=forms.HiddenInput)


class StepsForm(DoseForm):
    """A form that places some findings itself, as the program form does with its steps."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.placed = []

    def add_findings(self, findings):
        self.placed.extend(findings)


def bound(form_class=DoseForm):
    form = form_class(data={})
    form.is_valid()
    return form


def test_each_finding_goes_under_its_input_through_the_field_map_or_to_the_top():
    form = bound()
    error = ClinicalValidationError(
        [
            Finding("high", "basal_daily_dose_mcg", "Too high.", Severity.ERROR),
            Finding("who", None, "Needs a physician.", Severity.PHYSICIAN),
            Finding("elsewhere", "not_on_this_form", "Somewhere else.", Severity.ERROR),
        ]
    )
    add_findings_to_form(form, error, {"basal_daily_dose_mcg": "dose"})
    assert form.errors["dose"] == ["Too high."]
    assert form.non_field_errors() == ["Needs a physician.", "Somewhere else."]


def test_a_form_that_places_findings_itself_gets_them_all():
    form = bound(StepsForm)
    finding = Finding("steps", "flex_steps", "Steps do not add up.", Severity.ERROR)
    add_findings_to_form(form, ClinicalValidationError([finding]))
    assert form.placed == [finding]
    assert not form.errors


def test_other_service_errors_go_under_visible_inputs_and_hidden_ones_to_the_top():
    form = bound()
    add_findings_to_form(form, ValidationError({"dose": "No.", "token": "Expired."}))
    add_findings_to_form(form, ValidationError("Plain refusal."))
    assert form.errors["dose"] == ["No."]
    assert form.non_field_errors() == ["Expired.", "Plain refusal."]


def test_plain_errors_on_top_keeps_clinical_findings_in_place():
    form = bound()
    add_findings_to_form(
        form, ValidationError({"dose": "Double booking."}), plain_errors_on_top=True
    )
    add_findings_to_form(
        form,
        ClinicalValidationError([Finding("high", "dose", "Too high.", Severity.ERROR)]),
        plain_errors_on_top=True,
    )
    assert form.non_field_errors() == ["Double booking."]
    assert form.errors["dose"] == ["Too high."]


def test_the_refill_form_help_text_is_the_policy_text():
    assert discrepancy_assessment_help is discrepancy_help_text


def test_the_discrepancy_help_text_names_the_policy_thresholds(settings):
    assert discrepancy_assessment_help() == ("Needed when the residual is off by > 2 mL or 15 %.")
    settings.PUMPTRACK_POLICY = {
        **settings.PUMPTRACK_POLICY,
        "DISCREPANCY_ML": Decimal("1.5"),
        "DISCREPANCY_RELATIVE": Decimal("0.1"),
    }
    assert discrepancy_assessment_help() == ("Needed when the residual is off by > 1.5 mL or 10 %.")
