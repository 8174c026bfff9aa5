"""Recording a refill (with its live preview) and changing the drug program."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.decorators import staff_view
from refills import services
from refills.models import Appointment, RefillByReason
from refills.policy import policy_value
from refills.selectors import refill_proposals

from .. import forms
from ..selectors.patient import clock_change_notice, current_program, stored_forecast
from ..selectors.records import patient_appointment, patient_refill
from .common import _active_pump_or_404, _run_service

logger = logging.getLogger(__name__)


def _refill_form(request, patient, pump, program, data=None):
    now = timezone.now()
    return forms.RefillForm(
        data,
        clinic=patient.clinic,
        program=program,
        user=request.user,
        has_volume_sensor=pump.model.has_volume_sensor,
        initial=forms.refill_initial(pump=pump, program=program, now=now),
    )


@staff_view("record_refill")
def refill_create(request, patient, allowed):
    pump = _active_pump_or_404(patient)
    program = current_program(pump)
    appointment = _refill_appointment(request, patient)
    if request.method == "POST":
        form = _refill_form(request, patient, pump, program, request.POST)
        if form.is_valid():
            data = form.refill_input()
            refill = _run_service(
                form,
                forms.REFILL_FIELD_MAP,
                lambda: services.refill_record(
                    pump=pump,
                    by=request.user,
                    data=data,
                    appointment=appointment,
                    override_reason=form.cleaned_data.get("override_reason", ""),
                ),
            )
            if refill is not None:
                logger.info(
                    "refill %s recorded for pump %s by user %s", refill.pk, pump.pk, request.user.pk
                )
                messages.success(request, "Refill recorded. The forecast is updated.")
                return redirect(
                    "dashboard:refill_saved", patient_id=patient.pk, refill_id=refill.pk
                )
        messages.error(request, "The refill was not saved: see the messages below.")
    else:
        form = _refill_form(request, patient, pump, program)
    return render(
        request,
        "dashboard/refill_form.html",
        {
            "patient": patient,
            "pump": pump,
            "program": program,
            "form": form,
            "appointment": appointment,
            "forecast": stored_forecast(pump),
            "tz": patient.clinic.tz,
            "clock_change": clock_change_notice(pump, program),
            "now": timezone.now(),
        },
    )


def _refill_appointment(request, patient) -> Appointment | None:
    raw = request.GET.get("appointment") or request.POST.get("appointment")
    if not raw:
        return None
    return patient_appointment(request.user, patient, raw)


@require_POST
@staff_view("record_refill")
def refill_preview(request, patient, allowed):
    """The live preview: an HTML fragment computed by refills.services.refill_preview."""
    pump = _active_pump_or_404(patient)
    program = current_program(pump)
    form = _refill_form(request, patient, pump, program, request.POST)
    form.is_valid()  # cleaned_data holds whatever parsed; the preview says what is missing.
    data = form.refill_input()
    preview = None
    if data is not None:
        preview = services.refill_preview(pump=pump, data=data, by=request.user)
    return render(
        request,
        "dashboard/includes/refill_preview.html",
        {
            "preview": preview,
            "form": form,
            "pump": pump,
            "program": program,
            "tz": patient.clinic.tz,
            "refill_by_reasons": dict(RefillByReason.choices),
        },
    )


@staff_view("view_clinical")
def refill_saved(request, patient, allowed, refill_id: int):
    refill = patient_refill(request.user, patient, refill_id)
    forecast = stored_forecast(refill.pump)
    proposals = None
    if forecast is not None and forecast.refill_by is not None:
        proposals = refill_proposals(
            clinic=patient.clinic, refill_by=forecast.refill_by, now=timezone.now()
        )
    return render(
        request,
        "dashboard/refill_saved.html",
        {
            "patient": patient,
            "refill": refill,
            "forecast": forecast,
            "proposal": proposals.latest if proposals else None,
            "proposals": proposals,
            "appointment_minutes": policy_value("APPOINTMENT_MINUTES"),
            "allowed": allowed,
            "tz": patient.clinic.tz,
            "refill_by_reasons": dict(RefillByReason.choices),
        },
    )


@staff_view("change_program")
def program_change(request, patient, allowed):
    pump = _active_pump_or_404(patient)
    program = current_program(pump)
    if program is None:
        messages.info(request, "Record the first refill with its daily dose before reprogramming.")
        return redirect("dashboard:refill_create", patient_id=patient.pk)
    now = timezone.now()
    initial = forms.program_initial(program, zone=patient.clinic.tz, now=now)
    if request.method == "POST":
        form = forms.ProgramChangeForm(request.POST, program=program, initial=initial)
        if form.is_valid():
            changed = _run_service(
                form,
                None,
                lambda: services.drug_program_change(
                    pump=pump,
                    by=request.user,
                    program=form.program_input(),
                    reason=form.cleaned_data["reason"],
                    effective_from=form.cleaned_data["effective_from"],
                    override_reason=form.cleaned_data.get("override_reason", ""),
                ),
            )
            if changed is not None:
                logger.info("program changed for pump %s by user %s", pump.pk, request.user.pk)
                messages.success(request, "Drug program changed. The forecast is updated.")
                return redirect("dashboard:patient", patient_id=patient.pk)
        messages.error(request, "The program was not changed: see the messages below.")
    else:
        form = forms.ProgramChangeForm(program=program, initial=initial)
    return render(
        request,
        "dashboard/program_form.html",
        {
            "patient": patient,
            "pump": pump,
            "program": program,
            "form": form,
            "tz": patient.clinic.tz,
        },
    )
