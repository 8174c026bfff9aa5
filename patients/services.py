"""Writes for patients, caregivers and implanted pumps."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from patients.models import Caregiver, Clinic, Patient, Pump, PumpModel, PumpStatus
from patients.validators import normalize_phone

RISK_FIELDS = {f for f, _ in Patient.LABEL_RISK_FACTORS + Patient.OTHER_RISK_FACTORS} | {
    "oral_baclofen_bridge"
}


def _normalized_phones(fields: dict) -> dict:
    """Phone numbers as typed ("(617) 555-0142") turned into E.164 before validation.

    The models' field validator accepts only E.164 and runs before their clean(),
    so the number has to arrive normalised.
    """
    result = dict(fields)
    if result.get("phone"):
        try:
            result["phone"] = normalize_phone(result["phone"])
        except ValidationError as exc:
            raise ValidationError({"phone": exc.messages}) from exc
    return result


def patient_create(*, clinic: Clinic, **fields) -> Patient:
    patient = Patient(clinic=clinic, **_normalized_phones(fields))
    patient.full_clean()
    patient.save()
    return patient


def patient_update(*, patient: Patient, **fields) -> Patient:
    """Update a patient; a change of risk factors re-tiers the active pump."""
    from refills.services import forecast_refresh

    fields = _normalized_phones(fields)
    changed = [name for name, value in fields.items() if getattr(patient, name) != value]
    if not changed:
        return patient
    previous = {name: getattr(patient, name) for name in changed}
    for name in changed:
        setattr(patient, name, fields[name])
    try:
        patient.full_clean()
    except ValidationError:
        # Leave the caller's object as it is in the database.
        for name, value in previous.items():
            setattr(patient, name, value)
        raise
    with transaction.atomic():
        patient.save(update_fields=[*changed, "updated_at"])
        if RISK_FIELDS & set(changed) or "timezone" in changed:
            for pump in patient.pumps.filter(status=PumpStatus.ACTIVE):
                forecast_refresh(pump=pump)
    return patient


def caregiver_add(*, patient: Patient, **fields) -> Caregiver:
    caregiver = Caregiver(patient=patient, **_normalized_phones(fields))
    caregiver.full_clean()
    caregiver.save()
    return caregiver


def caregiver_update(*, caregiver: Caregiver, **fields) -> Caregiver:
    """Change a caregiver's details; nothing is saved unless every field is valid."""
    fields = _normalized_phones(fields)
    changed = [name for name, value in fields.items() if getattr(caregiver, name) != value]
    if not changed:
        return caregiver
    previous = {name: getattr(caregiver, name) for name in changed}
    for name in changed:
        setattr(caregiver, name, fields[name])
    try:
        caregiver.full_clean()
    except ValidationError:
        for name, value in previous.items():
            setattr(caregiver, name, value)
        raise
    caregiver.save(update_fields=changed)
    return caregiver


def caregiver_remove(*, caregiver: Caregiver) -> None:
    """Remove a caregiver; their reminders still waiting in the outbox are cancelled.

    Notification.caregiver is SET_NULL on delete, and a row without a caregiver
    is addressed to the patient: cancel the caregiver's pending rows first so
    that none of them is re-routed.
    """
    from reminders.models import Notification, NotificationStatus

    with transaction.atomic():
        Notification.objects.filter(caregiver=caregiver, status=NotificationStatus.PENDING).update(
            status=NotificationStatus.CANCELLED,
            suppressed_reason="The caregiver was removed from the patient's record",
        )
        caregiver.delete()


def pump_implant(
    *,
    patient: Patient,
    model: PumpModel,
    serial_number: str,
    implanted_on: dt.date,
    alarm_volume_ml: Decimal | None = None,
    replaces: Pump | None = None,
) -> Pump:
    """Record a new active pump; a replaced pump is marked explanted the same day."""
    from refills.services import forecast_refresh

    with transaction.atomic():
        if replaces is not None:
            if replaces.patient_id != patient.pk:
                raise ValidationError(
                    "The pump being replaced belongs to another patient. Choose this "
                    "patient's pump."
                )
            if replaces.status != PumpStatus.ACTIVE:
                raise ValidationError(
                    "The pump being replaced is already explanted. Choose the active pump."
                )
            pump_explant(pump=replaces, explanted_on=implanted_on)
        elif patient.pumps.filter(status=PumpStatus.ACTIVE).exists():
            raise ValidationError(
                "This patient already has an active pump. Record it as replaced or explanted first."
            )
        pump = Pump(
            patient=patient,
            model=model,
            serial_number=serial_number,
            implanted_on=implanted_on,
            alarm_volume_ml=alarm_volume_ml or model.default_alarm_volume_ml,
        )
        pump.full_clean()
        pump.save()
        if replaces is not None:
            _move_bookings(old=replaces, new=pump)
        forecast_refresh(pump=pump)
    return pump


def _move_bookings(*, old: Pump, new: Pump) -> None:
    """The patient's booked visits follow them to the new pump, not the explanted one.

    Saved one by one so each move is in the audit trail and the old pump's
    forecast no longer counts them.
    """
    from refills.models import AppointmentStatus

    for appointment in old.appointments.filter(status=AppointmentStatus.SCHEDULED):
        appointment.pump = new
        appointment.save(update_fields=["pump"])


def pump_explant(*, pump: Pump, explanted_on: dt.date) -> Pump:
    pump.status = PumpStatus.EXPLANTED
    pump.explanted_on = explanted_on
    pump.full_clean()
    pump.save(update_fields=["status", "explanted_on"])
    return pump


def pump_update(*, pump: Pump, **fields) -> Pump:
    """Change ERI, planned replacement or alarm volume; the forecast follows."""
    from refills.services import forecast_refresh

    with transaction.atomic():
        for name, value in fields.items():
            setattr(pump, name, value)
        pump.full_clean()
        pump.save(update_fields=list(fields))
        forecast_refresh(pump=pump)
    return pump
