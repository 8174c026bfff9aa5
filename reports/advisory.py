"""Device advisory lookup (reads): every patient of a clinic with a pump model and serial
range, an implant date range, or a drug product and lot, with their contacts and next
appointment.

A handful of statements whatever the number of patients: the count, the page's pumps
(with patient and pump model joined, the next appointment and the drug lot's use as
correlated subqueries) and one for the caregivers of those patients. Serial ranges compare
the stored sort key (patients/serials.py, indexed with the model); drug lots compare upper
case (an index on UPPER(lot_number)).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Upper
from django.utils import timezone

from patients.models import Caregiver, Pump, PumpModel, PumpStatus
from patients.serials import serial_sort_key
from refills.models import Appointment, AppointmentStatus, DrugProduct, Refill

# The page shows this many pumps; the CSV has every one.
PAGE_LIMIT = 500


@dataclass(frozen=True)
class AdvisoryCriteria:
    pump_model_id: int | None = None
    serial_from: str = ""
    serial_to: str = ""
    implanted_from: dt.date | None = None
    implanted_to: dt.date | None = None
    drug_product_id: int | None = None
    lot_number: str = ""
    include_explanted: bool = False

    @property
    def by_drug(self) -> bool:
        return self.drug_product_id is not None or bool(self.lot_number)

    @property
    def is_empty(self) -> bool:
        return not (
            self.pump_model_id
            or self.serial_from
            or self.serial_to
            or self.implanted_from
            or self.implanted_to
            or self.by_drug
        )


def _matching_refills(criteria: AdvisoryCriteria) -> QuerySet:
    refills = Refill.objects.filter(pump=OuterRef("pk"))
    if criteria.drug_product_id is not None:
        refills = refills.filter(drug_product_id=criteria.drug_product_id)
    if criteria.lot_number:
        # Lots are compared as typed, case ignored (the index is on UPPER(lot_number)).
        refills = refills.alias(lot_upper=Upper("lot_number")).filter(
            lot_upper=criteria.lot_number.strip().upper()
        )
    return refills


def advisory_pumps(*, clinic_ids, criteria: AdvisoryCriteria, now: dt.datetime) -> QuerySet:
    """The matching pumps (one row each) of the clinics, by patient name."""
    pumps = Pump.objects.filter(patient__clinic_id__in=list(clinic_ids))
    if not criteria.include_explanted:
        pumps = pumps.filter(status=PumpStatus.ACTIVE)
    if criteria.pump_model_id is not None:
        pumps = pumps.filter(model_id=criteria.pump_model_id)
    if criteria.serial_from:
        pumps = pumps.filter(serial_sort_key__gte=serial_sort_key(criteria.serial_from))
    if criteria.serial_to:
        pumps = pumps.filter(serial_sort_key__lte=serial_sort_key(criteria.serial_to))
    if criteria.implanted_from:
        pumps = pumps.filter(implanted_on__gte=criteria.implanted_from)
    if criteria.implanted_to:
        pumps = pumps.filter(implanted_on__lte=criteria.implanted_to)
    if criteria.by_drug:
        matching = _matching_refills(criteria).order_by("-performed_at")
        latest = Refill.objects.filter(pump=OuterRef("pk")).order_by("-performed_at")
        pumps = pumps.filter(Exists(matching)).annotate(
            lot_last_filled_at=Subquery(matching.values("performed_at")[:1]),
            lot_last_filled_lot=Subquery(matching.values("lot_number")[:1]),
            latest_refill_id=Subquery(latest.values("pk")[:1]),
            matching_refill_id=Subquery(matching.values("pk")[:1]),
        )
    upcoming = Appointment.objects.filter(
        patient=OuterRef("patient"), status=AppointmentStatus.SCHEDULED, scheduled_start__gte=now
    ).order_by("scheduled_start")
    return (
        pumps.annotate(
            next_appointment_at=Subquery(upcoming.values("scheduled_start")[:1]),
            next_appointment_kind=Subquery(upcoming.values("kind")[:1]),
        )
        .select_related("patient", "model")
        .prefetch_related(
            Prefetch("patient__caregivers", queryset=Caregiver.objects.order_by("name"))
        )
        .order_by("patient__family_name", "patient__given_name", "patient_id", "pk")
    )


def advisory_patient_count(*, clinic_ids, criteria: AdvisoryCriteria) -> int:
    """How many patients the lookup finds (one statement)."""
    pumps = advisory_pumps(clinic_ids=clinic_ids, criteria=criteria, now=timezone.now())
    return pumps.order_by().values("patient_id").distinct().count()


def pump_model_choices() -> list[tuple[int, str]]:
    models = PumpModel.objects.all()
    return [(m.pk, f"{m.manufacturer} {m.name} ({m.model_number})") for m in models]


def drug_product_choices() -> list[tuple[int, str]]:
    return [(p.pk, str(p)) for p in DrugProduct.objects.all()]
