from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("reports/", include("reports.urls")),
    path("", include("reminders.urls")),
    # Each app adds its own urls module; the dashboard owns the site root.
    path("", include("dashboard.urls")),
]
