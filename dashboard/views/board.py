"""The run-out board."""

from __future__ import annotations

from dataclasses import replace

from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils import timezone

from accounts.decorators import staff_view
from reminders.selectors import last_sweep_at

from .. import forms
from ..selectors.board import (
    GROUP_SHORT_LABELS,
    GROUPS,
    BoardFilters,
    board_group_counts,
    board_queryset,
    board_recheck_due_count,
    pump_models,
)
from ..selectors.clinics import user_clinics
from ..selectors.patient_list import unreachable_count, untracked_matches

BOARD_PAGE_SIZE = 25


@staff_view(scope=None)
def board(request):
    now = timezone.now()
    clinics = user_clinics(request.user)
    models = pump_models()
    form = forms.BoardFilterForm(request.GET or None, pump_models=models)
    data = form.cleaned_data if form.is_valid() else {}
    filters = BoardFilters(
        tier=data.get("tier"),
        group=data.get("group") or "",
        pump_model=data.get("pump_model"),
        booked=data.get("booked") or "",
        q=(data.get("q") or "").strip(),
        clinic=data.get("clinic"),
        due_from=data.get("due_from"),
        due_to=data.get("due_to"),
    )
    # The chips count every group under the other filters, so each count is what its link shows.
    any_group = board_queryset(request.user, replace(filters, group=""), clinics=clinics, now=now)
    counts = board_group_counts(any_group)
    recheck_due = board_recheck_due_count(any_group)
    rows = board_queryset(request.user, filters, clinics=clinics, now=now)
    page = Paginator(rows, BOARD_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    chip_query = request.GET.copy()
    for key in ("page", "group"):
        chip_query.pop(key, None)
    return render(
        request,
        "dashboard/board.html",
        {
            "form": form,
            "page": page,
            "groups": GROUPS,
            "group_labels": GROUP_SHORT_LABELS,
            "counts": counts,
            "total": sum(counts.values()),
            "filters": filters,
            "filtered": filters != BoardFilters(),
            "query": query.urlencode(),
            "chip_query": chip_query.urlencode(),
            # Tiers whose reassess moment passed before the sweep re-tiered them: said, not
            # refreshed here (a GET never writes).
            "recheck_due": recheck_due,
            # The same value the stale-sweep banner's context processor gives, for every board.
            "last_sweep_at": last_sweep_at(),
            "clinics": clinics,
            # Patients under care whom no reminder can reach (patients.reachability).
            "unreachable": unreachable_count(request.user),
            # A search that finds no pump may still find a patient without one.
            "untracked_matches": (
                untracked_matches(request.user, filters.q)
                if filters.q and not page.object_list
                else 0
            ),
        },
    )
