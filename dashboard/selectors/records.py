"""Single rows the staff pages act on, reached through the access gate.

The querysets here are what accounts.decorators.rows() fetches a URL's row from
(another clinic's row: 404), with the relations each page shows.
"""

from __future__ import annotations

from django.http import Http404

from accounts.access import get_scoped
from accounts.models import User
from patients.models import Caregiver, Patient, Pump
from refills.models import Appointment, AppointmentStatus, PumpForecast, PumpReport, Refill
from refills.risk import Tier
from reminders.models import Alert, AlertState

APPOINTMENT_ROWS = Appointment.objects.select_related("patient__clinic", "pump__model")
CAREGIVER_ROWS = Caregiver.objects.select_related("patient__clinic")
PUMP_ROWS = Pump.objects.select_related("patient__clinic", "model")
REPORT_ROWS = PumpReport.objects.select_related("pump__patient__clinic", "recorded_by")


def patient_refill(user: User, patient: Patient, refill_id) -> Refill:
    """One refill of this patient's pumps; another patient's or clinic's is a 404."""
    refill = get_scoped(
        user,
        Refill.objects.select_related("pump__model", "program", "drug_product"),
        "pump__patient__clinic",
        refill_id,
    )
    if refill.pump.patient_id != patient.pk:
        raise Http404("No such refill for this patient.")
    return refill


def patient_appointment(user: User, patient: Patient, appointment_id) -> Appointment:
    """One appointment of this patient; another patient's or clinic's is a 404."""
    appointment = get_scoped(user, Appointment.objects.all(), "patient__clinic", appointment_id)
    if appointment.patient_id != patient.pk:
        raise Http404("No such appointment for this patient.")
    return appointment


def pump_booked(pump: Pump) -> list[Appointment]:
    """The pump's scheduled appointments, soonest first (an explant cancels them)."""
    return list(
        pump.appointments.filter(status=AppointmentStatus.SCHEDULED).order_by("scheduled_start")
    )


def pump_open_alert_count(pump: Pump) -> int:
    return Alert.objects.filter(pump=pump).exclude(state=AlertState.RESOLVED).count()


def pump_is_critical(pump: Pump) -> bool:
    """Whether the pump's stored withdrawal-risk tier is CRITICAL, read afresh (a write in
    this request may just have raised it)."""
    return PumpForecast.objects.filter(pump=pump, risk_tier__gte=Tier.CRITICAL).exists()
