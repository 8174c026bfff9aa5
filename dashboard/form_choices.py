"""Reads the staff forms need (choices, catalogue look-ups), so the forms hold no queries.

Each is small and sized for one form; the pages' own reads are in dashboard.selectors.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import QuerySet
from django.db.models.functions import Trim, Upper

from patients.models import Clinic, Patient, Pump, PumpModel
from patients.validators import mrn_key
from refills.models import DrugProduct, DrugProgram


def product_names() -> list[tuple[str, str]]:
    """The drug-product picker's choices: catalogue names, custom dilutions last."""
    names = (
        DrugProduct.objects.filter(is_active=True)
        .order_by("is_custom_dilution", "name")
        .values_list("name", flat=True)
        .distinct()
    )
    return [(name, name) for name in dict.fromkeys(names)]


def resolve_product(name: str, concentration_mcg: Decimal | None) -> DrugProduct | None:
    """The catalogue row for a product name and strength.

    None when that product is not made at that strength. A custom dilution is
    one row whatever its strength.
    """
    products = DrugProduct.objects.filter(name=name, is_active=True)
    custom = products.filter(is_custom_dilution=True).first()
    if custom is not None:
        return custom
    if concentration_mcg is None:
        return None
    return products.filter(concentration_mcg_per_ml=concentration_mcg).first()


def program_flex_steps(program: DrugProgram) -> list[tuple[dt.time, Decimal, Decimal]]:
    """The program's flex steps as (starts at, hours, rate mcg/hour), in their order."""
    return [(s.starts_at, s.hours, s.rate_mcg_per_hour) for s in program.flex_steps.all()]


def clinics_by_name(clinics) -> QuerySet[Clinic]:
    """The given clinics as a picker's choices, by name."""
    return Clinic.objects.filter(pk__in=[c.pk for c in clinics]).order_by("name")


def mrn_taken(*, clinic: Clinic, mrn: str, patient: Patient | None = None) -> bool:
    """Another patient at the clinic has this MRN, ignoring case and the spaces around
    it (`patient`, the one edited, aside)."""
    taken = Patient.objects.annotate(mrn_key=Upper(Trim("mrn"))).filter(
        clinic=clinic, mrn_key=mrn_key(mrn)
    )
    if patient is not None:
        taken = taken.exclude(pk=patient.pk)
    return taken.exists()


def same_person(
    *, clinic: Clinic, family_name: str, given_name: str, born: dt.date
) -> Patient | None:
    """A patient of the clinic with this last name, first name and date of birth (case
    and surrounding spaces aside): maybe the same person registered twice."""
    return (
        Patient.objects.filter(
            clinic=clinic,
            family_name__iexact=family_name.strip(),
            given_name__iexact=given_name.strip(),
            date_of_birth=born,
        )
        .order_by("pk")
        .first()
    )


def pump_models() -> QuerySet[PumpModel]:
    """The pump catalogue as a picker's choices."""
    return PumpModel.objects.order_by("manufacturer", "model_number")


def serial_taken(*, clinic: Clinic, model: PumpModel | None, serial: str) -> bool:
    """A pump of this model with this serial number is already recorded at this clinic
    (only there: another clinic's pumps are not this clinic's to know about)."""
    return Pump.objects.filter(clinic=clinic, model=model, serial_number=serial).exists()
