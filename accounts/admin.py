from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import Membership, User


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
