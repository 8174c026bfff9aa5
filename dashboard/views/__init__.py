"""Staff pages, one module per area. Thin: parse with a form, act through a service, read
through a selector.

Every patient, pump and appointment is fetched through accounts.decorators.staff_view
(the one access decorator), so a row from another clinic is a 404; a role without the
permission gets a 403. Each view that shows or parses clinic times runs inside the
clinic's zone.

The views stay importable from ``dashboard.views``; the URLconf names each submodule.
"""

from .alerts import alert_acknowledge, alert_assign, alert_inbox, alert_resolve
from .appointments import (
    appointment_cancel,
    appointment_complete,
    appointment_create,
    appointment_missed,
    appointment_reschedule,
)
from .board import BOARD_PAGE_SIZE, board
from .calendar import calendar
from .patient import emergency_card, emergency_card_pdf_view, patient_detail
from .refills import program_change, refill_create, refill_preview, refill_saved

__all__ = [
    "BOARD_PAGE_SIZE",
    "alert_acknowledge",
    "alert_assign",
    "alert_inbox",
    "alert_resolve",
    "appointment_cancel",
    "appointment_complete",
    "appointment_create",
    "appointment_missed",
    "appointment_reschedule",
    "board",
    "calendar",
    "emergency_card",
    "emergency_card_pdf_view",
    "patient_detail",
    "program_change",
    "refill_create",
    "refill_preview",
    "refill_saved",
]
