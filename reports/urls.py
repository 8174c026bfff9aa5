from django.urls import path

from reports import advisory_views, audit_views, metrics, report_views, views

app_name = "reports"

urlpatterns = [
    path("", views.report_index, name="index"),
    path("activity.csv", views.activity_csv, name="activity_csv"),
    path("audit/", audit_views.audit_log, name="audit"),
    path("advisory/", advisory_views.advisory_lookup, name="advisory"),
]

# Reports 1-7: reports:<key>, reports:<key>_csv, reports:<key>_pdf (e.g. reports:refills).
for _kind in metrics.CATALOGUE:
    urlpatterns += [
        path(f"{_kind.key}/", report_views.report_page, {"key": _kind.key}, name=_kind.key),
        path(
            f"{_kind.key}.csv", report_views.report_csv, {"key": _kind.key}, name=f"{_kind.key}_csv"
        ),
        path(
            f"{_kind.key}.pdf",
            report_views.report_pdf_view,
            {"key": _kind.key},
            name=f"{_kind.key}_pdf",
        ),
    ]
