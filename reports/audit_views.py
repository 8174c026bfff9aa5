"""The audit trail page and its CSV export (the same filtered rows)."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.access import clinics_where
from accounts.decorators import CLINIC_FROM_QUERY, staff_view
from patients.models import Clinic
from pumptrack.csvexport import csv_response
from reports import audit
from reports.audit_forms import SYSTEM, AuditFilterForm

AUDIT_REFUSAL = "Your role cannot see the audit trail."
EXPORT_REFUSAL = "Your role cannot export the audit trail."
DEFAULT_DAYS = 30
CSV_HEADER = [
    "when (clinic time)",
    "time zone",
    "record type",
    "record id",
    "record",
    "change",
    "patient",
    "patient id",
    "user",
    "user name",
    "user id",
    "field",
    "old value",
    "new value",
]


def _start(day: dt.date, clinic: Clinic) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=clinic.tz)


def _criteria(request: HttpRequest, clinic: Clinic):
    """The form, the filter it describes (None when it cannot match: a bad date, an
    unknown MRN), the chosen patient, and the first day shown."""
    form = AuditFilterForm(
        request.GET, users=audit.audit_users(clinic_id=clinic.pk), kinds=audit.kind_choices()
    )
    today = timezone.localtime(timezone.now(), clinic.tz).date()
    if not form.is_valid():
        return form, None, None, None
    data = form.cleaned_data
    since_day = data["since"] or today - dt.timedelta(days=DEFAULT_DAYS)
    patient = None
    if data["patient"] or data["mrn"]:
        patient = audit.patient_in_clinic(
            clinic_id=clinic.pk, patient_id=data["patient"], mrn=data["mrn"]
        )
        if patient is None:
            form.add_error("mrn", f"No patient of {clinic.name} has this MRN.")
            return form, None, None, since_day
    user = data["user"]
    flt = audit.AuditFilter(
        clinic_ids=(clinic.pk,),
        since=_start(since_day, clinic),
        until=_start(data["until"] + dt.timedelta(days=1), clinic) if data["until"] else None,
        patient_id=patient.pk if patient else None,
        user_id=0 if user == SYSTEM else (int(user) if user else None),
        kinds=(data["kind"],) if data["kind"] else (),
    )
    return form, flt, patient, since_day


@staff_view("view_audit", scope=CLINIC_FROM_QUERY, refusal=AUDIT_REFUSAL)
def audit_log(request: HttpRequest, clinic: Clinic, allowed) -> HttpResponse:
    form, flt, patient, since_day = _criteria(request, clinic)
    bad_filter = bool(form.errors)
    wants_csv = request.GET.get("format") == "csv"
    if wants_csv:
        if "export_audit" not in allowed:
            raise PermissionDenied(EXPORT_REFUSAL)
        if not bad_filter:
            return _csv(clinic, flt, since_day)
        # A bad filter is answered with the page and its message (400), never with an
        # empty file that reads as "no changes".
    result = (
        audit.audit_page(flt=flt, tz=clinic.tz, page_number=request.GET.get("page"))
        if flt is not None
        else audit.AuditPage(entries=[], page=None, total=0)
    )
    query = request.GET.copy()
    query.pop("page", None)
    query["clinic"] = str(clinic.pk)
    return render(
        request,
        "reports/audit.html",
        {
            "clinic": clinic,
            "clinics": list(clinics_where(request.user, "view_audit")),
            "form": form,
            "result": result,
            "patient": patient,
            "since": since_day,
            "query": query.urlencode(),
            "can_export": "export_audit" in allowed,
            "now": timezone.localtime(timezone.now(), clinic.tz),
        },
        status=400 if wants_csv and bad_filter else 200,
    )


def _csv_rows(entries, clinic: Clinic):
    """One line per changed field (a change without fields, such as a deletion, is one
    line), times in the clinic's zone with their offset."""
    for e in entries:
        head = [
            timezone.localtime(e.at, clinic.tz).isoformat(timespec="seconds"),
            str(clinic.timezone),
            e.model,
            e.object_id,
            e.record,
            e.change,
            e.patient,
            e.patient_id,
            e.username,
            e.user_display,
            e.user_id,
        ]
        if not e.changes:
            yield [*head, "", "", ""]
        for c in e.changes:
            yield [*head, c.label, c.old, c.new]


def _csv(clinic: Clinic, flt, since_day) -> HttpResponse:
    entries = audit.iter_entries(flt=flt, tz=clinic.tz) if flt is not None else iter(())
    return csv_response(
        f"pumptrack-audit-{clinic.pk}-{since_day}.csv", CSV_HEADER, _csv_rows(entries, clinic)
    )
