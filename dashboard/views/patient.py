"""The patient page and the emergency card (HTML and PDF)."""

from __future__ import annotations

import logging

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.decorators import staff_view
from refills.models import RefillByReason

from ..pdf import emergency_card_pdf
from ..selectors.card import emergency_card as card_for
from ..selectors.chart import reservoir_chart
from ..selectors.open_items import build_open_items, tier_holders
from ..selectors.patient import patient_page, patient_reports

logger = logging.getLogger(__name__)


@staff_view()
def patient_detail(request, patient, allowed):
    now = timezone.now()
    page = patient_page(patient, now=now)
    chart = None
    if page.pump is not None:
        chart = reservoir_chart(page.pump, page.forecast, page.refills, page.upcoming, now=now)
    reports = patient_reports(patient)
    items = build_open_items(
        patient=patient,
        pump=page.pump,
        forecast=page.forecast,
        alerts=page.alerts,
        open_reports=reports.open,
    )
    tier = int(page.forecast.risk_tier) if page.forecast else 1
    return render(
        request,
        "dashboard/patient.html",
        {
            "p": page,
            "patient": patient,
            "allowed": allowed,
            "chart": chart,
            "tz": patient.clinic.tz,
            "refill_by_reasons": dict(RefillByReason.choices),
            "reports": reports,
            "now": now,
            "open_items": items,
            "tier_holders": tier_holders(items, tier) if tier > 1 else [],
        },
    )


@staff_view()
def emergency_card(request, patient, allowed):
    card = card_for(patient)
    return render(request, "dashboard/emergency_card.html", {"card": card, "patient": patient})


@staff_view()
def emergency_card_pdf_view(request, patient, allowed):
    card = card_for(patient)
    logger.info("emergency card PDF for patient %s by user %s", patient.pk, request.user.pk)
    response = HttpResponse(emergency_card_pdf(card), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="emergency-card-{patient.pk}.pdf"'
    return response
