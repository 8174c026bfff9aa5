"""Staff forms. They parse and label input; the services decide what is clinically allowed.

Service findings come back as refills.validation.Finding objects; `add_findings`
puts each one under the input it is about, so errors appear in place.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Div, Field, Fieldset, Layout, Row
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import Role
from patients.models import Clinic, Pump
from refills.models import (
    AppointmentKind,
    DiscrepancyAction,
    DosingMode,
    DrugProduct,
    DrugProgram,
    NeedleCheck,
)
from refills.services import ProgramInput, RefillInput
from refills.validation import Finding, fmt

from .selectors import BOOKED_CHOICES, GROUPS, clinic_staff

MCG_PER_ML = "mcg/mL"
MG_PER_ML = "mg/mL"
CONCENTRATION_UNITS = ((MCG_PER_ML, "mcg/mL"), (MG_PER_ML, "mg/mL"))
CUSTOM_DILUTION = "Custom dilution"
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format=DATETIME_LOCAL, **kwargs)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", **kwargs)


# Years outside this range are typing slips ("0202", "20255"), and dates near year 1
# or 9999 overflow when moved between the clinic's zone and UTC or when the
# forecast adds days to them: refused as a form error, never a 500.
EARLIEST_YEAR = 1900
LATEST_YEAR = 2199


def sane_year(value) -> None:
    if value is not None and not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValidationError("Check the year.", code="year_out_of_range")


def _ml(label: str, *, required: bool = True, help_text: str = "") -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=required,
        min_value=Decimal("0"),
        max_digits=5,
        decimal_places=2,
        help_text=help_text,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )


def _text(label: str, *, rows: int = 2, required: bool = False, help_text: str = ""):
    return forms.CharField(
        label=label,
        required=required,
        help_text=help_text,
        widget=forms.Textarea(attrs={"rows": rows}),
    )


def product_names() -> list[tuple[str, str]]:
    names = (
        DrugProduct.objects.filter(is_active=True)
        .order_by("is_custom_dilution", "name")
        .values_list("name", flat=True)
        .distinct()
    )
    return [(name, name) for name in dict.fromkeys(names)]


def resolve_product(name: str, concentration_mcg: Decimal | None) -> DrugProduct | None:
    """The catalogue row for a product name and strength.

    None when that product is not made at that strength. A custom dilution is
    one row whatever its strength.
    """
    products = DrugProduct.objects.filter(name=name, is_active=True)
    custom = products.filter(is_custom_dilution=True).first()
    if custom is not None:
        return custom
    if concentration_mcg is None:
        return None
    return products.filter(concentration_mcg_per_ml=concentration_mcg).first()


def stand_in_product(name: str, concentration_mcg: Decimal | None) -> DrugProduct:
    """An unsaved product for the live preview, so an unknown strength still gets its message."""
    return DrugProduct(
        name=name or "Unknown product",
        concentration_mcg_per_ml=concentration_mcg or Decimal(0),
        is_custom_dilution=False,
    )


def add_findings(form: forms.Form, findings: list[Finding], field_map: dict[str, str]) -> None:
    """Show each service finding under its own input (or at the top of the form)."""
    for finding in findings:
        name = field_map.get(finding.field or "", finding.field)
        if name in form.fields:
            form.add_error(name, finding.message)
        else:
            form.add_error(None, finding.message)


class ConcentrationMixin:
    """A concentration with an explicit unit picker; stored in mcg/mL (domain.md §6)."""

    def concentration_mcg(self) -> Decimal | None:
        data = self.cleaned_data
        value = data.get("concentration")
        if value is None:
            return None
        if data.get("concentration_unit") == MG_PER_ML:
            # Converted, not guessed: the nurse chose mg/mL.
            return (value * 1000).quantize(Decimal("0.1"))
        return value


def concentration_fields(initial_unit: str = MCG_PER_ML):
    value = forms.DecimalField(
        label="Concentration",
        min_value=Decimal("0"),
        max_digits=8,
        decimal_places=3,
        help_text="As printed on the vial or syringe label.",
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )
    unit = forms.ChoiceField(
        label="Concentration unit", choices=CONCENTRATION_UNITS, initial=initial_unit
    )
    return value, unit


# --------------------------------------------------------------------------- refill

REFILL_FIELD_MAP = {
    "concentration_mcg_per_ml": "concentration",
    "basal_daily_dose_mcg": "new_daily_dose_mcg",
    "bolus_dose_mcg": "new_daily_dose_mcg",
    "boluses_per_day": "new_daily_dose_mcg",
    "flex_steps": "new_daily_dose_mcg",
}


class RefillForm(ConcentrationMixin, forms.Form):
    performed_at = forms.DateTimeField(
        label="Refill done at",
        validators=[sane_year],
        widget=DateTimeLocalInput(),
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        help_text="Clinic time.",
    )
    programmer_expected_residual_ml = _ml(
        "Programmer's expected residual (mL)",
        required=False,
        help_text="From the programmer's interrogation, if shown.",
    )
    actual_residual_ml = _ml("Residual aspirated (mL)")
    residual_left_ml = _ml(
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
        label="Lot expiry", required=False, widget=DateInput(), validators=[sane_year]
    )
    volume_added_ml = _ml("Volume added (mL)")
    resulting_volume_ml = _ml(
        "Programmed reservoir volume (mL)",
        help_text="What you program into the pump: left + added.",
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
    custom_concentration_reason = _text("Why a custom dilution", rows=1)
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
    bridge_bolus_ml = _ml("Bridge bolus (mL)", required=False)
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
    discrepancy_assessment = _text(
        "Discrepancy assessment", help_text="Needed when the residual is off by > 2 mL or 15 %."
    )
    discrepancy_action = forms.ChoiceField(
        label="Discrepancy action", choices=DiscrepancyAction.choices, required=False
    )
    symptom_screen_done = forms.BooleanField(
        label="Withdrawal and overdose signs reviewed with the patient or caregiver",
        required=False,
    )
    second_checker = forms.ModelChoiceField(label="Second checker", queryset=None, required=False)
    notes = _text("Notes")
    override_reason = _text(
        "Override reason",
        help_text="Needed to save past a warning. Physician-level warnings need a physician.",
    )

    def __init__(self, *args, clinic: Clinic, program: DrugProgram | None, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.clinic = clinic
        self.program = program
        self.fields["product"].choices = [("", "Choose…"), *product_names()]
        staff = clinic_staff(clinic, Role.NURSE, Role.PHYSICIAN).exclude(pk=user.pk)
        self.fields["second_clinician"].queryset = staff
        self.fields["second_checker"].queryset = staff
        if program is not None:
            self.fields[
                "new_daily_dose_mcg"
            ].help_text = f"Leave empty to keep {fmt(program.daily_dose_mcg)} mcg/day."
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Fieldset(
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
            ),
            Fieldset(
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
            ),
            Fieldset(
                "Fill and program",
                Row(
                    Column("volume_added_ml", css_class="col-md-4"),
                    Column("resulting_volume_ml", css_class="col-md-4"),
                    Column("printed_alarm_date", css_class="col-md-4"),
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
            ),
            Fieldset(
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
                    Column("second_checker", css_class="col-md-4"),
                    Column("notes", css_class="col-md-8"),
                ),
            ),
            Field("override_reason", css_class="override-reason"),
        )

    def clean(self):
        data = super().clean()
        conc = self.concentration_mcg()
        name = data.get("product")
        data["concentration_mcg_per_ml"] = conc
        data["drug_product"] = None
        if name and conc is not None:
            product = resolve_product(name, conc)
            if product is None and conc >= 50:
                self.add_error(
                    "concentration",
                    f"{name} is not supplied at {fmt(conc)} mcg/mL. Check the label, "
                    "or choose Custom dilution.",
                )
            data["drug_product"] = product
        dose = data.get("new_daily_dose_mcg")
        if dose is not None and not data.get("program_change_reason", "").strip():
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
        new_program = None
        custom = product.is_custom_dilution
        if data.get("new_daily_dose_mcg") is not None or (
            custom and (self.program is None or not self.program.drug_product.is_custom_dilution)
        ):
            base = self.program
            new_program = ProgramInput(
                drug_product=product,
                concentration_mcg_per_ml=data.get("concentration_mcg_per_ml"),
                mode=DosingMode.SIMPLE,
                basal_daily_dose_mcg=(
                    data.get("new_daily_dose_mcg")
                    if data.get("new_daily_dose_mcg") is not None
                    else (base.basal_daily_dose_mcg if base else None)
                ),
                bolus_dose_mcg=base.bolus_dose_mcg if base else Decimal(0),
                boluses_per_day=base.boluses_per_day if base else 0,
                ptm_expected_daily_mcg=base.ptm_expected_daily_mcg if base else Decimal(0),
                custom_concentration_reason=data.get("custom_concentration_reason", ""),
                second_clinician=data.get("second_clinician"),
            )
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
            discrepancy_assessment=data.get("discrepancy_assessment", ""),
            discrepancy_action=data.get("discrepancy_action", ""),
            symptom_screen_done=bool(data.get("symptom_screen_done")),
            notes=data.get("notes", ""),
            second_checker=data.get("second_checker"),
            new_program=new_program,
            program_change_reason=data.get("program_change_reason", ""),
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


# --------------------------------------------------------------------------- program change

PROGRAM_FIELD_MAP = {
    "concentration_mcg_per_ml": "concentration",
    "flex_steps": "mode",
}

PROGRAM_MODES = [
    (DosingMode.SIMPLE, DosingMode.SIMPLE.label),
    (DosingMode.MINIMUM, DosingMode.MINIMUM.label),
    (DosingMode.STOPPED, DosingMode.STOPPED.label),
]


class ProgramChangeForm(ConcentrationMixin, forms.Form):
    effective_from = forms.DateTimeField(
        label="Effective from",
        validators=[sane_year],
        widget=DateTimeLocalInput(),
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M"],
        help_text="Clinic time.",
    )
    concentration, concentration_unit = concentration_fields()
    mode = forms.ChoiceField(
        label="Dosing mode",
        choices=PROGRAM_MODES,
        help_text="Flex programs are entered at the programmer; enter their daily total here "
        "as a simple continuous dose.",
    )
    basal_daily_dose_mcg = forms.DecimalField(
        label="Basal daily dose (mcg/day)",
        min_value=Decimal(0),
        max_digits=7,
        decimal_places=1,
        help_text="Per day, not per hour.",
    )
    bolus_dose_mcg = forms.DecimalField(
        label="Periodic bolus (mcg each)",
        min_value=Decimal(0),
        max_digits=6,
        decimal_places=1,
        initial=Decimal(0),
    )
    boluses_per_day = forms.IntegerField(label="Boluses per day", min_value=0, initial=0)
    ptm_expected_daily_mcg = forms.DecimalField(
        label="Expected patient-activated bolus use (mcg/day)",
        min_value=Decimal(0),
        max_digits=6,
        decimal_places=1,
        initial=Decimal(0),
    )
    reason = _text("Reason for the change", required=True)
    override_reason = _text(
        "Override reason",
        help_text="Needed to save past a warning. Physician-level warnings need a physician.",
    )

    def __init__(self, *args, program: DrugProgram | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.program = program
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Row(
                Column("effective_from", css_class="col-md-4"),
                Column("concentration", css_class="col-8 col-md-4"),
                Column("concentration_unit", css_class="col-4 col-md-4"),
            ),
            Row(
                Column("mode", css_class="col-md-4"),
                Column("basal_daily_dose_mcg", css_class="col-md-4"),
                Column("ptm_expected_daily_mcg", css_class="col-md-4"),
            ),
            Row(
                Column("bolus_dose_mcg", css_class="col-md-6"),
                Column("boluses_per_day", css_class="col-md-6"),
            ),
            "reason",
            "override_reason",
        )

    def program_input(self) -> ProgramInput:
        data = self.cleaned_data
        product = self.program.drug_product if self.program else None
        return ProgramInput(
            drug_product=product,
            concentration_mcg_per_ml=self.concentration_mcg(),
            mode=data["mode"],
            basal_daily_dose_mcg=data["basal_daily_dose_mcg"],
            bolus_dose_mcg=data["bolus_dose_mcg"],
            boluses_per_day=data["boluses_per_day"],
            ptm_expected_daily_mcg=data["ptm_expected_daily_mcg"],
            custom_concentration_reason=(
                self.program.custom_concentration_reason if self.program else ""
            ),
            second_clinician=self.program.second_clinician if self.program else None,
        )


def program_initial(program: DrugProgram | None, *, zone, now: dt.datetime) -> dict:
    initial = {
        "effective_from": timezone.localtime(now, zone).replace(
            second=0, microsecond=0, tzinfo=None
        ),
        "concentration_unit": MCG_PER_ML,
    }
    if program is not None:
        initial.update(
            concentration=fmt(program.concentration_mcg_per_ml),
            mode=program.mode if program.mode != DosingMode.FLEX else DosingMode.SIMPLE,
            basal_daily_dose_mcg=fmt(program.basal_daily_dose_mcg),
            bolus_dose_mcg=fmt(program.bolus_dose_mcg),
            boluses_per_day=program.boluses_per_day,
            ptm_expected_daily_mcg=fmt(program.ptm_expected_daily_mcg),
        )
    return initial


# --------------------------------------------------------------------------- appointments

APPOINTMENT_FIELD_MAP = {"scheduled_start": "day"}


class WhenMixin:
    """A date and a time in the clinic's zone, combined into an aware instant."""

    zone: dt.tzinfo

    def scheduled_start(self) -> dt.datetime:
        day = self.cleaned_data["day"]
        at = self.cleaned_data["time"]
        return dt.datetime.combine(day, at, tzinfo=self.zone)


class AppointmentForm(WhenMixin, forms.Form):
    kind = forms.ChoiceField(label="Kind", choices=AppointmentKind.choices)
    day = forms.DateField(
        label="Date", widget=DateInput(), help_text="Clinic time.", validators=[sane_year]
    )
    time = forms.TimeField(label="Time", widget=TimeInput(), input_formats=["%H:%M", "%H:%M:%S"])
    duration_minutes = forms.IntegerField(
        label="Duration (minutes)", min_value=5, max_value=480, initial=30
    )
    notes = _text("Notes")
    override_reason = _text(
        "Override reason",
        help_text="A refill after the refill-by date needs a physician's override and reason.",
    )

    def __init__(self, *args, zone: dt.tzinfo, **kwargs):
        super().__init__(*args, **kwargs)
        self.zone = zone
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Row(
                Column("kind", css_class="col-md-3"),
                Column("day", css_class="col-md-3"),
                Column("time", css_class="col-md-3"),
                Column("duration_minutes", css_class="col-md-3"),
            ),
            "notes",
            "override_reason",
        )


class RescheduleForm(WhenMixin, forms.Form):
    day = forms.DateField(
        label="New date", widget=DateInput(), help_text="Clinic time.", validators=[sane_year]
    )
    time = forms.TimeField(
        label="New time", widget=TimeInput(), input_formats=["%H:%M", "%H:%M:%S"]
    )
    override_reason = _text(
        "Override reason",
        help_text="A refill after the refill-by date needs a physician's override and reason.",
    )

    def __init__(self, *args, zone: dt.tzinfo, **kwargs):
        super().__init__(*args, **kwargs)
        self.zone = zone
        self.helper = FormHelper()
        self.helper.form_tag = False


class CancelForm(forms.Form):
    reason = _text("Reason for cancelling", required=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False


# --------------------------------------------------------------------------- alerts


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(label="Assign to", queryset=None)

    def __init__(self, *args, assignees, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignees
        self.fields["assignee"].label_from_instance = lambda u: u.get_full_name() or u.username


class ResolveForm(forms.Form):
    note = _text("Resolution note", required=True, rows=2)


# --------------------------------------------------------------------------- board filters


class BoardFilterForm(forms.Form):
    q = forms.CharField(label="Search by name or MRN", required=False, max_length=100)
    tier = forms.TypedChoiceField(
        label="Tier",
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "Any tier"), (4, "Critical"), (3, "High"), (2, "Moderate"), (1, "Low")],
    )
    group = forms.ChoiceField(label="Due", required=False, choices=[("", "Any time"), *GROUPS])
    pump_model = forms.TypedChoiceField(
        label="Pump model", required=False, coerce=int, empty_value=None
    )
    booked = forms.ChoiceField(
        label="Appointment", required=False, choices=[("", "Booked or not"), *BOOKED_CHOICES]
    )

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
            )
        )
