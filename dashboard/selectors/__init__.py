"""Reads sized for the staff pages, one module per area.

Every clinical row is reached through accounts.access (patients_for / scoped),
so another clinic's row is never returned. Lists read the stored forecast
columns; the only forecast maths at read time is the one patient's chart.

Reads never write: the reminder sweep keeps stored forecasts fresh
(refills.services.forecast_reassess_due). Where a stored forecast's
``reassess_at`` has passed, the pages say so beside the tier and show when the
sweep last ran, instead of refreshing it on a GET.

The public names stay importable from ``dashboard.selectors``; code in the project
imports from the precise submodule.
"""

from accounts.access import allowed_actions

from .board import (
    BOOKED_CHOICES,
    GROUP_BOUNDS,
    GROUP_LABELS,
    GROUP_SHORT_LABELS,
    GROUPS,
    BoardFilters,
    board_group_counts,
    board_queryset,
    board_recheck_due_count,
    pump_models,
)
from .calendar import WeekDue, appointments_between, refills_due_by_week
from .card import (
    NO_MRI_NOTES,
    OVERDOSE_SIGNS,
    WITHDRAWAL_SIGNS,
    EmergencyCard,
    dose_schedule_text,
    emergency_card,
)
from .chart import CHART_MAX_DAYS, CHART_SAMPLES, reservoir_chart
from .clinics import clinic_staff, clinic_today, members_for_assignment, user_clinics
from .patient import (
    HISTORY_LIMIT,
    REFILL_HISTORY_LIMIT,
    RESOLVED_REPORTS_SHOWN,
    URGENT_REPORTS,
    HistoryEntry,
    PatientPage,
    PatientReports,
    active_pump,
    clock_change_notice,
    current_program,
    patient_history,
    patient_page,
    patient_reports,
    pump_dates,
    stored_forecast,
)
from .records import (
    APPOINTMENT_ROWS,
    CAREGIVER_ROWS,
    PUMP_ROWS,
    REPORT_ROWS,
    patient_appointment,
    patient_refill,
    pump_booked,
    pump_is_critical,
    pump_open_alert_count,
)

__all__ = [
    "APPOINTMENT_ROWS",
    "CAREGIVER_ROWS",
    "PUMP_ROWS",
    "REPORT_ROWS",
    "patient_appointment",
    "patient_refill",
    "pump_booked",
    "pump_is_critical",
    "pump_open_alert_count",
    "BOOKED_CHOICES",
    "CHART_MAX_DAYS",
    "CHART_SAMPLES",
    "GROUP_BOUNDS",
    "GROUP_LABELS",
    "GROUP_SHORT_LABELS",
    "GROUPS",
    "HISTORY_LIMIT",
    "NO_MRI_NOTES",
    "OVERDOSE_SIGNS",
    "REFILL_HISTORY_LIMIT",
    "RESOLVED_REPORTS_SHOWN",
    "URGENT_REPORTS",
    "WITHDRAWAL_SIGNS",
    "BoardFilters",
    "EmergencyCard",
    "HistoryEntry",
    "PatientPage",
    "PatientReports",
    "WeekDue",
    "active_pump",
    "allowed_actions",
    "appointments_between",
    "board_group_counts",
    "board_queryset",
    "board_recheck_due_count",
    "clinic_staff",
    "clinic_today",
    "clock_change_notice",
    "current_program",
    "dose_schedule_text",
    "emergency_card",
    "members_for_assignment",
    "patient_history",
    "patient_page",
    "patient_reports",
    "pump_dates",
    "pump_models",
    "refills_due_by_week",
    "reservoir_chart",
    "stored_forecast",
    "user_clinics",
]
