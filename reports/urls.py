from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("", views.report_index, name="index"),
    path("activity.csv", views.activity_csv, name="activity_csv"),
    path("audit/", views.audit_log, name="audit"),
]
