from django import forms
from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from patients.forms import working_days_field
from patients.models import (
    Caregiver,
    Clinic,
    Patient,
    Pump,
    PumpModel,
    working_days_text,
)

# The admin is for platform operators and saves rows directly: no service, no signal, so
# no forecast recompute, no booking cancelled, no alert closed. Every field that moves a
# stored forecast, a risk tier or a pump's lifecycle is therefore read-only here once the
# row exists; it is changed where the services run: the clinic settings page (managers),
# the patient and pump pages (staff), or a new pump model instead of an edited one.
# The clinic's zone and refill margin move every stored forecast of the clinic
# (refills.receivers.CLINIC_FIELDS_IN_FORECAST); its phones and opening hours move none
# and stay editable here.
CLINIC_FIELDS_OWNED_BY_SERVICES = ("timezone", "default_refill_margin_days")
PUMP_MODEL_FIELDS_IN_FORECASTS = (
    "reservoir_capacity_ml",
    "default_alarm_volume_ml",
    "alarm_volume_min_ml",
    "alarm_volume_max_ml",
    "empty_volume_ml",
    "max_service_life_days",
    "eri_to_eos_days",
    "flow_accuracy_tolerance",
)
PATIENT_FIELDS_OWNED_BY_SERVICES = (
    "clinic",
    "is_active",
    "timezone",
    *(name for name, _ in Patient.LABEL_RISK_FACTORS + Patient.OTHER_RISK_FACTORS),
    "oral_baclofen_bridge",
)
PUMP_FIELDS_OWNED_BY_SERVICES = (
    "patient",
    "model",
    "implanted_on",
    "alarm_volume_ml",
    "status",
    "explanted_on",
    "explant_reason",
    "eri_on",
    "planned_replacement_on",
    "pump_clock_timezone",
)


class ServiceOwnedFieldsReadOnly:
    """Read-only on an existing row: the fields listed in `service_owned_fields`."""

    service_owned_fields: tuple[str, ...] = ()

    def get_readonly_fields(self, request, obj=None):
        readonly = tuple(super().get_readonly_fields(request, obj))
        if obj is None:
            return readonly
        return readonly + tuple(f for f in self.service_owned_fields if f not in readonly)


class ClinicAdminForm(forms.ModelForm):
    """Working days as seven tick boxes; stored as weekday digits ("01234" = Mon–Fri)."""

    working_days = working_days_field()

    class Meta:
        model = Clinic
        fields = (
            "name",
            "timezone",
            "phone",
            "after_hours_phone",
            "default_refill_margin_days",
            "working_days",
            "day_starts",
            "day_ends",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stored = self.initial.get("working_days")
        if isinstance(stored, str):
            self.initial["working_days"] = list(stored)

    def clean_working_days(self) -> str:
        return "".join(sorted(set(self.cleaned_data["working_days"])))


@admin.register(Clinic)
class ClinicAdmin(ServiceOwnedFieldsReadOnly, SimpleHistoryAdmin):
    form = ClinicAdminForm
    service_owned_fields = CLINIC_FIELDS_OWNED_BY_SERVICES
    list_display = (
        "name",
        "timezone",
        "phone",
        "default_refill_margin_days",
        "opening_hours",
    )
    fieldsets = (
        (None, {"fields": ("name", "timezone", "phone", "after_hours_phone")}),
        ("Refills", {"fields": ("default_refill_margin_days",)}),
        ("Opening hours", {"fields": ("working_days", ("day_starts", "day_ends"))}),
    )

    @admin.display(description="Opening hours")
    def opening_hours(self, clinic: Clinic) -> str:
        days = working_days_text(clinic.working_days)
        return f"{days} {clinic.day_starts:%H:%M}–{clinic.day_ends:%H:%M}"


@admin.register(PumpModel)
class PumpModelAdmin(ServiceOwnedFieldsReadOnly, admin.ModelAdmin):
    service_owned_fields = PUMP_MODEL_FIELDS_IN_FORECASTS
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
class PatientAdmin(ServiceOwnedFieldsReadOnly, SimpleHistoryAdmin):
    service_owned_fields = PATIENT_FIELDS_OWNED_BY_SERVICES
    list_display = ("mrn", "family_name", "given_name", "clinic", "is_active")
    list_filter = ("clinic", "is_active", "spasticity_origin")
    search_fields = ("mrn", "family_name", "given_name")
    inlines = [CaregiverInline, PumpInline]


@admin.register(Caregiver)
class CaregiverAdmin(SimpleHistoryAdmin):
    list_display = ("name", "relationship", "patient", "receives_reminders")
    search_fields = ("name", "patient__mrn")


@admin.register(Pump)
class PumpAdmin(ServiceOwnedFieldsReadOnly, SimpleHistoryAdmin):
    service_owned_fields = PUMP_FIELDS_OWNED_BY_SERVICES
    list_display = ("serial_number", "model", "patient", "implanted_on", "status")
    list_filter = ("status", "model")
    search_fields = ("serial_number", "patient__mrn", "patient__family_name")
    raw_id_fields = ("patient",)

    def has_add_permission(self, request):
        # An implant starts a forecast and may replace a pump (patients.services.pump_implant
        # and its signals): staff record it on the patient's page.
        return False
