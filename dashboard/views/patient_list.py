"""The patient list: every patient of the user's clinics, with or without a pump."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.shortcuts import render

from accounts.decorators import staff_view

from ..forms.patient_list import PatientSearchForm
from ..selectors.clinics import user_clinics
from ..selectors.patient_list import (
    STATUS_LABELS,
    PatientFilters,
    patient_list,
    status_counts,
)

PATIENT_PAGE_SIZE = 25


@staff_view(scope=None)
def patients(request):
    form = PatientSearchForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    filters = PatientFilters(
        q=(data.get("q") or "").strip(),
        status=data.get("status") or "",
        unreachable=bool(data.get("unreachable")),
    )
    rows = patient_list(request.user, filters)
    page = Paginator(rows, PATIENT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "dashboard/patient_list.html",
        {
            "form": form,
            "page": page,
            "filters": filters,
            "filtered": filters != PatientFilters(),
            "status_labels": STATUS_LABELS,
            "counts": status_counts(request.user),
            "query": query.urlencode(),
            "clinics": user_clinics(request.user),
        },
    )
