"""Staff pages. Thin: parse with a form, act through a service, read through a selector.

Every patient, pump and appointment is fetched through accounts.access, so a
row from another clinic is a 404; a role without the permission gets a 403.
Each view that shows or parses clinic times runs inside the clinic's zone.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.access import get_scoped, patient_for
from refills import services
from refills.models import Appointment, AppointmentKind, AppointmentStatus, Refill, RefillByReason

from . import alerts as alert_source
from . import forms, selectors
from .pdf import emergency_card_pdf
from .scheduling import ClinicHours, latest_safe_start
from .templatetags.pumptrack_tags import daytime

logger = logging.getLogger(__name__)

BOARD_PAGE_SIZE = 25


def _require(user, action: str, clinic) -> frozenset[str]:
    allowed = selectors.allowed_actions(user, clinic)
    if action not in allowed:
        raise PermissionDenied(f"Your role at {clinic} does not allow this.")
    return allowed


def patient_view(action: str = "view_clinical"):
    """Fetch the patient through the access gate, check the role, work in clinic time."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, patient_id: int, *args, **kwargs):
            patient = patient_for(request.user, patient_id)
            allowed = _require(request.user, action, patient.clinic)
            with timezone.override(patient.clinic.tz):
                return view(request, patient, allowed, *args, **kwargs)

        return wrapper

    return decorator


def appointment_view(action: str = "manage_appointments"):
    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, appointment_id: int, *args, **kwargs):
            appointment = get_scoped(
                request.user,
                Appointment.objects.select_related("patient__clinic", "pump__model"),
                "patient__clinic",
                appointment_id,
            )
            clinic = appointment.patient.clinic
            allowed = _require(request.user, action, clinic)
            with timezone.override(clinic.tz):
                return view(request, appointment, allowed, *args, **kwargs)

        return wrapper

    return decorator


def _active_pump_or_404(patient):
    pump = selectors.active_pump(patient)
    if pump is None:
        raise Http404("This patient has no active pump.")
    return pump


def _run_service(form, field_map: dict, write):
    """Call a service write; put its refusals on the form, in place. None when refused."""
    try:
        return write()
    except services.ClinicalValidationError as exc:
        forms.add_findings(form, exc.findings, field_map)
    except ValidationError as exc:
        for message in _service_error_text(exc):
            form.add_error(None, message)
    return None


def _service_error_text(exc: ValidationError) -> list[str]:
    return list(exc.messages)


# --------------------------------------------------------------------------- board


@login_required
def board(request):
    now = timezone.now()
    clinics = selectors.user_clinics(request.user)
    models = selectors.pump_models()
    form = forms.BoardFilterForm(request.GET or None, pump_models=models)
    data = form.cleaned_data if form.is_valid() else {}
    filters = selectors.BoardFilters(
        tier=data.get("tier"),
        group=data.get("group") or "",
        pump_model=data.get("pump_model"),
        booked=data.get("booked") or "",
        q=(data.get("q") or "").strip(),
    )
    # The chips count every group under the other filters, so each count is what its link shows.
    any_group = selectors.board_queryset(
        request.user, replace(filters, group=""), clinics=clinics, now=now
    )
    counts = selectors.board_group_counts(any_group)
    recheck_due = selectors.board_recheck_due_count(any_group)
    rows = selectors.board_queryset(request.user, filters, clinics=clinics, now=now)
    page = Paginator(rows, BOARD_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    chip_query = request.GET.copy()
    for key in ("page", "group"):
        chip_query.pop(key, None)
    return render(
        request,
        "dashboard/board.html",
        {
            "form": form,
            "page": page,
            "groups": selectors.GROUPS,
            "group_labels": selectors.GROUP_SHORT_LABELS,
            "counts": counts,
            "total": sum(counts.values()),
            "filters": filters,
            "filtered": filters != selectors.BoardFilters(),
            "query": query.urlencode(),
            "chip_query": chip_query.urlencode(),
            # Tiers whose reassess moment passed before the sweep re-tiered them: said, not
            # refreshed here (a GET never writes).
            "recheck_due": recheck_due,
            # The same value the stale-sweep banner's context processor gives, for every board.
            "last_sweep_at": alert_source.last_sweep_at(),
            "clinics": clinics,
        },
    )


# --------------------------------------------------------------------------- patient


@patient_view()
def patient_detail(request, patient, allowed):
    now = timezone.now()
    page = selectors.patient_page(patient, now=now)
    chart = None
    if page.pump is not None:
        chart = selectors.reservoir_chart(
            page.pump, page.forecast, page.refills, page.upcoming, now=now
        )
    return render(
        request,
        "dashboard/patient.html",
        {
            "p": page,
            "patient": patient,
            "allowed": allowed,
            "chart": chart,
            "tz": patient.clinic.tz,
            "refill_by_reasons": dict(RefillByReason.choices),
            "reports": selectors.patient_reports(patient),
            "now": now,
        },
    )


# --------------------------------------------------------------------------- refill


def _refill_form(request, patient, pump, program, data=None):
    now = timezone.now()
    return forms.RefillForm(
        data,
        clinic=patient.clinic,
        program=program,
        user=request.user,
        has_volume_sensor=pump.model.has_volume_sensor,
        initial=forms.refill_initial(pump=pump, program=program, now=now),
    )


@patient_view("record_refill")
def refill_create(request, patient, allowed):
    pump = _active_pump_or_404(patient)
    program = selectors.current_program(pump)
    appointment = _refill_appointment(request, patient)
    if request.method == "POST":
        form = _refill_form(request, patient, pump, program, request.POST)
        if form.is_valid():
            data = form.refill_input()
            refill = _run_service(
                form,
                forms.REFILL_FIELD_MAP,
                lambda: services.refill_record(
                    pump=pump,
                    by=request.user,
                    data=data,
                    appointment=appointment,
                    override_reason=form.cleaned_data.get("override_reason", ""),
                ),
            )
            if refill is not None:
                logger.info(
                    "refill %s recorded for pump %s by user %s", refill.pk, pump.pk, request.user.pk
                )
                messages.success(request, "Refill recorded. The forecast is updated.")
                return redirect(
                    "dashboard:refill_saved", patient_id=patient.pk, refill_id=refill.pk
                )
        messages.error(request, "The refill was not saved: see the messages below.")
    else:
        form = _refill_form(request, patient, pump, program)
    return render(
        request,
        "dashboard/refill_form.html",
        {
            "patient": patient,
            "pump": pump,
            "program": program,
            "form": form,
            "appointment": appointment,
            "forecast": selectors.stored_forecast(pump),
            "tz": patient.clinic.tz,
            "clock_change": selectors.clock_change_notice(pump, program),
            "now": timezone.now(),
        },
    )


def _refill_appointment(request, patient) -> Appointment | None:
    raw = request.GET.get("appointment") or request.POST.get("appointment")
    if not raw:
        return None
    appointment = get_scoped(request.user, Appointment.objects.all(), "patient__clinic", raw)
    if appointment.patient_id != patient.pk:
        raise Http404("No such appointment for this patient.")
    return appointment


@require_POST
@patient_view("record_refill")
def refill_preview(request, patient, allowed):
    """The live preview: an HTML fragment computed by refills.services.refill_preview."""
    pump = _active_pump_or_404(patient)
    program = selectors.current_program(pump)
    form = _refill_form(request, patient, pump, program, request.POST)
    form.is_valid()  # cleaned_data holds whatever parsed; the preview says what is missing.
    data = form.refill_input()
    preview = None
    if data is not None:
        preview = services.refill_preview(pump=pump, data=data, by=request.user)
    return render(
        request,
        "dashboard/includes/refill_preview.html",
        {
            "preview": preview,
            "form": form,
            "pump": pump,
            "program": program,
            "tz": patient.clinic.tz,
            "refill_by_reasons": dict(RefillByReason.choices),
        },
    )


@patient_view("view_clinical")
def refill_saved(request, patient, allowed, refill_id: int):
    refill = get_scoped(
        request.user,
        Refill.objects.select_related("pump__model", "program", "drug_product"),
        "pump__patient__clinic",
        refill_id,
    )
    if refill.pump.patient_id != patient.pk:
        raise Http404("No such refill for this patient.")
    forecast = selectors.stored_forecast(refill.pump)
    proposal = None
    if forecast is not None and forecast.refill_by is not None:
        proposal = latest_safe_start(
            refill_by=forecast.refill_by,
            now=timezone.now(),
            zone=patient.clinic.tz,
            hours=ClinicHours.of(patient.clinic),
        )
    return render(
        request,
        "dashboard/refill_saved.html",
        {
            "patient": patient,
            "refill": refill,
            "forecast": forecast,
            "proposal": proposal,
            "allowed": allowed,
            "tz": patient.clinic.tz,
            "refill_by_reasons": dict(RefillByReason.choices),
        },
    )


# --------------------------------------------------------------------------- program


def _program_write(form, write):
    """Like _run_service, with each finding placed by the form: flex-step ones by the steps."""
    try:
        return write()
    except services.ClinicalValidationError as exc:
        form.add_findings(exc.findings)
    except ValidationError as exc:
        for message in _service_error_text(exc):
            form.add_error(None, message)
    return None


@patient_view("change_program")
def program_change(request, patient, allowed):
    pump = _active_pump_or_404(patient)
    program = selectors.current_program(pump)
    if program is None:
        messages.info(request, "Record the first refill with its daily dose before reprogramming.")
        return redirect("dashboard:refill_create", patient_id=patient.pk)
    now = timezone.now()
    initial = forms.program_initial(program, zone=patient.clinic.tz, now=now)
    if request.method == "POST":
        form = forms.ProgramChangeForm(request.POST, program=program, initial=initial)
        if form.is_valid():
            changed = _program_write(
                form,
                lambda: services.drug_program_change(
                    pump=pump,
                    by=request.user,
                    program=form.program_input(),
                    reason=form.cleaned_data["reason"],
                    effective_from=form.cleaned_data["effective_from"],
                    override_reason=form.cleaned_data.get("override_reason", ""),
                ),
            )
            if changed is not None:
                logger.info("program changed for pump %s by user %s", pump.pk, request.user.pk)
                messages.success(request, "Drug program changed. The forecast is updated.")
                return redirect("dashboard:patient", patient_id=patient.pk)
        messages.error(request, "The program was not changed: see the messages below.")
    else:
        form = forms.ProgramChangeForm(program=program, initial=initial)
    return render(
        request,
        "dashboard/program_form.html",
        {
            "patient": patient,
            "pump": pump,
            "program": program,
            "form": form,
            "tz": patient.clinic.tz,
        },
    )


# --------------------------------------------------------------------------- appointments


@patient_view("manage_appointments")
def appointment_create(request, patient, allowed):
    pump = _active_pump_or_404(patient)
    zone = patient.clinic.tz
    forecast = selectors.stored_forecast(pump)
    initial = {"kind": AppointmentKind.REFILL, "duration_minutes": 30}
    proposal = None
    if forecast is not None and forecast.refill_by is not None:
        proposal = latest_safe_start(
            refill_by=forecast.refill_by,
            now=timezone.now(),
            zone=zone,
            hours=ClinicHours.of(patient.clinic),
        )
        initial.update(day=proposal.start.date(), time=proposal.start.time())
    for key in ("day", "time", "kind"):
        if request.GET.get(key):
            initial[key] = request.GET[key]
    if request.method == "POST":
        form = forms.AppointmentForm(request.POST, zone=zone, initial=initial)
        if form.is_valid():
            appointment = _run_service(
                form,
                forms.APPOINTMENT_FIELD_MAP,
                lambda: services.appointment_book(
                    pump=pump,
                    by=request.user,
                    scheduled_start=form.scheduled_start(),
                    kind=form.cleaned_data["kind"],
                    duration_minutes=form.cleaned_data["duration_minutes"],
                    notes=form.cleaned_data.get("notes", ""),
                    override_reason=form.cleaned_data.get("override_reason", ""),
                ),
            )
            if appointment is not None:
                logger.info(
                    "appointment %s booked for pump %s by user %s",
                    appointment.pk,
                    pump.pk,
                    request.user.pk,
                )
                messages.success(
                    request,
                    f"{appointment.get_kind_display()} appointment booked for "
                    f"{_when(appointment.scheduled_start, zone)}.",
                )
                return redirect("dashboard:patient", patient_id=patient.pk)
        messages.error(request, "The appointment was not booked: see the messages below.")
    else:
        form = forms.AppointmentForm(zone=zone, initial=initial)
    return render(
        request,
        "dashboard/appointment_form.html",
        {
            "patient": patient,
            "pump": pump,
            "form": form,
            "forecast": forecast,
            "proposal": proposal,
            "tz": zone,
            "title": "Book an appointment",
            "refill_by_reasons": dict(RefillByReason.choices),
        },
    )


def _when(value: dt.datetime, zone) -> str:
    return daytime(value, zone)


@appointment_view()
def appointment_reschedule(request, appointment, allowed):
    patient = appointment.patient
    zone = patient.clinic.tz
    local = timezone.localtime(appointment.scheduled_start, zone)
    initial = {"day": local.date(), "time": local.time().replace(second=0, microsecond=0)}
    forecast = selectors.stored_forecast(appointment.pump)
    if request.method == "POST":
        form = forms.RescheduleForm(request.POST, zone=zone, initial=initial)
        if form.is_valid():
            changed = _run_service(
                form,
                forms.APPOINTMENT_FIELD_MAP,
                lambda: services.appointment_reschedule(
                    appointment=appointment,
                    by=request.user,
                    scheduled_start=form.scheduled_start(),
                    override_reason=form.cleaned_data.get("override_reason", ""),
                ),
            )
            if changed is not None:
                logger.info(
                    "appointment %s rescheduled by user %s", appointment.pk, request.user.pk
                )
                messages.success(
                    request,
                    f"Appointment moved to {_when(appointment.scheduled_start, zone)}.",
                )
                return redirect("dashboard:patient", patient_id=patient.pk)
        messages.error(request, "The appointment was not moved: see the messages below.")
    else:
        form = forms.RescheduleForm(zone=zone, initial=initial)
    return render(
        request,
        "dashboard/appointment_change.html",
        {
            "patient": patient,
            "appointment": appointment,
            "form": form,
            "forecast": forecast,
            "tz": zone,
            "title": "Reschedule the appointment",
            "submit": "Reschedule",
            "refill_by_reasons": dict(RefillByReason.choices),
        },
    )


@appointment_view()
def appointment_cancel(request, appointment, allowed):
    patient = appointment.patient
    if request.method == "POST":
        form = forms.CancelForm(request.POST)
        if form.is_valid():
            try:
                services.appointment_cancel(
                    appointment=appointment, by=request.user, reason=form.cleaned_data["reason"]
                )
            except ValidationError as exc:
                for message in _service_error_text(exc):
                    form.add_error(None, message)
            else:
                logger.info("appointment %s cancelled by user %s", appointment.pk, request.user.pk)
                messages.success(
                    request,
                    "Appointment cancelled. If it was a refill, book the next one before the "
                    "refill-by date.",
                )
                return redirect("dashboard:patient", patient_id=patient.pk)
        messages.error(request, "The appointment was not cancelled: see the messages below.")
    else:
        form = forms.CancelForm()
    return render(
        request,
        "dashboard/appointment_change.html",
        {
            "patient": patient,
            "appointment": appointment,
            "form": form,
            "tz": patient.clinic.tz,
            "title": "Cancel the appointment",
            "submit": "Cancel the appointment",
            "danger": True,
        },
    )


@require_POST
@appointment_view()
def appointment_missed(request, appointment, allowed):
    if appointment.status != AppointmentStatus.SCHEDULED:
        messages.warning(request, "Only a scheduled appointment can be marked missed.")
        return redirect("dashboard:patient", patient_id=appointment.patient_id)
    try:
        marked = services.appointment_mark_missed(appointment=appointment, by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("dashboard:patient", patient_id=appointment.patient_id)
    if marked:
        logger.info("appointment %s marked missed by user %s", appointment.pk, request.user.pk)
        messages.warning(
            request,
            "Marked missed. Call the patient and book a new refill before the refill-by date.",
        )
    else:
        messages.info(request, "The appointment had already changed; nothing was done.")
    return redirect("dashboard:patient", patient_id=appointment.patient_id)


@require_POST
@appointment_view()
def appointment_complete(request, appointment, allowed):
    if appointment.kind == AppointmentKind.REFILL:
        # A refill visit is completed by recording the refill itself.
        return redirect(
            reverse("dashboard:refill_create", args=[appointment.patient_id])
            + f"?appointment={appointment.pk}"
        )
    if appointment.status != AppointmentStatus.SCHEDULED:
        messages.warning(request, "Only a scheduled appointment can be completed.")
    else:
        try:
            services.appointment_complete(appointment=appointment, by=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            logger.info("appointment %s completed by user %s", appointment.pk, request.user.pk)
            messages.success(request, "Appointment marked completed.")
    return redirect("dashboard:patient", patient_id=appointment.patient_id)


# --------------------------------------------------------------------------- calendar


@login_required
def calendar(request):
    clinics = selectors.user_clinics(request.user)
    if not clinics:
        raise PermissionDenied("You are not a member of any clinic.")
    clinic = clinics[0]
    wanted = request.GET.get("clinic")
    if wanted:
        clinic = next((c for c in clinics if str(c.pk) == wanted), None)
        if clinic is None:
            raise Http404("No such clinic.")
    zone = clinic.tz
    today = selectors.clinic_today(clinic)
    try:
        day = dt.date.fromisoformat(request.GET.get("day", "")) if request.GET.get("day") else today
    except ValueError:
        day = today
    if not forms.EARLIEST_YEAR <= day.year <= forms.LATEST_YEAR:
        day = today  # A week around year 1 or 9999 overflows: show this week instead.
    view_kind = "day" if request.GET.get("view") == "day" else "week"
    if view_kind == "day":
        first, days = day, 1
    else:
        first, days = day - dt.timedelta(days=day.weekday()), 7
    start = dt.datetime.combine(first, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(first + dt.timedelta(days=days), dt.time.min, tzinfo=zone)
    appointments = selectors.appointments_between(request.user, start, end, clinic=clinic)
    by_day: dict[dt.date, list] = {first + dt.timedelta(days=i): [] for i in range(days)}
    for appointment in appointments:
        by_day.setdefault(timezone.localtime(appointment.scheduled_start, zone).date(), []).append(
            appointment
        )
    overdue, weeks = selectors.refills_due_by_week(request.user, clinic=clinic, today=today)
    step = dt.timedelta(days=days)
    return render(
        request,
        "dashboard/calendar.html",
        {
            "clinic": clinic,
            "clinics": clinics,
            "tz": zone,
            "today": today,
            "day": day,
            "view": view_kind,
            "days": sorted(by_day.items()),
            "count": len(appointments),
            "previous": first - step,
            "next": first + step,
            "overdue": overdue,
            "weeks": weeks,
        },
    )


# --------------------------------------------------------------------------- emergency card


@patient_view()
def emergency_card(request, patient, allowed):
    card = selectors.emergency_card(patient)
    return render(request, "dashboard/emergency_card.html", {"card": card, "patient": patient})


@patient_view()
def emergency_card_pdf_view(request, patient, allowed):
    card = selectors.emergency_card(patient)
    logger.info("emergency card PDF for patient %s by user %s", patient.pk, request.user.pk)
    response = HttpResponse(emergency_card_pdf(card), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="emergency-card-{patient.pk}.pdf"'
    return response


# --------------------------------------------------------------------------- alerts


@login_required
def alert_inbox(request):
    show = "resolved" if request.GET.get("show") == "resolved" else "open"
    groups = alert_source.inbox(request.user, show=show)
    clinics = selectors.user_clinics(request.user)
    acting = {
        c.pk for c in clinics if "act_on_alerts" in selectors.allowed_actions(request.user, c)
    }
    assignees = {c.pk: list(selectors.members_for_assignment(c)) for c in clinics if c.pk in acting}
    return render(
        request,
        "dashboard/alerts.html",
        {
            "groups": groups,
            "show": show,
            "total": sum(len(g.alerts) for g in groups),
            "acting_clinics": acting,
            "assignees": assignees,
        },
    )


def _alert_or_404(request, alert_id: int):
    alert = alert_source.get_alert(request.user, alert_id)
    _require(request.user, "act_on_alerts", alert_source.alert_clinic(alert))
    return alert


def _back_to_inbox(request):
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("dashboard:alerts")


@require_POST
@login_required
def alert_acknowledge(request, alert_id: int):
    alert = _alert_or_404(request, alert_id)
    try:
        alert_source.acknowledge(alert, by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        logger.info("alert %s acknowledged by user %s", alert.pk, request.user.pk)
        messages.success(request, "Alert acknowledged. Resolve it once the patient is safe.")
    return _back_to_inbox(request)


@require_POST
@login_required
def alert_assign(request, alert_id: int):
    alert = _alert_or_404(request, alert_id)
    clinic = alert_source.alert_clinic(alert)
    form = forms.AssignForm(request.POST, assignees=selectors.members_for_assignment(clinic))
    if not form.is_valid():
        messages.error(request, "Choose who to assign the alert to.")
        return _back_to_inbox(request)
    try:
        alert_source.assign(alert, by=request.user, assignee=form.cleaned_data["assignee"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        logger.info(
            "alert %s assigned to user %s by user %s",
            alert.pk,
            form.cleaned_data["assignee"].pk,
            request.user.pk,
        )
        assignee = form.cleaned_data["assignee"]
        messages.success(
            request, f"Alert assigned to {assignee.get_full_name() or assignee.username}."
        )
    return _back_to_inbox(request)


@require_POST
@login_required
def alert_resolve(request, alert_id: int):
    alert = _alert_or_404(request, alert_id)
    form = forms.ResolveForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write a resolution note: what was done for the patient.")
        return _back_to_inbox(request)
    try:
        alert_source.resolve(alert, by=request.user, note=form.cleaned_data["note"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        logger.info("alert %s resolved by user %s", alert.pk, request.user.pk)
        messages.success(request, "Alert resolved.")
    return _back_to_inbox(request)
