"""Admin for the refills app.

Clinical rows that feed the forecast are read-only here: they are written by
the services, which validate and recompute the stored forecast. Editing a
refill behind the forecast's back would silently move an alarm date.
"""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from refills.models import (
    Appointment,
    DrugProduct,
    DrugProgram,
    FlexStep,
    Override,
    PumpForecast,
    PumpReport,
    Refill,
)


class ReadOnlyMixin:
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ReadOnlyMixin, SimpleHistoryAdmin):
    """Read-only, with the row's history (for models that keep one)."""


@admin.register(DrugProduct)
class DrugProductAdmin(admin.ModelAdmin):
    list_display = ("name", "concentration_mcg_per_ml", "presentation", "ndc", "is_active")
    list_filter = ("is_active", "screening_only", "is_custom_dilution")


class FlexStepInline(admin.TabularInline):
    model = FlexStep
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(DrugProgram)
class DrugProgramAdmin(ReadOnlyAdmin):
    list_display = ("pump", "effective_from", "concentration_mcg_per_ml", "daily_dose_mcg", "mode")
    list_filter = ("mode",)
    search_fields = ("pump__serial_number", "pump__patient__mrn")
    inlines = [FlexStepInline]


@admin.register(Refill)
class RefillAdmin(ReadOnlyAdmin):
    list_display = (
        "pump",
        "performed_at",
        "actual_residual_ml",
        "expected_residual_ml",
        "discrepancy_ml",
        "discrepancy_flagged",
    )
    list_filter = ("discrepancy_flagged",)
    search_fields = ("pump__serial_number", "pump__patient__mrn", "lot_number")
    date_hierarchy = "performed_at"


@admin.register(Appointment)
class AppointmentAdmin(ReadOnlyAdmin):
    list_display = ("patient", "kind", "scheduled_start", "status")
    list_filter = ("status", "kind")
    search_fields = ("patient__mrn", "patient__family_name")
    date_hierarchy = "scheduled_start"


@admin.register(PumpReport)
class PumpReportAdmin(ReadOnlyAdmin):
    list_display = ("pump", "kind", "reported_at", "resolved_at")
    list_filter = ("kind",)


@admin.register(Override)
class OverrideAdmin(ReadOnlyAdmin):
    list_display = ("rule", "overridden_by", "overridden_at", "pump")
    list_filter = ("rule", "requires_physician")


@admin.register(PumpForecast)
class PumpForecastAdmin(ReadOnlyMixin, admin.ModelAdmin):
    # The stored forecast keeps no history (it is recomputed from the rows that do), so
    # the history admin's page had nothing to show and failed with a server error.
    list_display = (
        "pump",
        "risk_tier",
        "alarm_at",
        "conservative_alarm_at",
        "refill_by",
        "refill_by_reason",
        "reassess_at",
    )
    list_filter = ("risk_tier", "refill_by_reason")
