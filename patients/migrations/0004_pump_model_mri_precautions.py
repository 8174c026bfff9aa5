"""MRI precautions for the catalogue's pump models, in words for an emergency team.

Only what domain.md says (§1.1, §1.3, §3.4): MRI can stall the SynchroMed II motor,
which stops delivery; the Prometra's flow-activated valve closes in a strong magnetic
field, the pump must be emptied before MRI (overdose risk) and the valve stays closed
after MRI until reset. Rows a clinic has edited since 0002 are left as they are.
"""

from django.db import migrations

OLD_SYNCHROMED = "MRI can stall the pump motor; interrogate the pump after any MRI."
OLD_PROMETRA = (
    "Empty the pump before MRI (overdose risk); the flow-activated valve "
    "stays closed after MRI until reset."
)

SYNCHROMED = (
    "MRI can stall the pump motor, which stops the drug (a cause of withdrawal). "
    "Contact the pump team before any MRI; after it, have the pump checked (interrogated) "
    "to confirm it is running, and watch for withdrawal signs."
)
PROMETRA = (
    "A strong magnetic field (MRI) closes the pump's flow-activated valve and stops the "
    "drug. The pump must be emptied before MRI, or there is a risk of overdose. After MRI "
    "the valve stays closed until it is reset: contact the pump team, and watch for "
    "withdrawal signs until it is."
)

NOTES = {
    "8637-20": (OLD_SYNCHROMED, SYNCHROMED),
    "8637-40": (OLD_SYNCHROMED, SYNCHROMED),
    "13827": (OLD_PROMETRA, PROMETRA),
    "16827": (OLD_PROMETRA, PROMETRA),
}


def forward(apps, schema_editor):
    PumpModel = apps.get_model("patients", "PumpModel")
    for number, (old, new) in NOTES.items():
        PumpModel.objects.filter(model_number=number, mri_notes__in=["", old]).update(mri_notes=new)


def backward(apps, schema_editor):
    PumpModel = apps.get_model("patients", "PumpModel")
    for number, (old, new) in NOTES.items():
        PumpModel.objects.filter(model_number=number, mri_notes=new).update(mri_notes=old)


class Migration(migrations.Migration):
    dependencies = [("patients", "0003_clinic_hours_pump_explant_reason")]
    operations = [migrations.RunPython(forward, backward)]
