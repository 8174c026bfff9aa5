"""Registering and editing patients, caregivers, implanted pumps and pump reports.

Thin, like dashboard.views: a form parses, a service in patients.services or
refills.services validates and writes (atomically), and every row is reached
through accounts.access, so another clinic's row is a 404 and a role without
the permission gets a 403.
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.utils import timezone

from accounts.access import can
from accounts.decorators import WHERE_ALLOWED, rows, staff_view
from patients import services as patient_services
from patients.models import Pump, PumpStatus
from patients.reachability import NO_CONSENTED_CHANNEL, patient_is_reachable
from pumptrack.dates import date_text
from refills import services as refill_services

from . import patient_forms as forms
from .selectors import records
from .selectors.clinics import clinic_today
from .selectors.open_items import why_tier_stays
from .selectors.patient import URGENT_REPORTS, active_pump
from .templatetags.pumptrack_tags import daytime
from .views.common import _active_pump_or_404

logger = logging.getLogger(__name__)


def _not_saved(request, what: str) -> None:
    messages.error(request, f"{what}: see the messages below.")


# --------------------------------------------------------------------------- patients


@staff_view(
    "edit_patient",
    scope=WHERE_ALLOWED,
    refusal="Your role does not allow registering patients.",
)
def patient_create(request, clinics):
    data = request.POST if request.method == "POST" else None
    form = forms.PatientForm(data, clinics=clinics)
    if data is not None:
        if form.is_valid():
            try:
                patient = patient_services.patient_create(
                    clinic=form.chosen_clinic, **form.patient_fields()
                )
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                logger.info("patient %s registered by user %s", patient.pk, request.user.pk)
                return _registered(request, patient)
        _not_saved(request, "The patient was not registered")
    return render(
        request,
        "dashboard/patient_form.html",
        {"form": form, "title": "New patient", "submit": "Register the patient"},
    )


def _registered(request, patient):
    """Next step after registering: the implanted pump, for those who may record it."""
    _warn_if_unreachable(request, patient)
    if can(request.user, "manage_pump", patient.clinic):
        messages.success(
            request,
            f"{patient.given_name} {patient.family_name} registered. "
            "Record the implanted pump now, then its latest refill.",
        )
        return redirect("dashboard:pump_create", patient_id=patient.pk)
    messages.success(
        request,
        f"{patient.given_name} {patient.family_name} registered. "
        "A nurse or physician records the implanted pump next.",
    )
    return redirect("dashboard:patient", patient_id=patient.pk)


def _warn_if_unreachable(request, patient) -> None:
    """Saved, but say plainly when no reminder can reach the patient or a caregiver."""
    if not patient_is_reachable(patient):
        messages.warning(
            request,
            f"{NO_CONSENTED_CHANNEL}. Neither {patient.given_name} nor a caregiver who "
            "receives reminders has consented to texts or email with a number or address on "
            "file: tick the consent that was given, or add a caregiver; until then the clinic "
            "must phone about every refill.",
        )


@staff_view("edit_patient")
def patient_edit(request, patient, allowed):
    initial = forms.patient_initial(patient)
    if request.method == "POST":
        form = forms.PatientForm(request.POST, patient=patient, initial=initial)
        if form.is_valid():
            try:
                patient_services.patient_update(patient=patient, **form.patient_fields())
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                logger.info("patient %s edited by user %s", patient.pk, request.user.pk)
                messages.success(
                    request, "Patient details saved. The risk tier follows the risk factors."
                )
                _warn_if_unreachable(request, patient)
                return redirect("dashboard:patient", patient_id=patient.pk)
        _not_saved(request, "The patient's details were not saved")
    else:
        form = forms.PatientForm(patient=patient, initial=initial)
    return render(
        request,
        "dashboard/patient_form.html",
        {
            "form": form,
            "patient": patient,
            "title": "Edit patient",
            "submit": "Save the patient's details",
        },
    )


# --------------------------------------------------------------------------- caregivers


@staff_view("edit_patient")
def caregiver_create(request, patient, allowed):
    if request.method == "POST":
        form = forms.CaregiverForm(request.POST)
        if form.is_valid():
            try:
                caregiver = patient_services.caregiver_add(
                    patient=patient, **form.caregiver_fields()
                )
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                logger.info(
                    "caregiver %s added to patient %s by user %s",
                    caregiver.pk,
                    patient.pk,
                    request.user.pk,
                )
                messages.success(request, f"Caregiver {caregiver.name} added.")
                return redirect("dashboard:patient", patient_id=patient.pk)
        _not_saved(request, "The caregiver was not added")
    else:
        form = forms.CaregiverForm()
    return render(
        request,
        "dashboard/caregiver_form.html",
        {"form": form, "patient": patient, "title": "Add a caregiver", "submit": "Add"},
    )


CAREGIVERS = rows(records.CAREGIVER_ROWS, "patient__clinic", id_kwarg="caregiver_id")


@staff_view("edit_patient", scope=CAREGIVERS)
def caregiver_edit(request, caregiver, allowed):
    patient = caregiver.patient
    initial = forms.caregiver_initial(caregiver)
    if request.method == "POST":
        form = forms.CaregiverForm(request.POST, initial=initial)
        if form.is_valid():
            try:
                patient_services.caregiver_update(caregiver=caregiver, **form.caregiver_fields())
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                logger.info("caregiver %s edited by user %s", caregiver.pk, request.user.pk)
                messages.success(request, f"Caregiver {caregiver.name} saved.")
                _warn_if_unreachable(request, patient)
                return redirect("dashboard:patient", patient_id=patient.pk)
        _not_saved(request, "The caregiver was not saved")
    else:
        form = forms.CaregiverForm(initial=initial)
    return render(
        request,
        "dashboard/caregiver_form.html",
        {
            "form": form,
            "patient": patient,
            "caregiver": caregiver,
            "title": "Edit the caregiver",
            "submit": "Save",
        },
    )


@staff_view("edit_patient", scope=CAREGIVERS)
def caregiver_remove(request, caregiver, allowed):
    patient = caregiver.patient
    if request.method == "POST":
        name = caregiver.name
        patient_services.caregiver_remove(caregiver=caregiver)
        logger.info("caregiver removed from patient %s by user %s", patient.pk, request.user.pk)
        messages.success(
            request, f"{name} removed. Their reminders still waiting to be sent are cancelled."
        )
        _warn_if_unreachable(request, patient)
        return redirect("dashboard:patient", patient_id=patient.pk)
    return render(
        request,
        "dashboard/caregiver_remove.html",
        {
            "patient": patient,
            "caregiver": caregiver,
            "leaves_nobody_reachable": not patient_is_reachable(patient, without=caregiver),
            "no_consented_channel": NO_CONSENTED_CHANNEL,
        },
    )


# --------------------------------------------------------------------------- pumps


def _pump_form_page(request, patient, *, replaces: Pump | None):
    today = clinic_today(patient.clinic)
    if request.method == "POST":
        form = forms.PumpImplantForm(
            request.POST, today=today, clinic=patient.clinic, replaces=replaces
        )
        if form.is_valid():
            data = form.cleaned_data
            try:
                pump = patient_services.pump_implant(
                    patient=patient,
                    model=data["model"],
                    serial_number=data["serial_number"],
                    implanted_on=data["implanted_on"],
                    alarm_volume_ml=data["alarm_volume_ml"],
                    replaces=replaces,
                    by=request.user,
                )
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                logger.info(
                    "pump %s implanted for patient %s by user %s (replaces %s)",
                    pump.pk,
                    patient.pk,
                    request.user.pk,
                    replaces.pk if replaces else None,
                )
                if replaces is not None:
                    text = (
                        f"Pump replaced: SN {replaces.serial_number} is recorded as explanted. "
                        "Record the new pump's first fill to restart the forecast."
                    )
                else:
                    text = "Pump recorded. Record its latest refill to start the forecast."
                messages.success(request, text)
                return redirect("dashboard:patient", patient_id=patient.pk)
        _not_saved(request, "The pump was not recorded")
    else:
        form = forms.PumpImplantForm(today=today, clinic=patient.clinic, replaces=replaces)
    return render(
        request,
        "dashboard/pump_form.html",
        {
            "form": form,
            "patient": patient,
            "replaces": replaces,
            "current": active_pump(patient) if replaces is None else replaces,
            "tz": patient.clinic.tz,
            "title": "Replace the pump" if replaces else "Record the implanted pump",
            "submit": "Record the replacement" if replaces else "Record the pump",
        },
    )


@staff_view("manage_pump")
def pump_create(request, patient, allowed):
    return _pump_form_page(request, patient, replaces=None)


@staff_view("manage_pump")
def pump_replace(request, patient, allowed):
    current = active_pump(patient)
    if current is None:
        messages.info(request, "This patient has no active pump to replace: record the new one.")
        return redirect("dashboard:pump_create", patient_id=patient.pk)
    return _pump_form_page(request, patient, replaces=current)


PUMPS = rows(records.PUMP_ROWS, "patient__clinic", id_kwarg="pump_id")


@staff_view("manage_pump", scope=PUMPS)
def pump_edit(request, pump, allowed):
    patient = pump.patient
    if pump.status != PumpStatus.ACTIVE:
        messages.warning(request, "This pump is explanted; its details can no longer change.")
        return redirect("dashboard:patient", patient_id=patient.pk)
    today = clinic_today(patient.clinic)
    initial = forms.pump_edit_initial(pump)
    if request.method == "POST":
        form = forms.PumpEditForm(request.POST, pump=pump, today=today, initial=initial)
        if form.is_valid():
            changes = form.changed_fields()
            if not changes:
                messages.info(request, "Nothing changed.")
                return redirect("dashboard:patient", patient_id=patient.pk)
            try:
                patient_services.pump_update(pump=pump, **changes)
            except ValidationError as exc:
                pump.refresh_from_db()
                forms.add_service_errors(form, exc)
            else:
                logger.info("pump %s edited by user %s", pump.pk, request.user.pk)
                messages.success(request, "Pump details saved. The forecast is updated.")
                if form.replacement_warning:
                    messages.warning(request, form.replacement_warning)
                return redirect("dashboard:patient", patient_id=patient.pk)
        _not_saved(request, "The pump was not changed")
    else:
        form = forms.PumpEditForm(pump=pump, today=today, initial=initial)
    return render(
        request,
        "dashboard/pump_edit.html",
        {"form": form, "patient": patient, "pump": pump, "tz": patient.clinic.tz},
    )


@staff_view("manage_pump", scope=PUMPS)
def pump_explant(request, pump, allowed):
    """Removed and not replaced: bookings cancelled, reminders and alerts stop."""
    patient = pump.patient
    if pump.status != PumpStatus.ACTIVE:
        when = f"{date_text(pump.explanted_on)}"
        messages.warning(request, f"This pump was already recorded as explanted on {when}.")
        return redirect("dashboard:patient", patient_id=patient.pk)
    today = clinic_today(patient.clinic)
    if request.method == "POST":
        form = forms.PumpExplantForm(request.POST, pump=pump, today=today)
        if form.is_valid():
            data = form.cleaned_data
            try:
                cancelled = patient_services.pump_explant_without_replacement(
                    pump=pump,
                    explanted_on=data["explanted_on"],
                    reason=data["explant_reason"],
                    by=request.user,
                )
            except ValidationError as exc:
                pump.refresh_from_db()
                forms.add_service_errors(form, exc)
            else:
                logger.info(
                    "pump %s explanted without replacement by user %s (%s bookings cancelled)",
                    pump.pk,
                    request.user.pk,
                    len(cancelled),
                )
                booked = (
                    f" {len(cancelled)} booked appointment{pluralize(len(cancelled))} cancelled."
                    if cancelled
                    else ""
                )
                messages.warning(
                    request,
                    f"Pump SN {pump.serial_number} recorded as explanted and no longer tracked: "
                    f"no refill reminders or alerts.{booked} Make sure the physician's plan "
                    "against baclofen withdrawal is in place.",
                )
                return redirect("dashboard:patient", patient_id=patient.pk)
        _not_saved(request, "The explant was not recorded")
    else:
        form = forms.PumpExplantForm(pump=pump, today=today, initial={"explanted_on": today})
    return render(
        request,
        "dashboard/pump_explant.html",
        {
            "form": form,
            "patient": patient,
            "pump": pump,
            "booked": records.pump_booked(pump),
            "open_alerts": records.pump_open_alert_count(pump),
            "tz": patient.clinic.tz,
        },
    )


# --------------------------------------------------------------------------- pump reports


@staff_view("record_report")
def report_create(request, patient, allowed):
    pump = _active_pump_or_404(patient)
    now = timezone.now()
    initial = forms.report_initial(now=now)
    if request.method == "POST":
        form = forms.PumpReportForm(request.POST, now=now, initial=initial)
        if form.is_valid():
            data = form.cleaned_data
            try:
                report = refill_services.pump_report_record(
                    pump=pump,
                    by=request.user,
                    kind=data["kind"],
                    reported_at=data["reported_at"],
                    details=data["details"],
                )
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                logger.info(
                    "pump report %s recorded for pump %s by user %s",
                    report.pk,
                    pump.pk,
                    request.user.pk,
                )
                if records.pump_is_critical(pump):
                    messages.error(
                        request,
                        f"{report.get_kind_display()} recorded. The patient is now CRITICAL: "
                        "call them now and arrange an urgent pump check.",
                    )
                else:
                    messages.warning(
                        request,
                        f"{report.get_kind_display()} recorded. Resolve it once the pump "
                        "has been checked.",
                    )
                return redirect("dashboard:patient", patient_id=patient.pk)
        _not_saved(request, "The report was not recorded")
    else:
        form = forms.PumpReportForm(now=now, initial=initial)
    return render(
        request,
        "dashboard/report_form.html",
        {"form": form, "patient": patient, "pump": pump, "tz": patient.clinic.tz},
    )


REPORTS = rows(records.REPORT_ROWS, "pump__patient__clinic", id_kwarg="report_id")


@staff_view("record_report", scope=REPORTS)
def report_resolve(request, report, allowed):
    patient = report.pump.patient
    if report.resolved_at is not None:
        when = daytime(report.resolved_at, patient.clinic.tz)
        messages.info(request, f"This report was already resolved on {when}.")
        return redirect("dashboard:patient", patient_id=patient.pk)
    if request.method == "POST":
        form = forms.ReportResolveForm(request.POST)
        if form.is_valid():
            try:
                refill_services.pump_report_resolve(
                    report=report,
                    by=request.user,
                    resolution=form.cleaned_data["resolution"],
                    outcome=form.cleaned_data["outcome"],
                )
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                logger.info("pump report %s resolved by user %s", report.pk, request.user.pk)
                messages.success(request, "Report resolved. The risk tier is updated.")
                stays = why_tier_stays(patient)
                if stays:
                    messages.warning(request, stays)
                return redirect("dashboard:patient", patient_id=patient.pk)
        _not_saved(request, "The report was not resolved")
    else:
        form = forms.ReportResolveForm()
    return render(
        request,
        "dashboard/report_resolve.html",
        {
            "form": form,
            "patient": patient,
            "report": report,
            "urgent": report.kind in URGENT_REPORTS,
            "tz": patient.clinic.tz,
        },
    )
