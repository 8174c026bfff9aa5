"""Writes for the refills app, split by area.

- ``programs``: drug program changes and a new pump's first program
- ``refill_preview``: what a refill would do, checked and projected, without writing
- ``refills``: the refill record
- ``appointments``: booking, rescheduling, cancelling, missed and completed visits
- ``reports``: pump reports (alarms, symptoms)
- ``forecast``: recompute and store a pump's forecast and risk tier
- ``common``: the findings gate and override records they share

Every public name is re-exported here, so ``from refills.services import X`` keeps
working; code inside the project may import from the precise submodule.
"""

from refills.services.appointments import (
    appointment_book,
    appointment_cancel,
    appointment_complete,
    appointment_findings,
    appointment_mark_missed,
    appointment_record_past,
    appointment_reschedule,
)
from refills.services.common import (
    EXPLAINED_DISCREPANCY_ACTIONS,
    SECOND_PERSON_ROLES,
    ClinicalValidationError,
)
from refills.services.forecast import forecast_reassess_due, forecast_refresh
from refills.services.programs import (
    DOSE_STEP,
    ProgramInput,
    drug_program_change,
    program_findings,
    program_start,
)
from refills.services.refill_preview import RefillInput, RefillPreview, refill_preview
from refills.services.refills import refill_record
from refills.services.reports import pump_report_record, pump_report_resolve

__all__ = [
    "DOSE_STEP",
    "EXPLAINED_DISCREPANCY_ACTIONS",
    "SECOND_PERSON_ROLES",
    "ClinicalValidationError",
    "ProgramInput",
    "RefillInput",
    "RefillPreview",
    "appointment_book",
    "appointment_cancel",
    "appointment_complete",
    "appointment_findings",
    "appointment_mark_missed",
    "appointment_record_past",
    "appointment_reschedule",
    "drug_program_change",
    "forecast_reassess_due",
    "forecast_refresh",
    "program_findings",
    "program_start",
    "pump_report_record",
    "pump_report_resolve",
    "refill_preview",
    "refill_record",
]
