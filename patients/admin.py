from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from patients.models import Caregiver, Clinic, Patient, Pump, PumpModel


@admin.register(Clinic)
class ClinicAdmin(SimpleHistoryAdmin):
    list_display = ("name", "timezone", "phone", "default_refill_margin_days")


@admin.register(PumpModel)
class PumpModelAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "model_number",
        "manufacturer",
        "reservoir_capacity_ml",
        "default_alarm_volume_ml",
        "max_service_life_days",
    )


class CaregiverInline(admin.TabularInline):
    model = Caregiver
    extra = 0


class PumpInline(admin.TabularInline):
    model = Pump
    extra = 0
    fields = ("model", "serial_number", "implanted_on", "alarm_volume_ml", "status")
    readonly_fields = fields
    can_delete = False
    show_change_link = True


@admin.register(Patient)
class PatientAdmin(SimpleHistoryAdmin):
    list_display = ("mrn", "family_name", "given_name", "clinic", "is_active")
    list_filter = ("clinic", "is_active", "spasticity_origin")
    search_fields = ("mrn", "family_name", "given_name")
    inlines = [CaregiverInline, PumpInline]


@admin.register(Caregiver)
class CaregiverAdmin(SimpleHistoryAdmin):
    list_display = ("name", "relationship", "patient", "receives_reminders")
    search_fields = ("name", "patient__mrn")


@admin.register(Pump)
class PumpAdmin(SimpleHistoryAdmin):
    list_display = ("serial_number", "model", "patient", "implanted_on", "status")
    list_filter = ("status", "model")
    search_fields = ("serial_number", "patient__mrn", "patient__family_name")
    raw_id_fields = ("patient",)
