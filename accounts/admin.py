"""The Django admin is a platform operator's tool: active, verified superusers only.

Clinic staff (even with is_staff and model permissions) get the admin's sign-in page:
the admin is not scoped by clinic, so a nurse with view rights would read every
clinic's patients. Everything clinic staff do has a scoped page in the dashboard
(dashboard/clinic_admin_views.py, reminders/pages.py).
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest

from accounts.models import Membership, User


def operator_only(request: HttpRequest) -> bool:
    """Admin access: an active superuser who has passed two-factor sign-in."""
    user = request.user
    is_verified = getattr(user, "is_verified", None)
    return bool(
        user.is_active
        and user.is_staff
        and user.is_superuser
        and callable(is_verified)
        and is_verified()
    )


# Every ModelAdmin's views, the index and the app lists go through AdminSite.has_permission.
admin.site.has_permission = operator_only


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    inlines = [MembershipInline]
    fieldsets = (*UserAdmin.fieldsets, ("Contact", {"fields": ("phone",)}))
    list_display = ("username", "first_name", "last_name", "email", "is_staff", "is_active")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "clinic", "role", "receives_escalations")
    list_filter = ("clinic", "role")
