"""Clinical input checks from domain.md §7.2, as plain functions.

Each check returns findings instead of raising, so a form can show every
problem at once and a preview can show warnings before anything is saved.
Severity decides what happens on save:

- ERROR blocks: the entry is wrong or unsafe and must be corrected.
- WARNING needs an override reason from the person saving.
- PHYSICIAN needs an override reason from a physician of the clinic.

Messages are written for the nurse at the pump, not for a developer.

Split by area: ``findings`` (Finding, Severity), ``program`` (a drug program),
``dose_change`` (a change of the daily dose) and ``refill`` (a refill entry). Every
public name is re-exported here, so ``from refills.validation import X`` keeps working.
"""

from refills.validation.dose_change import (
    DoseChangeLimits,
    DoseInEffect,
    check_dose_change,
    check_dose_change_in_window,
)
from refills.validation.findings import Finding, Severity, fmt
from refills.validation.program import (
    ATTENDING_OVERRIDE_ABOVE_MCG,
    BOLUS_SHARE_WARNING,
    BOLUS_WARNING_MCG,
    CEREBRAL_RANGE_MCG,
    FLEX_JOIN_TOLERANCE_MINUTES,
    LABELLED_MIN_AGE_YEARS,
    LIMITED_EXPERIENCE_MCG,
    MAX_CONCENTRATION,
    MIN_CONCENTRATION,
    MINUTES_PER_DAY,
    MOST_PATIENTS_UPPER_MCG,
    PEDIATRIC_AGE_YEARS,
    PEDIATRIC_UPPER_MCG,
    SCREENING_CONCENTRATION,
    SPINAL_RANGE_MCG,
    check_age_and_indication,
    check_boluses,
    check_concentration,
    check_daily_dose,
    check_flex_schedule,
    check_flex_steps,
)
from refills.validation.refill import (
    FILL_TOLERANCE_ML,
    FUTURE_SLACK,
    check_bridge_bolus,
    check_days_to_alarm,
    check_discrepancy_assessment,
    check_lot,
    check_needle_placement,
    check_performed_at,
    check_post_fill_volume,
    check_printed_alarm,
    check_refill_volumes,
)

__all__ = [
    "ATTENDING_OVERRIDE_ABOVE_MCG",
    "BOLUS_SHARE_WARNING",
    "BOLUS_WARNING_MCG",
    "CEREBRAL_RANGE_MCG",
    "DoseChangeLimits",
    "DoseInEffect",
    "FILL_TOLERANCE_ML",
    "FLEX_JOIN_TOLERANCE_MINUTES",
    "FUTURE_SLACK",
    "Finding",
    "LABELLED_MIN_AGE_YEARS",
    "LIMITED_EXPERIENCE_MCG",
    "MAX_CONCENTRATION",
    "MINUTES_PER_DAY",
    "MIN_CONCENTRATION",
    "MOST_PATIENTS_UPPER_MCG",
    "PEDIATRIC_AGE_YEARS",
    "PEDIATRIC_UPPER_MCG",
    "SCREENING_CONCENTRATION",
    "SPINAL_RANGE_MCG",
    "Severity",
    "check_age_and_indication",
    "check_boluses",
    "check_bridge_bolus",
    "check_concentration",
    "check_daily_dose",
    "check_days_to_alarm",
    "check_discrepancy_assessment",
    "check_dose_change",
    "check_dose_change_in_window",
    "check_flex_schedule",
    "check_flex_steps",
    "check_lot",
    "check_needle_placement",
    "check_performed_at",
    "check_post_fill_volume",
    "check_printed_alarm",
    "check_refill_volumes",
    "fmt",
]
