"""Admin for reminders: the outbox and alerts are read-only evidence; templates are editable.

Alerts are acted on through reminders.services (the dashboard), which checks the
user's role and records who did what; the admin only shows them.
"""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from reminders.models import Alert, MessageTemplate, Notification


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "stage",
        "recipient",
        "channel",
        "status",
        "attempts",
        "possible_duplicates",
        "not_before",
        "sent_at",
        "why",
    )
    list_filter = ("status", "kind", "channel", "clinic")
    search_fields = ("key", "patient__mrn", "provider_id")
    date_hierarchy = "created_at"
    list_select_related = ("patient", "caregiver", "staff_user")
    readonly_fields = [f.name for f in Notification._meta.fields]

    @admin.display(description="recipient")
    def recipient(self, obj):
        return obj.recipient_label

    @admin.display(description="why not sent / last error")
    def why(self, obj):
        return obj.suppressed_reason or obj.last_error


@admin.register(Alert)
class AlertAdmin(ReadOnlyMixin, SimpleHistoryAdmin):
    list_display = (
        "id",
        "kind",
        "severity_label",
        "state",
        "patient",
        "raised_at",
        "assignee",
        "escalation_count",
        "next_escalation_at",
    )
    list_filter = ("state", "kind", "severity", "clinic")
    search_fields = ("patient__mrn", "patient__family_name")
    list_select_related = ("patient", "assignee")
    readonly_fields = [f.name for f in Alert._meta.fields]


@admin.register(MessageTemplate)
class MessageTemplateAdmin(SimpleHistoryAdmin):
    list_display = ("kind", "channel", "clinic", "updated_at", "updated_by")
    list_filter = ("kind", "channel", "clinic")
    readonly_fields = ("updated_at", "updated_by", "placeholders")
    fields = (
        "clinic",
        "kind",
        "channel",
        "subject",
        "body",
        "placeholders",
        "updated_at",
        "updated_by",
    )

    @admin.display(description="placeholders you can use")
    def placeholders(self, obj):
        from reminders.messages import ALLOWED_PLACEHOLDERS

        names = ALLOWED_PLACEHOLDERS.get(obj.kind, ()) if obj and obj.kind else ()
        return ", ".join(f"{{{n}}}" for n in sorted(names)) or "Choose a kind and save first."

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)
