"""Staff forms. They parse and label input; the services decide what is clinically allowed.

Service findings come back as refills.validation.Finding objects; `add_findings`
puts each one under the input it is about, so errors appear in place.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Div, Field, Fieldset, Layout, Row
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import Role
from patients.models import Clinic, Pump
from pumptrack.limits import free_text_field
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
    return free_text_field(label=label, rows=rows, required=required, help_text=help_text)


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
        label="Lot expiry",
        widget=DateInput(),
        validators=[sane_year],
        help_text="From the drug label. An expired lot is refused.",
    )
    volume_added_ml = _ml("Volume added (mL)")
    resulting_volume_ml = _ml(
        "Programmed reservoir volume (mL)",
        help_text="What you program into the pump: left + added.",
    )
    measured_volume_after_fill_ml = _ml(
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
    remeasured_residual_ml = _ml(
        "Residual measured a second time (mL)",
        required=False,
        help_text='Needed for "entry error": it must reconcile within tolerance.',
    )
    discrepancy_cause = _text(
        "What the work-up found", help_text='Needed for "the work-up found the cause".'
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
                    Column("remeasured_residual_ml", css_class="col-md-4"),
                    Column("discrepancy_cause", css_class="col-md-8"),
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
        new_program = None
        custom = product.is_custom_dilution
        if data.get("new_daily_dose_mcg") is not None or (
            custom and (self.program is None or not self.program.drug_product.is_custom_dilution)
        ):
            base = self.program
            # A new custom strength without a dose change keeps the program's mode and steps.
            keep_steps = (
                base is not None
                and base.mode == DosingMode.FLEX
                and data.get("new_daily_dose_mcg") is None
            )
            new_program = ProgramInput(
                drug_product=product,
                concentration_mcg_per_ml=data.get("concentration_mcg_per_ml"),
                mode=DosingMode.FLEX if keep_steps else DosingMode.SIMPLE,
                flex_steps=(
                    [(s.starts_at, s.hours, s.rate_mcg_per_hour) for s in base.flex_steps.all()]
                    if keep_steps
                    else []
                ),
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
# In flex mode the daily-dose findings are about the steps' total: shown with the steps.
FLEX_FINDING_FIELDS = frozenset({"flex_steps", "basal_daily_dose_mcg"})

PROGRAM_MODES = [
    (DosingMode.SIMPLE, DosingMode.SIMPLE.label),
    (DosingMode.FLEX, DosingMode.FLEX.label),
    (DosingMode.MINIMUM, DosingMode.MINIMUM.label),
    (DosingMode.STOPPED, DosingMode.STOPPED.label),
]

# SynchroMed II flex can vary the dose "up to 13 different times throughout a day"
# (domain.md §1.6): the editor offers no more rows than that.
MAX_FLEX_STEPS = 13
# Blank rows on a new page, so steps can be added in a browser that runs no script.
BLANK_STEP_ROWS = 3
STEPS_PREFIX = "steps"
STEP_FIELDS = ("starts_at", "hours", "rate_mcg_per_hour")


def _lenient(form: forms.Form, name: str):
    """A field's value if what was typed (or the initial value) parses, else None.

    For the totals shown beside the inputs: they show what parses, while the
    form's own errors say what does not.
    """
    field = form.fields[name]
    if form.is_bound:
        value = field.widget.value_from_datadict(form.data, form.files, form.add_prefix(name))
    else:
        value = form.get_initial_for_field(field, name)
    try:
        return field.clean(value)
    except ValidationError:
        return None


def _clock(minutes: Decimal) -> str:
    whole = int(minutes.to_integral_value()) % (24 * 60)
    return f"{whole // 60:02d}:{whole % 60:02d}"


class FlexStepForm(forms.Form):
    """One flex step as the pump programmer shows it. A row left blank is not a step."""

    starts_at = forms.TimeField(
        label="Starts at",
        required=False,
        widget=TimeInput(attrs={"class": "form-control form-control-sm"}),
        input_formats=["%H:%M", "%H:%M:%S"],
    )
    hours = forms.DecimalField(
        label="Duration (hours)",
        required=False,
        min_value=Decimal(0),
        max_value=Decimal(24),
        max_digits=4,
        decimal_places=2,
        widget=forms.NumberInput(
            attrs={"step": "0.01", "inputmode": "decimal", "class": "form-control form-control-sm"}
        ),
    )
    rate_mcg_per_hour = forms.DecimalField(
        label="Rate (mcg/hour)",
        required=False,
        min_value=Decimal(0),
        max_digits=6,
        decimal_places=2,
        widget=forms.NumberInput(
            attrs={"step": "0.01", "inputmode": "decimal", "class": "form-control form-control-sm"}
        ),
    )

    missing = {
        "starts_at": "Enter the time the step starts.",
        "hours": "Enter how many hours the step lasts.",
        "rate_mcg_per_hour": "Enter the rate in mcg/hour.",
    }

    def is_blank(self) -> bool:
        """Nothing typed in the row: read raw, so a value that did not parse still counts."""
        if not self.is_bound:
            return all(self.initial.get(name) in (None, "") for name in STEP_FIELDS)
        return not any(
            str(self.data.get(self.add_prefix(name)) or "").strip() for name in STEP_FIELDS
        )

    def clean(self):
        data = super().clean()
        if not self.is_blank():
            for name, message in self.missing.items():
                if data.get(name) is None and name not in self.errors:
                    self.add_error(name, message)
        return data

    def full_clean(self):
        super().full_clean()
        # The inputs are drawn by hand in a table, so mark the invalid ones here.
        for name in self.errors:
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                attrs["class"] = attrs.get("class", "") + " is-invalid"
                attrs["aria-invalid"] = "true"
                attrs["aria-describedby"] = f"{self[name].auto_id}_error"

    def step(self) -> tuple[dt.time, Decimal, Decimal] | None:
        """(starts at, hours, rate) as ProgramInput takes them, when all three parse."""
        values = [_lenient(self, name) for name in STEP_FIELDS]
        if any(value is None for value in values):
            return None
        return values[0], values[1], values[2]

    def shown(self) -> dict[str, str]:
        """The computed cells of the row: when the step ends and what it delivers."""
        start, hours, rate = (_lenient(self, name) for name in STEP_FIELDS)
        ends = dose = "—"
        if start is not None and hours is not None:
            minutes = Decimal(start.hour * 60 + start.minute) + hours * 60
            ends = _clock(minutes) + (" next day" if minutes > 24 * 60 else "")
        if hours is not None and rate is not None:
            dose = fmt(hours * rate)
        return {"ends_at": ends, "dose_mcg": dose}


class BaseFlexStepFormSet(forms.BaseFormSet):
    default_error_messages = {
        "missing_management_form": (
            "The flex step rows did not arrive complete. Reload the page and enter the steps again."
        ),
        "too_many_forms": f"A flex program has at most {MAX_FLEX_STEPS} steps a day.",
    }

    def clean(self):
        if any(self.errors) or not self.management_form.is_valid():
            return
        if not self.steps():
            raise ValidationError(
                "Enter at least one step: when it starts, how many hours it lasts and its "
                "rate in mcg/hour.",
                code="flex_missing",
            )

    def steps(self) -> list[tuple[dt.time, Decimal, Decimal]]:
        """The steps in row order; blank rows and rows that do not parse are left out."""
        return [step for form in self.forms if not form.is_blank() and (step := form.step())]

    def add_finding(self, message: str) -> None:
        """A finding about the steps as a whole, shown above the step rows."""
        self.non_form_errors().append(message)


FlexStepFormSet = forms.formset_factory(
    FlexStepForm,
    formset=BaseFlexStepFormSet,
    extra=0,
    max_num=MAX_FLEX_STEPS,
    absolute_max=MAX_FLEX_STEPS,
    validate_max=True,
)


@dataclass(frozen=True)
class ProgramTotals:
    """The daily total the form adds up, beside the old one (domain.md §7.1 #1)."""

    flex: bool
    basal_mcg: Decimal | None
    step_hours: Decimal | None
    bolus_mcg: Decimal | None
    ptm_mcg: Decimal | None
    total_mcg: Decimal | None
    current_mcg: Decimal | None

    @property
    def change(self) -> str:
        """Worded like the dose-change findings (refills.validation.check_dose_change)."""
        if self.total_mcg is None or self.current_mcg is None:
            return "—"
        if self.current_mcg <= 0:
            return "restart from 0 mcg/day" if self.total_mcg > 0 else "no change"
        if self.total_mcg == self.current_mcg:
            return "no change"
        ratio = self.total_mcg / self.current_mcg
        change_pct = (ratio - 1) * 100
        return f"{change_pct:+.0f} % (×{ratio:.1f})"


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
        help_text="Flex: the dose varies through the day in steps, each with its own rate "
        "in mcg/hour.",
    )
    basal_daily_dose_mcg = forms.DecimalField(
        label="Basal daily dose (mcg/day)",
        required=False,
        min_value=Decimal(0),
        max_digits=7,
        decimal_places=1,
        help_text="Per day, not per hour. In flex mode the steps give the basal dose.",
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
        self.steps = self._step_formset()
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Row(
                Column("effective_from", css_class="col-md-4"),
                Column("concentration", css_class="col-8 col-md-4"),
                Column("concentration_unit", css_class="col-4 col-md-4"),
            ),
            Row(
                Column("mode", css_class="col-md-6"),
                Column("basal_daily_dose_mcg", css_class="col-md-6 program-simple-only"),
            ),
            HTML('{% include "dashboard/includes/program_steps.html" %}'),
            Row(
                Column("bolus_dose_mcg", css_class="col-md-4"),
                Column("boluses_per_day", css_class="col-md-4"),
                Column("ptm_expected_daily_mcg", css_class="col-md-4"),
            ),
            HTML('{% include "dashboard/includes/program_totals.html" %}'),
            "reason",
            "override_reason",
        )

    def _step_formset(self) -> BaseFlexStepFormSet:
        if self.is_bound and f"{STEPS_PREFIX}-TOTAL_FORMS" in self.data:
            return FlexStepFormSet(self.data, prefix=STEPS_PREFIX)
        # A new page, or a post without step rows (a simple program needs none).
        formset = FlexStepFormSet(initial=self.initial.get("flex_steps") or [], prefix=STEPS_PREFIX)
        formset.extra = BLANK_STEP_ROWS  # never more rows than MAX_FLEX_STEPS in all
        return formset

    def is_flex(self) -> bool:
        return _lenient(self, "mode") == DosingMode.FLEX

    def clean(self):
        data = super().clean()
        mode = data.get("mode")
        if (
            mode
            and mode != DosingMode.FLEX
            and data.get("basal_daily_dose_mcg") is None
            and "basal_daily_dose_mcg" not in self.errors
        ):
            self.add_error("basal_daily_dose_mcg", "Enter the daily dose in mcg/day.")
        return data

    def is_valid(self) -> bool:
        valid = super().is_valid()
        if getattr(self, "cleaned_data", {}).get("mode") != DosingMode.FLEX:
            return valid
        if not self.steps.is_bound:
            self.steps.add_finding(
                "The flex steps did not arrive with the form. Check the steps below and save again."
            )
            return False
        # Checked even when the rest has errors, so every message shows at once.
        return self.steps.is_valid() and valid

    def program_input(self) -> ProgramInput:
        data = self.cleaned_data
        flex = data["mode"] == DosingMode.FLEX
        product = self.program.drug_product if self.program else None
        return ProgramInput(
            drug_product=product,
            concentration_mcg_per_ml=self.concentration_mcg(),
            mode=data["mode"],
            basal_daily_dose_mcg=None if flex else data["basal_daily_dose_mcg"],
            flex_steps=self.steps.steps() if flex else [],
            bolus_dose_mcg=data["bolus_dose_mcg"],
            boluses_per_day=data["boluses_per_day"],
            ptm_expected_daily_mcg=data["ptm_expected_daily_mcg"],
            custom_concentration_reason=(
                self.program.custom_concentration_reason if self.program else ""
            ),
            second_clinician=self.program.second_clinician if self.program else None,
        )

    def add_findings(self, findings: list[Finding]) -> None:
        """Each service finding in place: those about the steps' total with the steps."""
        flex = self.is_flex()
        for finding in findings:
            if flex and finding.field in FLEX_FINDING_FIELDS:
                self.steps.add_finding(finding.message)
            else:
                add_findings(self, [finding], PROGRAM_FIELD_MAP)

    def totals(self) -> ProgramTotals:
        """The daily total from whatever parses, as the service will compute it."""
        flex = self.is_flex()
        steps = self.steps.steps() if flex else []
        bolus = _lenient(self, "bolus_dose_mcg")
        per_day = _lenient(self, "boluses_per_day")
        ptm = _lenient(self, "ptm_expected_daily_mcg")
        program = ProgramInput(
            drug_product=None,
            concentration_mcg_per_ml=None,
            mode=_lenient(self, "mode") or DosingMode.SIMPLE,
            basal_daily_dose_mcg=None if flex else _lenient(self, "basal_daily_dose_mcg"),
            flex_steps=steps,
            bolus_dose_mcg=bolus or Decimal(0),
            boluses_per_day=per_day or 0,
            ptm_expected_daily_mcg=ptm or Decimal(0),
        )
        complete = None not in (bolus, per_day, ptm)
        return ProgramTotals(
            flex=flex,
            basal_mcg=program.basal_mcg if (steps or not flex) else None,
            step_hours=sum((hours for _, hours, _ in steps), Decimal(0)) if steps else None,
            bolus_mcg=bolus * per_day if bolus is not None and per_day is not None else None,
            ptm_mcg=ptm,
            total_mcg=program.daily_dose_mcg if complete and (steps or not flex) else None,
            current_mcg=self.program.daily_dose_mcg if self.program else None,
        )


def program_initial(program: DrugProgram | None, *, zone, now: dt.datetime) -> dict:
    """The form's starting values: the program in effect, its flex steps in the step rows."""
    initial = {
        "effective_from": timezone.localtime(now, zone).replace(
            second=0, microsecond=0, tzinfo=None
        ),
        "concentration_unit": MCG_PER_ML,
    }
    if program is not None:
        steps = program.flex_steps.all() if program.mode == DosingMode.FLEX else []
        initial.update(
            concentration=fmt(program.concentration_mcg_per_ml),
            mode=program.mode,
            basal_daily_dose_mcg=fmt(program.basal_daily_dose_mcg),
            bolus_dose_mcg=fmt(program.bolus_dose_mcg),
            boluses_per_day=program.boluses_per_day,
            ptm_expected_daily_mcg=fmt(program.ptm_expected_daily_mcg),
            flex_steps=[
                {
                    "starts_at": step.starts_at,
                    "hours": fmt(step.hours),
                    "rate_mcg_per_hour": fmt(step.rate_mcg_per_hour),
                }
                for step in steps
            ],
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
        help_text="A refill after the refill-by date needs a physician's override and reason; "
        "when it has passed, the soonest visit (today or the next working day) needs none.",
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
        help_text="A refill after the refill-by date needs a physician's override and reason; "
        "when it has passed, the soonest visit (today or the next working day) needs none.",
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
