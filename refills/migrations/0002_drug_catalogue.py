"""Load intrathecal baclofen products from domain.md §1.4.

Gablofen 3000 mcg/mL is loaded inactive: the strength is supported by a label
copy but its packaging is unconfirmed, and 3000 is accepted only when a clinic
activates a product that lists it (domain.md §7.2 #2).
"""

from decimal import Decimal

from django.db import migrations

PRODUCTS = [
    ("Lioresal Intrathecal", "Amneal (Saol)", "50", "0.05 mg/1 mL ampule", "", True, False, True),
    ("Lioresal Intrathecal", "Amneal (Saol)", "500", "10 mg/20 mL ampule", "", False, False, True),
    ("Lioresal Intrathecal", "Amneal (Saol)", "2000", "40 mg/20 mL ampule", "", False, False, True),
    ("Gablofen", "Piramal", "50", "1 mL syringe", "66794-151", True, False, True),
    ("Gablofen", "Piramal", "500", "20 mL vial or syringe", "", False, False, True),
    ("Gablofen", "Piramal", "1000", "20 mL vial or syringe", "", False, False, True),
    ("Gablofen", "Piramal", "2000", "20 mL vial or syringe", "66794-157", False, False, True),
    ("Gablofen", "Piramal", "3000", "packaging unconfirmed", "", False, False, False),
    ("Baclofen injection (generic)", "Sagent", "2000", "20 mL vial", "25021-679", False, False, True),
    ("Baclofen injection (generic)", "Advagen", "1000", "20 mL vial", "72888-146", False, False, True),
    ("Custom dilution", "", "1", "pharmacy-prepared", "", False, True, True),
]


def load(apps, schema_editor):
    DrugProduct = apps.get_model("refills", "DrugProduct")
    for name, maker, conc, presentation, ndc, screening, custom, active in PRODUCTS:
        DrugProduct.objects.update_or_create(
            name=name,
            concentration_mcg_per_ml=Decimal(conc),
            is_custom_dilution=custom,
            defaults={
                "manufacturer": maker,
                "presentation": presentation,
                "ndc": ndc,
                "screening_only": screening,
                "is_active": active,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("refills", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
