"""The drug-program form: a simple dose or flex steps, with the daily total shown as typed.

It parses and labels input; refills.services decides what is clinically allowed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Layout, Row
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from refills.models import DosingMode, DrugProgram
from refills.services import ProgramInput
from refills.validation import Finding, fmt

from ..form_choices import program_flex_steps
from .fields import (
    DATETIME_LOCAL,
    MCG_PER_ML,
    ConcentrationMixin,
    DateTimeLocalInput,
    TimeInput,
    concentration_fields,
    sane_year,
    text_field,
)
from .findings import add_findings

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
    reason = text_field("Reason for the change", required=True)
    override_reason = text_field(
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
        steps = program_flex_steps(program) if program.mode == DosingMode.FLEX else []
        initial.update(
            concentration=fmt(program.concentration_mcg_per_ml),
            mode=program.mode,
            basal_daily_dose_mcg=fmt(program.basal_daily_dose_mcg),
            bolus_dose_mcg=fmt(program.bolus_dose_mcg),
            boluses_per_day=program.boluses_per_day,
            ptm_expected_daily_mcg=fmt(program.ptm_expected_daily_mcg),
            flex_steps=[
                {"starts_at": starts_at, "hours": fmt(hours), "rate_mcg_per_hour": fmt(rate)}
                for starts_at, hours, rate in steps
            ],
        )
    return initial
