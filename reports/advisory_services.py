"""Device advisory lookup (writes): each search and each download is recorded with who,
when, what was asked and how many patients were found. The record's history row puts it
in the clinic's audit trail."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from reports.advisory import AdvisoryCriteria, advisory_patient_count
from reports.models import AdvisoryAction, AdvisoryLookup


def advisory_lookup_record(
    *, clinic, by, criteria: AdvisoryCriteria, action: str = AdvisoryAction.SEARCH
) -> AdvisoryLookup:
    """Count the patients the lookup finds in the clinic and record the lookup."""
    with transaction.atomic():
        lookup = AdvisoryLookup(
            clinic=clinic,
            searched_by=by,
            searched_at=timezone.now(),
            action=action,
            pump_model_id=criteria.pump_model_id,
            serial_from=criteria.serial_from,
            serial_to=criteria.serial_to,
            implanted_from=criteria.implanted_from,
            implanted_to=criteria.implanted_to,
            drug_product_id=criteria.drug_product_id,
            lot_number=criteria.lot_number,
            include_explanted=criteria.include_explanted,
            patients_found=advisory_patient_count(clinic_ids=[clinic.pk], criteria=criteria),
        )
        lookup._history_user = by  # the audit trail names the searcher
        lookup.full_clean()
        lookup.save()
    return lookup
