"""Booking, rescheduling, cancelling, completing and marking appointments missed."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.decorators import staff_view
from refills import services
from refills.models import AppointmentKind, AppointmentStatus, RefillByReason
from refills.policy import policy_value
from refills.selectors import refill_proposals

from .. import forms
from ..selectors.patient import stored_forecast
from .common import APPOINTMENTS, _active_pump_or_404, _run_service, _when

logger = logging.getLogger(__name__)


@staff_view("manage_appointments")
def appointment_create(request, patient, allowed):
    pump = _active_pump_or_404(patient)
    zone = patient.clinic.tz
    forecast = stored_forecast(pump)
    initial = {
        "kind": AppointmentKind.REFILL,
        "duration_minutes": policy_value("APPOINTMENT_MINUTES"),
    }
    proposals = proposal = None
    if forecast is not None and forecast.refill_by is not None:
        proposals = refill_proposals(
            clinic=patient.clinic, refill_by=forecast.refill_by, now=timezone.now()
        )
        proposal = proposals.latest
        initial.update(day=proposal.start.date(), time=proposal.start.time())
    for key in ("day", "time", "kind"):
        if request.GET.get(key):
            initial[key] = request.GET[key]
    if request.method == "POST":
        form = forms.AppointmentForm(request.POST, zone=zone, initial=initial)
        if form.is_valid():
            appointment = _run_service(
                form,
                forms.APPOINTMENT_FIELD_MAP,
                lambda: services.appointment_book(
                    pump=pump,
                    by=request.user,
                    scheduled_start=form.scheduled_start(),
                    kind=form.cleaned_data["kind"],
                    duration_minutes=form.cleaned_data["duration_minutes"],
                    notes=form.cleaned_data.get("notes", ""),
                    override_reason=form.cleaned_data.get("override_reason", ""),
                ),
            )
            if appointment is not None:
                logger.info(
                    "appointment %s booked for pump %s by user %s",
                    appointment.pk,
                    pump.pk,
                    request.user.pk,
                )
                messages.success(
                    request,
                    f"{appointment.get_kind_display()} appointment booked for "
                    f"{_when(appointment.scheduled_start, zone)}.{form.ambiguous_note}",
                )
                return redirect("dashboard:patient", patient_id=patient.pk)
        messages.error(request, "The appointment was not booked: see the messages below.")
    else:
        form = forms.AppointmentForm(zone=zone, initial=initial)
    return render(
        request,
        "dashboard/appointment_form.html",
        {
            "patient": patient,
            "pump": pump,
            "form": form,
            "forecast": forecast,
            "proposal": proposal,
            "proposals": proposals,
            "tz": zone,
            "title": "Book an appointment",
            "refill_by_reasons": dict(RefillByReason.choices),
        },
    )


@staff_view("manage_appointments", scope=APPOINTMENTS)
def appointment_reschedule(request, appointment, allowed):
    patient = appointment.patient
    zone = patient.clinic.tz
    local = timezone.localtime(appointment.scheduled_start, zone)
    initial = {"day": local.date(), "time": local.time().replace(second=0, microsecond=0)}
    forecast = stored_forecast(appointment.pump)
    if request.method == "POST":
        form = forms.RescheduleForm(request.POST, zone=zone, initial=initial)
        unchanged = (
            appointment.status == AppointmentStatus.SCHEDULED
            and form.is_valid()
            and form.scheduled_start() == appointment.scheduled_start
        )
        if unchanged:
            messages.info(request, "Nothing changed: the appointment keeps its time.")
            return redirect("dashboard:patient", patient_id=patient.pk)
        if form.is_valid():
            changed = _run_service(
                form,
                forms.APPOINTMENT_FIELD_MAP,
                lambda: services.appointment_reschedule(
                    appointment=appointment,
                    by=request.user,
                    scheduled_start=form.scheduled_start(),
                    override_reason=form.cleaned_data.get("override_reason", ""),
                ),
            )
            if changed is not None:
                logger.info(
                    "appointment %s rescheduled by user %s", appointment.pk, request.user.pk
                )
                messages.success(
                    request,
                    f"Appointment moved to {_when(appointment.scheduled_start, zone)}."
                    f"{form.ambiguous_note}",
                )
                return redirect("dashboard:patient", patient_id=patient.pk)
        messages.error(request, "The appointment was not moved: see the messages below.")
    else:
        form = forms.RescheduleForm(zone=zone, initial=initial)
    return render(
        request,
        "dashboard/appointment_change.html",
        {
            "patient": patient,
            "appointment": appointment,
            "form": form,
            "forecast": forecast,
            "tz": zone,
            "title": "Reschedule the appointment",
            "submit": "Reschedule",
            "refill_by_reasons": dict(RefillByReason.choices),
        },
    )


@staff_view("manage_appointments", scope=APPOINTMENTS)
def appointment_cancel(request, appointment, allowed):
    patient = appointment.patient
    if request.method == "POST":
        form = forms.CancelForm(request.POST)
        if form.is_valid():
            try:
                services.appointment_cancel(
                    appointment=appointment, by=request.user, reason=form.cleaned_data["reason"]
                )
            except ValidationError as exc:
                forms.add_findings_to_form(form, exc, plain_errors_on_top=True)
            else:
                logger.info("appointment %s cancelled by user %s", appointment.pk, request.user.pk)
                messages.success(
                    request,
                    "Appointment cancelled. If it was a refill, book the next one before the "
                    "refill-by date.",
                )
                return redirect("dashboard:patient", patient_id=patient.pk)
        messages.error(request, "The appointment was not cancelled: see the messages below.")
    else:
        form = forms.CancelForm()
    return render(
        request,
        "dashboard/appointment_change.html",
        {
            "patient": patient,
            "appointment": appointment,
            "form": form,
            "tz": patient.clinic.tz,
            "title": "Cancel the appointment",
            "submit": "Cancel the appointment",
            "danger": True,
        },
    )


@require_POST
@staff_view("manage_appointments", scope=APPOINTMENTS)
def appointment_missed(request, appointment, allowed):
    if appointment.status != AppointmentStatus.SCHEDULED:
        messages.warning(request, "Only a scheduled appointment can be marked missed.")
        return redirect("dashboard:patient", patient_id=appointment.patient_id)
    try:
        marked = services.appointment_mark_missed(appointment=appointment, by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("dashboard:patient", patient_id=appointment.patient_id)
    if marked:
        logger.info("appointment %s marked missed by user %s", appointment.pk, request.user.pk)
        messages.warning(
            request,
            "Marked missed. Call the patient and book a new refill before the refill-by date.",
        )
    else:
        messages.info(request, "The appointment had already changed; nothing was done.")
    return redirect("dashboard:patient", patient_id=appointment.patient_id)


@require_POST
@staff_view("manage_appointments", scope=APPOINTMENTS)
def appointment_complete(request, appointment, allowed):
    if appointment.kind == AppointmentKind.REFILL:
        # A refill visit is completed by recording the refill itself.
        return redirect(
            reverse("dashboard:refill_create", args=[appointment.patient_id])
            + f"?appointment={appointment.pk}"
        )
    if appointment.status != AppointmentStatus.SCHEDULED:
        messages.warning(request, "Only a scheduled appointment can be completed.")
    else:
        try:
            services.appointment_complete(appointment=appointment, by=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            logger.info("appointment %s completed by user %s", appointment.pk, request.user.pk)
            messages.success(request, "Appointment marked completed.")
    return redirect("dashboard:patient", patient_id=appointment.patient_id)
