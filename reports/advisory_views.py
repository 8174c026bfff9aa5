"""Device advisory lookup: the criteria form (GET), the search and the CSV (POST, each
recorded by reports.advisory_services, so a GET writes nothing)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.access import clinics_where
from accounts.decorators import CLINIC_FROM_QUERY, staff_view
from patients.models import Channel, Clinic
from pumptrack.csvexport import csv_response
from reports import advisory
from reports.advisory_forms import AdvisoryForm
from reports.advisory_services import advisory_lookup_record
from reports.models import AdvisoryAction

REFUSAL = "Your role cannot run the device advisory lookup."
CSV_HEADER = [
    "patient",
    "MRN",
    "patient id",
    "pump model",
    "serial number",
    "implanted on",
    "pump status",
    "drug lot filled (last)",
    "lot still in the pump",
    "patient phone",
    "patient email",
    "patient consents to",
    "preferred channel",
    "caregivers",
    "next appointment (clinic time)",
    "time zone",
]


def _form(request: HttpRequest) -> AdvisoryForm:
    return AdvisoryForm(
        request.POST if request.method == "POST" else None,
        pump_models=advisory.pump_model_choices(),
        drug_products=advisory.drug_product_choices(),
    )


@staff_view("view_reports", scope=CLINIC_FROM_QUERY, refusal=REFUSAL)
def advisory_lookup(request: HttpRequest, clinic: Clinic, allowed) -> HttpResponse:
    form = _form(request)
    context = {
        "clinic": clinic,
        "clinics": list(clinics_where(request.user, "view_reports")),
        "form": form,
        "limit": advisory.PAGE_LIMIT,
    }
    if request.method != "POST" or not form.is_valid():
        return render(request, "reports/advisory.html", context)
    criteria = form.criteria()
    export = "export" in request.POST
    lookup = advisory_lookup_record(
        clinic=clinic,
        by=request.user,
        criteria=criteria,
        action=AdvisoryAction.EXPORT if export else AdvisoryAction.SEARCH,
    )
    pumps = advisory.advisory_pumps(clinic_ids=[clinic.pk], criteria=criteria, now=timezone.now())
    if export:
        return csv_response(
            f"pumptrack-advisory-{clinic.pk}-{lookup.pk}.csv",
            CSV_HEADER,
            (_csv_row(pump, criteria, clinic) for pump in pumps.iterator(chunk_size=500)),
        )
    rows = list(pumps[: advisory.PAGE_LIMIT])
    context.update(lookup=lookup, rows=rows, criteria=criteria)
    return render(request, "reports/advisory.html", context)


def consents(person) -> str:
    channels = [
        label
        for flag, label in ((person.consent_sms, "text messages"), (person.consent_email, "email"))
        if flag
    ]
    return " and ".join(channels) or "no messages"


def _caregivers(patient) -> str:
    return "; ".join(
        f"{c.name} ({c.relationship}): {c.phone or 'no phone'}, {c.email or 'no email'}, "
        f"consents to {consents(c)}"
        for c in patient.caregivers.all()
    )


def _csv_row(pump, criteria, clinic: Clinic) -> list:
    patient = pump.patient
    by_drug = criteria.by_drug
    next_at = pump.next_appointment_at
    return [
        f"{patient.family_name}, {patient.given_name}",
        patient.mrn,
        patient.pk,
        f"{pump.model.name} ({pump.model.model_number})",
        pump.serial_number,
        pump.implanted_on.isoformat(),
        pump.get_status_display(),
        (
            f"{pump.lot_last_filled_lot} on "
            f"{timezone.localtime(pump.lot_last_filled_at, clinic.tz):%Y-%m-%d}"
            if by_drug
            else ""
        ),
        ("yes" if pump.matching_refill_id == pump.latest_refill_id else "no") if by_drug else "",
        str(patient.phone or ""),
        patient.email,
        consents(patient),
        Channel(patient.preferred_channel).label,
        _caregivers(patient),
        timezone.localtime(next_at, clinic.tz).isoformat(timespec="minutes") if next_at else "",
        str(clinic.timezone),
    ]
