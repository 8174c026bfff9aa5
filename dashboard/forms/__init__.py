"""Staff forms, by area. They parse and label input; the services decide what is
clinically allowed, and `findings.add_findings_to_form` puts their refusals in place.

- fields: shared inputs (dates in the clinic's zone, volumes, free text, concentration)
- findings: one way to put a service's findings or errors on a form
- refills, programs, appointments, alerts, board: the forms of each page

The names stay importable from `dashboard.forms`; new code imports them from the
submodule that holds them. The forms' reads are in dashboard.form_choices.
"""

from ..form_choices import product_names, resolve_product
from .alerts import AssignForm, ResolveForm
from .appointments import (
    APPOINTMENT_FIELD_MAP,
    BOOKING_OVERRIDE_HELP,
    AppointmentForm,
    CancelForm,
    RescheduleForm,
    WhenMixin,
)
from .board import BoardFilterForm
from .fields import (
    CONCENTRATION_UNITS,
    CUSTOM_DILUTION,
    DATETIME_LOCAL,
    EARLIEST_YEAR,
    LATEST_YEAR,
    MCG_PER_ML,
    MG_PER_ML,
    ConcentrationMixin,
    DateInput,
    DateTimeLocalInput,
    TimeInput,
    concentration_fields,
    ml_field,
    sane_year,
    text_field,
)
from .findings import add_findings, add_findings_to_form
from .programs import (
    BLANK_STEP_ROWS,
    FLEX_FINDING_FIELDS,
    MAX_FLEX_STEPS,
    PROGRAM_FIELD_MAP,
    PROGRAM_MODES,
    STEP_FIELDS,
    STEPS_PREFIX,
    BaseFlexStepFormSet,
    FlexStepForm,
    FlexStepFormSet,
    ProgramChangeForm,
    ProgramTotals,
    program_initial,
)
from .refills import (
    REFILL_FIELD_MAP,
    RefillForm,
    discrepancy_assessment_help,
    refill_initial,
    refill_layout,
    stand_in_product,
)

__all__ = [
    "APPOINTMENT_FIELD_MAP",
    "BLANK_STEP_ROWS",
    "BOOKING_OVERRIDE_HELP",
    "CONCENTRATION_UNITS",
    "CUSTOM_DILUTION",
    "DATETIME_LOCAL",
    "EARLIEST_YEAR",
    "FLEX_FINDING_FIELDS",
    "LATEST_YEAR",
    "MAX_FLEX_STEPS",
    "MCG_PER_ML",
    "MG_PER_ML",
    "PROGRAM_FIELD_MAP",
    "PROGRAM_MODES",
    "REFILL_FIELD_MAP",
    "STEPS_PREFIX",
    "STEP_FIELDS",
    "AppointmentForm",
    "AssignForm",
    "BaseFlexStepFormSet",
    "BoardFilterForm",
    "CancelForm",
    "ConcentrationMixin",
    "DateInput",
    "DateTimeLocalInput",
    "FlexStepForm",
    "FlexStepFormSet",
    "ProgramChangeForm",
    "ProgramTotals",
    "RefillForm",
    "RescheduleForm",
    "ResolveForm",
    "TimeInput",
    "WhenMixin",
    "add_findings",
    "add_findings_to_form",
    "concentration_fields",
    "discrepancy_assessment_help",
    "ml_field",
    "product_names",
    "program_initial",
    "refill_initial",
    "refill_layout",
    "resolve_product",
    "sane_year",
    "stand_in_product",
    "text_field",
]
