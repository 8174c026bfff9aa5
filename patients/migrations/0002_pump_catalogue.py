"""Load the pump catalogue from domain.md §1.1 and §1.3.

Unknown values stay empty rather than guessed: the alarm range, empty volume
and SynchroMed flow accuracy are unconfirmed in the sources.
"""

from decimal import Decimal

from django.db import migrations

PUMP_MODELS = [
    {
        "manufacturer": "Medtronic",
        "model_number": "8637-20",
        "name": "SynchroMed II",
        "reservoir_capacity_ml": Decimal("20"),
        "default_alarm_volume_ml": Decimal("2.0"),
        "programmable": True,
        "max_service_life_days": 2557,
        "eri_to_eos_days": 90,
        "mri_notes": "MRI can stall the pump motor; interrogate the pump after any MRI.",
    },
    {
        "manufacturer": "Medtronic",
        "model_number": "8637-40",
        "name": "SynchroMed II",
        "reservoir_capacity_ml": Decimal("40"),
        "default_alarm_volume_ml": Decimal("2.0"),
        "programmable": True,
        "max_service_life_days": 2557,
        "eri_to_eos_days": 90,
        "mri_notes": "MRI can stall the pump motor; interrogate the pump after any MRI.",
    },
    {
        "manufacturer": "Flowonix",
        "model_number": "13827",
        "name": "Prometra II",
        "reservoir_capacity_ml": Decimal("20"),
        "default_alarm_volume_ml": Decimal("2.0"),
        "programmable": True,
        "flow_accuracy_tolerance": Decimal("0.150"),
        "minimum_age_years": 12,
        "mri_notes": "Empty the pump before MRI (overdose risk); the flow-activated valve "
        "stays closed after MRI until reset.",
    },
    {
        "manufacturer": "Flowonix",
        "model_number": "16827",
        "name": "Prometra II",
        "reservoir_capacity_ml": Decimal("40"),
        "default_alarm_volume_ml": Decimal("2.0"),
        "programmable": True,
        "flow_accuracy_tolerance": Decimal("0.150"),
        "minimum_age_years": 12,
        "mri_notes": "Empty the pump before MRI (overdose risk); the flow-activated valve "
        "stays closed after MRI until reset.",
    },
]


def load(apps, schema_editor):
    PumpModel = apps.get_model("patients", "PumpModel")
    for row in PUMP_MODELS:
        PumpModel.objects.update_or_create(model_number=row["model_number"], defaults=row)


def unload(apps, schema_editor):
    PumpModel = apps.get_model("patients", "PumpModel")
    PumpModel.objects.filter(
        model_number__in=[r["model_number"] for r in PUMP_MODELS], pumps__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("patients", "0001_initial")]
    operations = [migrations.RunPython(load, unload)]
