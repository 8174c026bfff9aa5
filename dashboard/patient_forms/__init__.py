"""Forms for registering patients, caregivers, implanted pumps and pump reports, by area.

They parse and label input; patients.services and refills.services decide what
is valid and write. `add_service_errors` (dashboard.forms.findings.add_findings_to_form)
puts a service's ValidationError under the input it is about, or at the top of the form.

The names stay importable from `dashboard.patient_forms`; new code imports them from
the submodule that holds them.
"""

from .caregivers import CaregiverForm, caregiver_initial
from .common import (
    ALARM_VOLUME_HELP,
    EARLIEST_BIRTH,
    EARLIEST_IMPLANT,
    EARLIEST_REPORT,
    LATEST_PLANNED_YEARS,
    PATIENT_RISK_FIELDS,
    PHONE_MAX_TYPED,
    REPORT_CLOCK_SLACK,
    ContactRulesMixin,
    add_service_errors,
    timezone_choices,
)
from .patients import PatientForm, patient_initial
from .pumps import (
    PumpEditForm,
    PumpExplantForm,
    PumpImplantForm,
    PumpModelChoiceField,
    pump_edit_initial,
)
from .reports import PumpReportForm, ReportResolveForm, report_initial

__all__ = [
    "ALARM_VOLUME_HELP",
    "EARLIEST_BIRTH",
    "EARLIEST_IMPLANT",
    "EARLIEST_REPORT",
    "LATEST_PLANNED_YEARS",
    "PATIENT_RISK_FIELDS",
    "PHONE_MAX_TYPED",
    "REPORT_CLOCK_SLACK",
    "CaregiverForm",
    "ContactRulesMixin",
    "PatientForm",
    "PumpEditForm",
    "PumpExplantForm",
    "PumpImplantForm",
    "PumpModelChoiceField",
    "PumpReportForm",
    "ReportResolveForm",
    "add_service_errors",
    "caregiver_initial",
    "patient_initial",
    "pump_edit_initial",
    "report_initial",
    "timezone_choices",
]
