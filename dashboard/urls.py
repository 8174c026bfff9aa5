from django.urls import path

from . import clinic_admin_views, patient_views
from .views.alerts import alert_acknowledge, alert_assign, alert_inbox, alert_resolve
from .views.appointments import (
    appointment_cancel,
    appointment_complete,
    appointment_create,
    appointment_missed,
    appointment_reschedule,
)
from .views.board import board
from .views.calendar import calendar
from .views.patient import emergency_card, emergency_card_pdf_view, patient_detail
from .views.patient_list import patients
from .views.refills import program_change, refill_create, refill_preview, refill_saved

app_name = "dashboard"

urlpatterns = [
    path("", board, name="board"),
    path("patients/", patients, name="patient_list"),
    path("patients/<int:patient_id>/", patient_detail, name="patient"),
    path("patients/<int:patient_id>/refill/", refill_create, name="refill_create"),
    path("patients/<int:patient_id>/refill/preview/", refill_preview, name="refill_preview"),
    path(
        "patients/<int:patient_id>/refills/<int:refill_id>/saved/",
        refill_saved,
        name="refill_saved",
    ),
    path("patients/<int:patient_id>/program/", program_change, name="program_change"),
    path(
        "patients/<int:patient_id>/appointments/new/",
        appointment_create,
        name="appointment_create",
    ),
    path(
        "appointments/<int:appointment_id>/reschedule/",
        appointment_reschedule,
        name="appointment_reschedule",
    ),
    path(
        "appointments/<int:appointment_id>/cancel/",
        appointment_cancel,
        name="appointment_cancel",
    ),
    path(
        "appointments/<int:appointment_id>/missed/",
        appointment_missed,
        name="appointment_missed",
    ),
    path(
        "appointments/<int:appointment_id>/complete/",
        appointment_complete,
        name="appointment_complete",
    ),
    path("patients/<int:patient_id>/card/", emergency_card, name="emergency_card"),
    path(
        "patients/<int:patient_id>/card.pdf",
        emergency_card_pdf_view,
        name="emergency_card_pdf",
    ),
    # Registering and editing patients, caregivers, pumps and pump reports.
    path("patients/new/", patient_views.patient_create, name="patient_create"),
    path("patients/<int:patient_id>/edit/", patient_views.patient_edit, name="patient_edit"),
    path(
        "patients/<int:patient_id>/caregivers/new/",
        patient_views.caregiver_create,
        name="caregiver_create",
    ),
    path(
        "caregivers/<int:caregiver_id>/edit/",
        patient_views.caregiver_edit,
        name="caregiver_edit",
    ),
    path(
        "caregivers/<int:caregiver_id>/remove/",
        patient_views.caregiver_remove,
        name="caregiver_remove",
    ),
    path("patients/<int:patient_id>/pumps/new/", patient_views.pump_create, name="pump_create"),
    path(
        "patients/<int:patient_id>/pumps/replace/",
        patient_views.pump_replace,
        name="pump_replace",
    ),
    path("pumps/<int:pump_id>/edit/", patient_views.pump_edit, name="pump_edit"),
    path("pumps/<int:pump_id>/explant/", patient_views.pump_explant, name="pump_explant"),
    path(
        "patients/<int:patient_id>/pump-reports/new/",
        patient_views.report_create,
        name="report_create",
    ),
    path(
        "pump-reports/<int:report_id>/resolve/",
        patient_views.report_resolve,
        name="report_resolve",
    ),
    # Clinic administration, for the clinic's managers.
    path("clinic/", clinic_admin_views.clinic_admin_home, name="clinic_admin"),
    path("clinic/<int:clinic_id>/", clinic_admin_views.clinic_settings, name="clinic_settings"),
    path("clinic/<int:clinic_id>/staff/", clinic_admin_views.clinic_staff, name="clinic_staff"),
    path(
        "clinic/<int:clinic_id>/closures/",
        clinic_admin_views.clinic_closures,
        name="clinic_closures",
    ),
    path(
        "clinic/<int:clinic_id>/closures/<int:closure_id>/remove/",
        clinic_admin_views.clinic_closure_remove,
        name="clinic_closure_remove",
    ),
    path(
        "clinic/<int:clinic_id>/staff/<int:membership_id>/",
        clinic_admin_views.staff_member,
        name="staff_member",
    ),
    path(
        "clinic/<int:clinic_id>/staff/<int:membership_id>/deactivate/",
        clinic_admin_views.staff_deactivate,
        name="staff_deactivate",
    ),
    path(
        "clinic/<int:clinic_id>/staff/<int:membership_id>/reset-two-factor/",
        clinic_admin_views.staff_two_factor_reset,
        name="staff_two_factor_reset",
    ),
    path(
        "clinic/<int:clinic_id>/staff/<int:membership_id>/unlock-sign-in/",
        clinic_admin_views.staff_sign_in_unlock,
        name="staff_sign_in_unlock",
    ),
    path("calendar/", calendar, name="calendar"),
    path("alerts/", alert_inbox, name="alerts"),
    path("alerts/<int:alert_id>/acknowledge/", alert_acknowledge, name="alert_acknowledge"),
    path("alerts/<int:alert_id>/assign/", alert_assign, name="alert_assign"),
    path("alerts/<int:alert_id>/resolve/", alert_resolve, name="alert_resolve"),
]
