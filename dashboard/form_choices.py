"""Reads the staff forms need (choices, catalogue look-ups), so the forms hold no queries.

Each is small and sized for one form; the pages' own reads are in dashboard.selectors.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

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
