from django.urls import path

from reports import advisory_views, audit_views, views

app_name = "reports"

urlpatterns = [
    path("", views.report_index, name="index"),
    path("activity.csv", views.activity_csv, name="activity_csv"),
    path("audit/", audit_views.audit_log, name="audit"),
    path("advisory/", advisory_views.advisory_lookup, name="advisory"),
]
