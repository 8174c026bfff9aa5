from django.urls import path

from reports import audit_views, views

app_name = "reports"

urlpatterns = [
    path("", views.report_index, name="index"),
    path("activity.csv", views.activity_csv, name="activity_csv"),
    path("audit/", audit_views.audit_log, name="audit"),
]
