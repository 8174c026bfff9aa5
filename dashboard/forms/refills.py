"""The refill form: what the nurse did at the visit, parsed for refills.services.refill_record.

It parses and labels input; the service decides what is clinically allowed (its
findings are put on the form by dashboard.forms.findings).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Div, Field, Fieldset, Layout, Row
from django import forms
from django.utils import timezone

from accounts.models import Role
from patients.models import Clinic, Pump
from refills.models import DiscrepancyAction, DosingMode, DrugProduct, DrugProgram, NeedleCheck
from refills.policy import discrepancy_help_text
from refills.services import ProgramInput, RefillInput
from refills.validation import MIN_CONCENTRATION, fmt

from ..form_choices import product_names, program_flex_steps, resolve_product
from ..selectors import clinic_staff
from .fields import (
    DATETIME_LOCAL,
    MCG_PER_ML,
    ConcentrationMixin,
    DateInput,
    DateTimeLocalInput,
    concentration_fields,
    ml_field,
    sane_year,
    text_field,
)


def stand_in_product(name: str, concentration_mcg: Decimal | None) -> DrugProduct:
    """An unsaved product for the live preview, so an unknown strength still gets its message."""
    return DrugProduct(
        name=name or "Unknown product",
        concentration_mcg_per_ml=concentration_mcg or Decimal(0),
        is_custom_dilution=False,
    )


# --------------------------------------------------------------------------- refill

REFILL_FIELD_MAP = {
    "concentration_mcg_per_ml": "concentration",
    "basal_daily_dose_mcg": "new_daily_dose_mcg",
    "bolus_dose_mcg": "new_daily_dose_mcg",
    "boluses_per_day": "new_daily_dose_mcg",
    "flex_steps": "new_daily_dose_mcg",
}


# The help text lives with the thresholds in refills.policy; the old name stays importable.
discrepancy_assessment_help = discrepancy_help_text


def _before_filling() -> Fieldset:
    return Fieldset(
        "Before filling",
        Row(
            Column("performed_at", css_class="col-md-4"),
            Column("programmer_expected_residual_ml", css_class="col-md-4"),
            Column("actual_residual_ml", css_class="col-md-4"),
        ),
        Row(
            Column("residual_left_ml", css_class="col-md-4"),
            Column("residual_appearance", css_class="col-md-8"),
        ),
    )


def _drug() -> Fieldset:
    return Fieldset(
        "Drug",
        Row(
            Column("product", css_class="col-md-6 col-xl-3"),
            Column(
                Field("concentration", css_class="concentration-input"),
                css_class="col-6 col-md-3",
            ),
            Column("concentration_unit", css_class="col-6 col-md-3"),
            Column("lot_number", css_class="col-md-6 col-xl-3"),
        ),
        Row(
            Column("lot_expiry", css_class="col-md-4"),
            Column("custom_concentration_reason", css_class="col-md-4"),
            Column("second_clinician", css_class="col-md-4"),
        ),
    )


def _fill_and_program(*, has_volume_sensor: bool) -> Fieldset:
    return Fieldset(
        "Fill and program",
        Row(
            Column("volume_added_ml", css_class="col-md-4"),
            Column("resulting_volume_ml", css_class="col-md-4"),
            Column("printed_alarm_date", css_class="col-md-4"),
        ),
        *(
            [Row(Column("measured_volume_after_fill_ml", css_class="col-md-4"))]
            if has_volume_sensor
            else []
        ),
        Row(
            Column("new_daily_dose_mcg", css_class="col-md-4"),
            Column("program_change_reason", css_class="col-md-8"),
        ),
        Row(
            Column("bridge_bolus_mcg", css_class="col-md-3"),
            Column("bridge_bolus_ml", css_class="col-md-3"),
            Column("bridge_not_needed_reason", css_class="col-md-6"),
        ),
    )


def _safety_checks() -> Fieldset:
    return Fieldset(
        "Safety checks",
        Row(
            Column("needle_placement", css_class="col-md-5"),
            Column(
                Div("needle_placement_confirmed", css_class="pt-md-4"),
                css_class="col-md-7",
            ),
        ),
        "symptom_screen_done",
        Row(
            Column("discrepancy_assessment", css_class="col-md-8"),
            Column("discrepancy_action", css_class="col-md-4"),
        ),
        Row(
            Column("remeasured_residual_ml", css_class="col-md-4"),
            Column("discrepancy_cause", css_class="col-md-8"),
        ),
        Row(
            Column("second_checker", css_class="col-md-4"),
            Column("notes", css_class="col-md-8"),
        ),
    )


def refill_layout(*, has_volume_sensor: bool) -> Layout:
    """The refill form in the order of the visit: before filling, drug, fill, checks."""
    return Layout(
        _before_filling(),
        _drug(),
        _fill_and_program(has_volume_sensor=has_volume_sensor),
        _safety_checks(),
        Field("override_reason", css_class="override-reason"),
    )


class RefillForm(ConcentrationMixin, forms.Form):
    performed_at = forms.DateTimeField(
        label="Refill done at",
        validators=[sane_year],
        widget=DateTimeLocalInput(),
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        help_text="Clinic time.",
    )
    programmer_expected_residual_ml = ml_field(
        "Programmer's expected residual (mL)",
        required=False,
        help_text="From the programmer's interrogation, if shown.",
    )
    actual_residual_ml = ml_field("Residual aspirated (mL)")
    residual_left_ml = ml_field(
        "Left in the pump after aspiration (mL)",
        help_text="Usually 0: the residual is drained completely.",
    )
    residual_appearance = forms.CharField(
        label="Residual appearance", required=False, max_length=200
    )
    product = forms.ChoiceField(label="Drug product")
    concentration, concentration_unit = concentration_fields()
    lot_number = forms.CharField(label="Lot number", max_length=50)
    lot_expiry = forms.DateField(
        label="Lot expiry",
        widget=DateInput(),
        validators=[sane_year],
        help_text="From the drug label. An expired lot is refused.",
    )
    volume_added_ml = ml_field("Volume added (mL)")
    resulting_volume_ml = ml_field(
        "Programmed reservoir volume (mL)",
        help_text="What you program into the pump: left + added.",
    )
    measured_volume_after_fill_ml = ml_field(
        "Reservoir volume the pump measured after the fill (mL)",
        required=False,
        help_text="From the pump's volume sensor, read after filling. Checks for a pocket fill.",
    )
    new_daily_dose_mcg = forms.DecimalField(
        label="New daily dose (mcg/day)",
        required=False,
        min_value=Decimal("0"),
        max_digits=7,
        decimal_places=1,
        help_text="Leave empty to keep the current dose.",
    )
    program_change_reason = forms.CharField(
        label="Reason for the dose change", required=False, max_length=500
    )
    custom_concentration_reason = text_field("Why a custom dilution", rows=1)
    second_clinician = forms.ModelChoiceField(
        label="Second clinician confirming the custom dilution",
        queryset=None,
        required=False,
    )
    bridge_bolus_mcg = forms.DecimalField(
        label="Bridge bolus (mcg)",
        required=False,
        min_value=Decimal(0),
        max_digits=6,
        decimal_places=1,
    )
    bridge_bolus_ml = ml_field("Bridge bolus (mL)", required=False)
    bridge_not_needed_reason = forms.CharField(
        label="Why no bridge bolus is needed", required=False, max_length=500
    )
    needle_placement = forms.ChoiceField(
        label="How needle placement was confirmed",
        choices=[("", "Choose…"), *NeedleCheck.choices],
        required=False,
    )
    needle_placement_confirmed = forms.BooleanField(
        label="Needle placement in the reservoir confirmed (not the catheter port, not the pocket)",
        required=False,
    )
    printed_alarm_date = forms.DateField(
        validators=[sane_year],
        label="Alarm date on the programmer printout",
        required=False,
        widget=DateInput(),
    )
    # Its help text names the clinic's thresholds: set in __init__ from the policy.
    discrepancy_assessment = text_field("Discrepancy assessment")
    discrepancy_action = forms.ChoiceField(
        label="Discrepancy action", choices=DiscrepancyAction.choices, required=False
    )
    remeasured_residual_ml = ml_field(
        "Residual measured a second time (mL)",
        required=False,
        help_text='Needed for "entry error": it must reconcile within tolerance.',
    )
    discrepancy_cause = text_field(
        "What the work-up found", help_text='Needed for "the work-up found the cause".'
    )
    symptom_screen_done = forms.BooleanField(
        label="Withdrawal and overdose signs reviewed with the patient or caregiver",
        required=False,
    )
    second_checker = forms.ModelChoiceField(label="Second checker", queryset=None, required=False)
    notes = text_field("Notes")
    override_reason = text_field(
        "Override reason",
        help_text="Needed to save past a warning. Physician-level warnings need a physician.",
    )

    def __init__(
        self,
        *args,
        clinic: Clinic,
        program: DrugProgram | None,
        user,
        has_volume_sensor: bool = False,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.clinic = clinic
        self.program = program
        if not has_volume_sensor:
            # Only pumps with a reservoir sensor can report it (domain §2.4).
            del self.fields["measured_volume_after_fill_ml"]
        self._set_choices(clinic=clinic, user=user)
        self._set_help_texts(program)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = refill_layout(has_volume_sensor=has_volume_sensor)

    def _set_choices(self, *, clinic: Clinic, user) -> None:
        """The catalogue's products, and the clinic's nurses and physicians other than
        the user as the second clinician or checker."""
        self.fields["product"].choices = [("", "Choose…"), *product_names()]
        staff = clinic_staff(clinic, Role.NURSE, Role.PHYSICIAN, other_than=user)
        self.fields["second_clinician"].queryset = staff
        self.fields["second_checker"].queryset = staff

    def _set_help_texts(self, program: DrugProgram | None) -> None:
        self.fields["discrepancy_assessment"].help_text = discrepancy_help_text()
        if program is not None:
            self.fields[
                "new_daily_dose_mcg"
            ].help_text = f"Leave empty to keep {fmt(program.daily_dose_mcg)} mcg/day."

    def clean(self):
        data = super().clean()
        conc = self.concentration_mcg()
        name = data.get("product")
        data["concentration_mcg_per_ml"] = conc
        data["drug_product"] = None
        if name and conc is not None:
            product = resolve_product(name, conc)
            if product is None and conc >= MIN_CONCENTRATION:
                # Below the weakest product the service's own message says what is wrong
                # (too low, or mg/mL typed as mcg/mL).
                self.add_error(
                    "concentration",
                    f"{name} is not supplied at {fmt(conc)} mcg/mL. Check the label, "
                    "or choose Custom dilution.",
                )
            data["drug_product"] = product
        dose = data.get("new_daily_dose_mcg")
        if dose is not None and self.program is not None and self.program.mode == DosingMode.FLEX:
            # A single daily dose here would replace the steps; that belongs on the
            # program page, where the steps are shown and checked.
            self.add_error(
                "new_daily_dose_mcg",
                "This pump runs a flex program (steps through the day). Change the dose on "
                "the drug program page; leave this empty to keep the steps.",
            )
        elif dose is not None and not data.get("program_change_reason", "").strip():
            self.add_error("program_change_reason", "Give the reason for the dose change.")
        return data

    def refill_input(self) -> RefillInput | None:
        """The service input, built from whatever parsed (the preview uses it half-typed)."""
        data = self.cleaned_data
        product = data.get("drug_product")
        if product is None:
            # No catalogue row: an impossible strength (the service names the error, e.g.
            # "did you mean mg/mL?") or, while typing, a strength not yet complete.
            if not data.get("product"):
                return None
            product = stand_in_product(data["product"], data.get("concentration_mcg_per_ml"))
        new_program = self._new_program(product)
        return RefillInput(
            performed_at=data.get("performed_at"),
            actual_residual_ml=data.get("actual_residual_ml"),
            volume_added_ml=data.get("volume_added_ml"),
            resulting_volume_ml=data.get("resulting_volume_ml"),
            drug_product=product,
            concentration_mcg_per_ml=data.get("concentration_mcg_per_ml"),
            lot_number=data.get("lot_number", ""),
            needle_placement=data.get("needle_placement", ""),
            needle_placement_confirmed=bool(data.get("needle_placement_confirmed")),
            residual_left_ml=data.get("residual_left_ml") or Decimal(0),
            lot_expiry=data.get("lot_expiry"),
            programmer_expected_residual_ml=data.get("programmer_expected_residual_ml"),
            residual_appearance=data.get("residual_appearance", ""),
            bridge_bolus_mcg=data.get("bridge_bolus_mcg"),
            bridge_bolus_ml=data.get("bridge_bolus_ml"),
            bridge_not_needed_reason=data.get("bridge_not_needed_reason", ""),
            printed_alarm_date=data.get("printed_alarm_date"),
            measured_volume_after_fill_ml=data.get("measured_volume_after_fill_ml"),
            discrepancy_assessment=data.get("discrepancy_assessment", ""),
            discrepancy_action=data.get("discrepancy_action", ""),
            remeasured_residual_ml=data.get("remeasured_residual_ml"),
            discrepancy_cause=data.get("discrepancy_cause", ""),
            symptom_screen_done=bool(data.get("symptom_screen_done")),
            notes=data.get("notes", ""),
            second_checker=data.get("second_checker"),
            new_program=new_program,
            program_change_reason=data.get("program_change_reason", ""),
        )

    def _starts_custom_strength(self, product: DrugProduct) -> bool:
        base = self.program
        return product.is_custom_dilution and (
            base is None or not base.drug_product.is_custom_dilution
        )

    def _new_program(self, product: DrugProduct) -> ProgramInput | None:
        """The program the refill starts: a new dose, or a new custom strength; else None."""
        data = self.cleaned_data
        new_dose = data.get("new_daily_dose_mcg")
        base = self.program
        if new_dose is None and not self._starts_custom_strength(product):
            return None
        # A new custom strength without a dose change keeps the program's mode and steps.
        keep_steps = base is not None and base.mode == DosingMode.FLEX and new_dose is None
        return ProgramInput(
            drug_product=product,
            concentration_mcg_per_ml=data.get("concentration_mcg_per_ml"),
            mode=DosingMode.FLEX if keep_steps else DosingMode.SIMPLE,
            flex_steps=program_flex_steps(base) if keep_steps else [],
            basal_daily_dose_mcg=(
                new_dose if new_dose is not None else (base.basal_daily_dose_mcg if base else None)
            ),
            bolus_dose_mcg=base.bolus_dose_mcg if base else Decimal(0),
            boluses_per_day=base.boluses_per_day if base else 0,
            ptm_expected_daily_mcg=base.ptm_expected_daily_mcg if base else Decimal(0),
            custom_concentration_reason=data.get("custom_concentration_reason", ""),
            second_clinician=data.get("second_clinician"),
        )


def refill_initial(*, pump: Pump, program: DrugProgram | None, now: dt.datetime) -> dict:
    local = timezone.localtime(now, pump.patient.clinic.tz)
    initial = {
        "performed_at": local.replace(second=0, microsecond=0, tzinfo=None),
        "residual_left_ml": Decimal("0"),
        "concentration_unit": MCG_PER_ML,
        "needle_placement": "",
    }
    if program is not None:
        initial["product"] = program.drug_product.name
        if not program.drug_product.is_custom_dilution:
            initial["concentration"] = fmt(program.concentration_mcg_per_ml)
    return initial
