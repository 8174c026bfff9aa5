"""Reports 1-7: one page, CSV and PDF each, from the selectors in reports.metrics.

Every one goes through staff_view("view_reports") with the clinic from ?clinic=id (another
clinic's id is a 404); "All my clinics" widens the scope to the user's clinics where their
role allows reports, and never beyond them."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.access import clinics_where
from accounts.decorators import CLINIC_FROM_QUERY, staff_view
from patients.models import Clinic
from pumptrack.csvexport import csv_response
from reports import metrics
from reports.charts import bar_chart_svg
from reports.filters import ReportFilterForm, period, refused_period_note
from reports.pdf import report_pdf
from reports.views import REPORT_REFUSAL


def _build(request: HttpRequest, clinic: Clinic, key: str):
    kind = metrics.BY_KEY.get(key)
    if kind is None:
        raise Http404("No such report")
    today = timezone.localtime(timezone.now(), clinic.tz).date()
    form = ReportFilterForm(request.GET or None)
    since, until = period(
        form, today=today, default_days=settings.PUMPTRACK_REPORTS["DEFAULT_DAYS"]
    )
    clinics = [clinic]
    if form.is_bound and form.is_valid() and form.cleaned_data["all_clinics"]:
        clinics = list(clinics_where(request.user, "view_reports"))
    scope = metrics.Scope(
        clinic_ids=tuple(c.pk for c in clinics), tz=clinic.tz, since=since, until=until, today=today
    )
    report = kind.build(scope=scope)
    if form.is_bound and not form.is_valid() and kind.uses_period:
        # The CSV and the PDF say so too: a file must not pass the default for what was asked.
        report.notes.insert(0, refused_period_note(form))
    return kind, form, clinics, report


@staff_view("view_reports", scope=CLINIC_FROM_QUERY, refusal=REPORT_REFUSAL)
def report_page(request: HttpRequest, clinic: Clinic, allowed, key: str) -> HttpResponse:
    kind, form, clinics, report = _build(request, clinic, key)
    query = request.GET.copy()
    query["clinic"] = clinic.pk
    return render(
        request,
        "reports/report.html",
        {
            "kind": kind,
            "catalogue": metrics.CATALOGUE,
            "report": report,
            "form": form,
            "clinic": clinic,
            "clinics": clinics,
            "user_clinics": list(clinics_where(request.user, "view_reports")),
            "chart_svg": _svg(report),
            "query": query.urlencode(),
        },
    )


def _svg(report) -> str:
    return bar_chart_svg(report.chart) if report.chart else ""


def _cell(value):
    return str(value) if isinstance(value, metrics.PatientRef) else value


@staff_view("view_reports", scope=CLINIC_FROM_QUERY, refusal=REPORT_REFUSAL)
def report_csv(request: HttpRequest, clinic: Clinic, allowed, key: str):
    kind, _, clinics, report = _build(request, clinic, key)

    def rows():
        yield ["Clinic(s)", ", ".join(c.name for c in clinics)]
        first, last = report.covers
        if report.ahead:
            yield ["Covers " + report.ahead_name, first.isoformat(), last.isoformat()]
        else:
            yield ["Period", first.isoformat(), last.isoformat()]
        for label, value in report.figures:
            yield [label, value]
        for table in report.tables:
            yield []
            yield [table.title]
            yield table.header
            for row in table.rows:
                yield [_cell(v) for v in row]
        if report.notes:
            yield []
        for note in report.notes:
            yield [note]

    first, last = report.covers
    return csv_response(
        f"pumptrack-{key}-{clinic.pk}-{first}-{last}.csv",
        [kind.title],
        rows(),
    )


@staff_view("view_reports", scope=CLINIC_FROM_QUERY, refusal=REPORT_REFUSAL)
def report_pdf_view(request: HttpRequest, clinic: Clinic, allowed, key: str) -> HttpResponse:
    kind, _, clinics, report = _build(request, clinic, key)
    printed = timezone.localtime(timezone.now(), clinic.tz)
    pdf = report_pdf(
        report,
        clinic_names=[c.name for c in clinics],
        zone_name=str(clinic.timezone),
        printed_at=printed,
        by=request.user.get_full_name() or request.user.get_username(),
    )
    response = HttpResponse(pdf, content_type="application/pdf")
    first, last = report.covers
    response["Content-Disposition"] = (
        f'attachment; filename="pumptrack-{key}-{clinic.pk}-{first}-{last}.pdf"'
    )
    return response
