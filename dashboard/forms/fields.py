"""Inputs and fields shared by the staff forms: dates in the clinic's zone, volumes,
free text and a concentration with its unit."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from pumptrack.limits import free_text_field

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


def ml_field(label: str, *, required: bool = True, help_text: str = "") -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=required,
        min_value=Decimal("0"),
        max_digits=5,
        decimal_places=2,
        help_text=help_text,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )


def text_field(label: str, *, rows: int = 2, required: bool = False, help_text: str = ""):
    return free_text_field(label=label, rows=rows, required=required, help_text=help_text)


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
