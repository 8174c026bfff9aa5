"""Bad input (issue 5): hostile and random values posted through the staff pages.

Hypothesis drives the patient, caregiver, pump, pump-report, drug-program,
refill and appointment forms through their views, signed in as a physician
(every clinical permission), with huge, negative, non-finite, empty, unicode,
NUL-byte, very long, HTML/JS and SQL values. Each post must end in a form
error or a valid save, never a 500; nothing is written unless the view
redirects after a save; whatever is echoed back (the form, or the patient page
after a save) is escaped; and the database stays consistent.

The examples of one test share one test database (pytest-django's `db`), so
rows made by earlier examples stay: that is on purpose, the forms must cope.
40 examples per form by default; HOSTILE_EXAMPLES=300 for a longer hunt.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.db.models import Count, Q, Sum
from django.forms.models import model_to_dict
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Role
from patients.models import Caregiver, Patient, Pump, PumpStatus
from patients.validators import validate_e164
from refills import services
from refills.models import (
    Appointment,
    DosingMode,
    DrugProgram,
    FlexStep,
    PumpForecast,
    PumpReport,
    Refill,
    ReportKind,
)
from tests.conftest import program_input, refill_input
from tests.factories import PatientFactory, PumpFactory, pump_model, staff

pytestmark = pytest.mark.django_db

HOSTILE_SETTINGS = settings(
    max_examples=int(__import__("os").environ.get("HOSTILE_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# A form error (200), a save (302), or a refusal: never a 500.
ALLOWED = {200, 302, 400, 403, 404}

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
SVG = "<svg/onload=alert(1)>"
# None of these may appear unescaped in any page.
RAW_MARKUP = (SCRIPT, "<img src=x onerror=alert(1)>", SVG)
SQL = "'; DROP TABLE patients_patient; --"

HOSTILE = [
    "",
    " ",
    "\t\n ",
    "0",
    "-0",
    "-1",
    "-0.01",
    "1e309",
    "-1e309",
    "1e-309",
    "1E+999999999",
    "NaN",
    "nan",
    "sNaN",
    "-NaN",
    "Infinity",
    "-Infinity",
    "inf",
    "9" * 40,
    "9" * 5000,
    "99999999999999999999.99",
    "2147483648",
    "-9223372036854775809",
    "0x10",
    "1,5",
    "1_000",
    "١٢٣",  # Arabic-Indic digits
    "２０",  # full-width digits
    "\x00",
    "2\x00",
    "a\x00b",
    "\u202e\u200fRTL",
    "\u200b",
    "😀" * 20,
    "e" + "\u0301" * 40,
    "A" * 10_000,
    SCRIPT,
    IMG,
    SVG,
    SQL,
    "' OR '1'='1",
    "{{ 7|add:7 }}{% debug %}",
    "%s%n%x",
    "../../etc/passwd",
    "9999-12-31",
    "0001-01-01",
    "2024-02-30",
    "9999-12-31T23:59",
    "0001-01-01T00:00",
    "1900-01-01T00:00",
    "25:61",
    "23:59:60",
    "true",
    "on",
    "None",
    "null",
    "[]",
]


def _stamp(moment: dt.datetime) -> str:
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}"
    )


VALUES = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=200),  # any unicode (hypothesis leaves out lone surrogates)
    st.builds(
        lambda before, payload, after: before + payload + after,
        st.text(max_size=10),
        st.sampled_from([SCRIPT, IMG, SVG, SQL, "\x00"]),
        st.text(max_size=10),
    ),
    st.integers().map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats().map(repr),
    st.dates().map(lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}"),
    st.datetimes().map(_stamp),
)


def _day(d: dt.date) -> str:
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}"


# Values aimed at one kind of input, so its edges are reached often, not by luck.
DATES = st.one_of(
    st.sampled_from(
        ["9999-12-31", "9999-12-27", "0001-01-01", "0001-01-02", "10000-01-01", "2024-02-30"]
    ),
    st.dates(min_value=dt.date(9999, 11, 1)).map(_day),
    st.dates(max_value=dt.date(10, 1, 1)).map(_day),
    st.dates(min_value=dt.date(1890, 1, 1), max_value=dt.date(2210, 12, 31)).map(_day),
)
DATETIMES = st.one_of(
    st.sampled_from(
        ["9999-12-31T23:59", "0001-01-01T00:00", "9999-12-31 23:59:59", "2024-03-10T02:30"]
    ),
    st.datetimes(min_value=dt.datetime(9999, 12, 1)).map(_stamp),
    st.datetimes(max_value=dt.datetime(1, 1, 3)).map(_stamp),
    st.datetimes(min_value=dt.datetime(1890, 1, 1), max_value=dt.datetime(2210, 1, 1)).map(_stamp),
)
TIMES = st.one_of(
    st.sampled_from(["24:00", "23:59:59.999999", "-1:00", "12:60", "00:00", "23:59"]),
    st.times().map(lambda t: t.strftime("%H:%M")),
)
NUMBERS = st.one_of(
    st.sampled_from([h for h in HOSTILE if h and (h[0].isdigit() or h[0] in "-+.nNsSiI")]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.integers(min_value=0, max_value=100_000).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.decimals(min_value=0, max_value=1000, places=3).map(str),
    st.floats().map(repr),
)
IDS = st.one_of(
    st.sampled_from(["0", "-1", "1.5", "abc", "\x00", "1\x00", "9" * 30, "1e3", " 1"]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)
KINDS = {"date": DATES, "datetime": DATETIMES, "time": TIMES, "number": NUMBERS, "id": IDS}


def overrides(fields: dict[str, str]):
    """Some of the form's fields replaced by hostile values; the rest stay valid.

    `fields` maps each input to its kind ("text", "date", "number", ...): a field
    gets values aimed at its kind half of the time, any hostile value otherwise.
    """
    pairs = [
        st.tuples(st.just(name), st.one_of(KINDS[kind], VALUES) if kind in KINDS else VALUES)
        for name, kind in fields.items()
    ]
    return st.lists(st.one_of(pairs), max_size=len(fields)).map(dict)


_serial = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_serial)}"


# --------------------------------------------------------------------------- checks


def assert_escaped(body: str) -> None:
    for raw in RAW_MARKUP:
        assert raw not in body, f"unescaped {raw!r} in the page"


def assert_consistent() -> None:
    """What the database must hold whatever was posted (a few queries, not one per row)."""
    active = Pump.objects.filter(status=PumpStatus.ACTIVE)
    assert not active.filter(forecast__isnull=True).exists(), "active pump without a forecast"
    assert not active.filter(explanted_on__isnull=False).exists()
    assert not active.exclude(alarm_volume_ml__gte=2, alarm_volume_ml__lte=5).exists()
    doubled = (
        Patient.objects.annotate(n=Count("pumps", filter=Q(pumps__status=PumpStatus.ACTIVE)))
        .filter(n__gt=1)
        .exists()
    )
    assert not doubled, "a patient with two active pumps"
    people = itertools.chain(
        Patient.objects.values_list("phone", "mrn", "given_name", "family_name", "notes"),
        Caregiver.objects.values_list("phone", "name", "relationship"),
    )
    for phone, *texts in people:
        validate_e164(phone)
        assert not any("\x00" in text for text in texts), "NUL byte stored"
    assert not PumpForecast.objects.exclude(risk_tier__gte=1, risk_tier__lte=4).exists()
    flex_hours = DrugProgram.objects.filter(mode=DosingMode.FLEX).annotate(
        hours=Sum("flex_steps__hours")
    )
    assert not flex_hours.exclude(hours=24).exists(), "a flex program not covering 24 hours"


COUNTED = (Patient, Caregiver, Pump, PumpReport, DrugProgram, FlexStep, Refill, Appointment)


def counts() -> dict:
    return {model.__name__: model.objects.count() for model in COUNTED}


def post(client, url: str, data: dict, *, unchanged=None):
    """Post, then check the outcome; `unchanged` returns a snapshot that a refusal keeps."""
    before = counts()
    snapshot = unchanged() if unchanged else None
    response = client.post(url, data)
    assert response.status_code in ALLOWED, response.status_code
    body = response.content.decode("utf-8", errors="replace")
    assert_escaped(body)
    after = counts()
    if response.status_code == 302:
        assert all(after[name] >= before[name] for name in after), (before, after)
        page = client.get(response.url)
        assert page.status_code == 200, response.url
        assert_escaped(page.content.decode("utf-8", errors="replace"))
    else:
        assert after == before, (before, after)
        if unchanged:
            assert unchanged() == snapshot
    assert_consistent()
    return response


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def doctor(clinic, as_user):
    return as_user(staff(clinic, Role.PHYSICIAN))


def _filled(clinic, by, *, days_ago=30) -> Pump:
    pump = PumpFactory(patient=PatientFactory(clinic=clinic))
    start = timezone.now() - dt.timedelta(days=days_ago)
    services.program_start(pump=pump, by=by, program=program_input(), effective_from=start)
    services.refill_record(
        pump=pump, by=by, data=refill_input(performed_at=start, residual="3", added="20")
    )
    pump.refresh_from_db()
    return pump


def _local(moment: dt.datetime, clinic) -> str:
    return timezone.localtime(moment, clinic.tz).strftime("%Y-%m-%dT%H:%M")


def _snapshot(instance):
    def take():
        fresh = type(instance).objects.get(pk=instance.pk)
        return model_to_dict(fresh)

    return take


# --------------------------------------------------------------------------- patients

PATIENT_FIELDS = {
    "mrn": "text",
    "given_name": "text",
    "family_name": "text",
    "date_of_birth": "date",
    "spasticity_origin": "text",
    "phone": "number",
    "email": "text",
    "preferred_channel": "text",
    "consent_sms": "text",
    "consent_email": "text",
    "timezone": "text",
    "sci_t6_or_above": "text",
    "transport_barrier": "text",
    "oral_baclofen_bridge": "text",
    "notes": "text",
    "clinic": "id",
}


def _patient_data() -> dict:
    return {
        "mrn": unique("H"),
        "given_name": "Hostile",
        "family_name": "Input",
        "date_of_birth": "1970-01-01",
        "spasticity_origin": "spinal",
        "phone": "(617) 555-0142",
        "email": "hostile@example.org",
        "preferred_channel": "sms",
        "consent_sms": "on",
        "timezone": "",
        "notes": "",
    }


@HOSTILE_SETTINGS
@given(bad=overrides(PATIENT_FIELDS))
def test_new_patient_form(doctor, clinic, bad):
    post(doctor, reverse("dashboard:patient_create"), {**_patient_data(), **bad})


@HOSTILE_SETTINGS
@given(bad=overrides(PATIENT_FIELDS))
def test_edit_patient_form(doctor, clinic, bad):
    pump = PumpFactory(patient=PatientFactory(clinic=clinic))
    patient = pump.patient
    services.forecast_refresh(pump=pump)
    url = reverse("dashboard:patient_edit", args=[patient.pk])
    post(doctor, url, {**_patient_data(), **bad}, unchanged=_snapshot(patient))


CAREGIVER_FIELDS = {
    "name": "text",
    "relationship": "text",
    "phone": "number",
    "email": "text",
    "preferred_channel": "text",
    "consent_sms": "text",
    "consent_email": "text",
    "receives_reminders": "text",
    "timezone": "text",
}


@HOSTILE_SETTINGS
@given(bad=overrides(CAREGIVER_FIELDS))
def test_caregiver_form(doctor, patient, bad):
    data = {
        "name": "Carer",
        "relationship": "son",
        "phone": "617 555 0177",
        "preferred_channel": "sms",
        "consent_sms": "on",
        "receives_reminders": "on",
    }
    post(doctor, reverse("dashboard:caregiver_create", args=[patient.pk]), {**data, **bad})


# --------------------------------------------------------------------------- pumps

PUMP_FIELDS = {
    "model": "id",
    "serial_number": "text",
    "implanted_on": "date",
    "alarm_volume_ml": "number",
}


def _pump_data() -> dict:
    return {
        "model": pump_model("8637-20").pk,
        "serial_number": unique("SN"),
        "implanted_on": (timezone.localdate() - dt.timedelta(days=30)).isoformat(),
        "alarm_volume_ml": "",
    }


@HOSTILE_SETTINGS
@given(bad=overrides(PUMP_FIELDS), replace=st.booleans())
def test_pump_implant_form(doctor, clinic, bad, replace):
    patient = PatientFactory(clinic=clinic)
    if replace:
        old = PumpFactory(patient=patient)
        services.forecast_refresh(pump=old)
        url = reverse("dashboard:pump_replace", args=[patient.pk])
    else:
        url = reverse("dashboard:pump_create", args=[patient.pk])
    post(doctor, url, {**_pump_data(), **bad})


@HOSTILE_SETTINGS
@given(
    bad=overrides({"alarm_volume_ml": "number", "eri_on": "date", "planned_replacement_on": "date"})
)
def test_pump_edit_form(doctor, clinic, physician, bad):
    pump = _filled(clinic, physician)
    data = {"alarm_volume_ml": "3.0", "eri_on": "", "planned_replacement_on": ""}
    url = reverse("dashboard:pump_edit", args=[pump.pk])
    post(doctor, url, {**data, **bad}, unchanged=_snapshot(pump))


@HOSTILE_SETTINGS
@given(bad=overrides({"kind": "text", "reported_at": "datetime", "details": "text"}))
def test_pump_report_form(doctor, clinic, physician, bad):
    pump = _filled(clinic, physician)
    data = {
        "kind": ReportKind.CRITICAL_ALARM,
        "reported_at": _local(timezone.now(), clinic),
        "details": "Heard",
    }
    url = reverse("dashboard:report_create", args=[pump.patient_id])
    post(doctor, url, {**data, **bad})


@HOSTILE_SETTINGS
@given(resolution=VALUES)
def test_pump_report_resolve_form(doctor, clinic, physician, resolution):
    pump = _filled(clinic, physician)
    report = services.pump_report_record(pump=pump, by=physician, kind=ReportKind.CRITICAL_ALARM)
    url = reverse("dashboard:report_resolve", args=[report.pk])
    post(doctor, url, {"resolution": resolution}, unchanged=_snapshot(report))


# --------------------------------------------------------------------------- drug program

PROGRAM_FIELDS = {
    "effective_from": "datetime",
    "concentration": "number",
    "concentration_unit": "text",
    "mode": "text",
    "basal_daily_dose_mcg": "number",
    "bolus_dose_mcg": "number",
    "boluses_per_day": "number",
    "ptm_expected_daily_mcg": "number",
    "reason": "text",
    "override_reason": "text",
}
# The flex-step rows (a formset): its row counts, then two rows of steps.
STEP_FIELDS = {
    "steps-TOTAL_FORMS": "number",
    "steps-INITIAL_FORMS": "number",
    "steps-MIN_NUM_FORMS": "number",
    "steps-MAX_NUM_FORMS": "number",
    **{
        f"steps-{row}-{name}": kind
        for row in (0, 1)
        for name, kind in (
            ("starts_at", "time"),
            ("hours", "number"),
            ("rate_mcg_per_hour", "number"),
        )
    },
}


def _program_data(clinic, mode: str = "simple") -> dict:
    data = {
        "effective_from": _local(timezone.now(), clinic),
        "concentration": "2000",
        "concentration_unit": "mcg/mL",
        "mode": mode,
        "basal_daily_dose_mcg": "420",
        "bolus_dose_mcg": "0",
        "boluses_per_day": "0",
        "ptm_expected_daily_mcg": "0",
        "reason": "Tone review",
        "override_reason": "",
    }
    if mode == "flex":
        # 12 h at 16 mcg/h and 12 h at 19 mcg/h: 420 mcg/day, as the simple baseline.
        data.update(
            {
                "basal_daily_dose_mcg": "",
                "steps-TOTAL_FORMS": "3",
                "steps-INITIAL_FORMS": "0",
                "steps-MIN_NUM_FORMS": "0",
                "steps-MAX_NUM_FORMS": "13",
                "steps-0-starts_at": "00:00",
                "steps-0-hours": "12",
                "steps-0-rate_mcg_per_hour": "16",
                "steps-1-starts_at": "12:00",
                "steps-1-hours": "12",
                "steps-1-rate_mcg_per_hour": "19",
                "steps-2-starts_at": "",
                "steps-2-hours": "",
                "steps-2-rate_mcg_per_hour": "",
            }
        )
    return data


@HOSTILE_SETTINGS
@given(bad=overrides({**PROGRAM_FIELDS, **STEP_FIELDS}))
def test_drug_program_form(doctor, clinic, physician, bad):
    pump = _filled(clinic, physician)
    url = reverse("dashboard:program_change", args=[pump.patient_id])
    post(doctor, url, {**_program_data(clinic), **bad})


@HOSTILE_SETTINGS
@given(bad=overrides({**STEP_FIELDS, "mode": "text", "basal_daily_dose_mcg": "number"}))
def test_flex_drug_program_form(doctor, clinic, physician, bad):
    pump = _filled(clinic, physician)
    url = reverse("dashboard:program_change", args=[pump.patient_id])
    post(doctor, url, {**_program_data(clinic, "flex"), **bad})


# --------------------------------------------------------------------------- refill

REFILL_FIELDS = {
    "performed_at": "datetime",
    "programmer_expected_residual_ml": "number",
    "actual_residual_ml": "number",
    "residual_left_ml": "number",
    "residual_appearance": "text",
    "product": "text",
    "concentration": "number",
    "concentration_unit": "text",
    "lot_number": "text",
    "lot_expiry": "date",
    "volume_added_ml": "number",
    "resulting_volume_ml": "number",
    "new_daily_dose_mcg": "number",
    "program_change_reason": "text",
    "custom_concentration_reason": "text",
    "second_clinician": "id",
    "bridge_bolus_mcg": "number",
    "bridge_bolus_ml": "number",
    "bridge_not_needed_reason": "text",
    "needle_placement": "text",
    "needle_placement_confirmed": "text",
    "printed_alarm_date": "date",
    "discrepancy_assessment": "text",
    "discrepancy_action": "text",
    "symptom_screen_done": "text",
    "second_checker": "id",
    "notes": "text",
    "override_reason": "text",
    "appointment": "id",
}


def _refill_data(clinic) -> dict:
    """A correct refill of a 30-day-old fill: 6 mL used, 14 mL left."""
    return {
        "performed_at": _local(timezone.now() - dt.timedelta(minutes=2), clinic),
        "actual_residual_ml": "14",
        "residual_left_ml": "0",
        "product": "Gablofen",
        "concentration": "2000",
        "concentration_unit": "mcg/mL",
        "lot_number": "LOT-42",
        "lot_expiry": (timezone.localdate() + dt.timedelta(days=365)).isoformat(),
        "volume_added_ml": "20",
        "resulting_volume_ml": "20",
        "needle_placement": "template_stop",
        "needle_placement_confirmed": "on",
        "symptom_screen_done": "on",
    }


@HOSTILE_SETTINGS
@given(bad=overrides(REFILL_FIELDS), preview=st.booleans())
def test_refill_form_and_preview(doctor, clinic, physician, bad, preview):
    pump = _filled(clinic, physician)
    name = "dashboard:refill_preview" if preview else "dashboard:refill_create"
    post(doctor, reverse(name, args=[pump.patient_id]), {**_refill_data(clinic), **bad})


# --------------------------------------------------------------------------- appointments

APPOINTMENT_FIELDS = {
    "kind": "text",
    "day": "date",
    "time": "time",
    "duration_minutes": "number",
    "notes": "text",
    "override_reason": "text",
}


def _booking(clinic, days: int) -> dict:
    when = timezone.localtime(timezone.now() + dt.timedelta(days=days), clinic.tz)
    return {
        "kind": "refill",
        "day": when.date().isoformat(),
        "time": "10:00",
        "duration_minutes": "30",
        "notes": "",
        "override_reason": "",
    }


@HOSTILE_SETTINGS
@given(bad=overrides(APPOINTMENT_FIELDS))
def test_appointment_form(doctor, clinic, physician, bad):
    pump = _filled(clinic, physician)
    url = reverse("dashboard:appointment_create", args=[pump.patient_id])
    post(doctor, url, {**_booking(clinic, 10), **bad})


@HOSTILE_SETTINGS
@given(bad=overrides({"day": "date", "time": "time", "override_reason": "text"}), cancel=VALUES)
def test_appointment_reschedule_and_cancel_forms(doctor, clinic, physician, bad, cancel):
    pump = _filled(clinic, physician)
    # Every example books the same slot in one database: a double booking needs a reason.
    appointment = services.appointment_book(
        pump=pump,
        by=physician,
        scheduled_start=timezone.now() + dt.timedelta(days=5),
        override_reason="Another example of the property booked this slot",
    )
    url = reverse("dashboard:appointment_reschedule", args=[appointment.pk])
    post(doctor, url, {**_booking(clinic, 8), **bad}, unchanged=None)
    url = reverse("dashboard:appointment_cancel", args=[appointment.pk])
    post(doctor, url, {"reason": cancel})


# --------------------------------------------------------------------------- fixed cases


def test_the_valid_baselines_save(doctor, clinic, physician):
    """The hostile tests start from valid posts, so one bad field reaches the deep code."""
    patient_url = reverse("dashboard:patient_create")
    assert post(doctor, patient_url, _patient_data()).status_code == 302
    patient = PatientFactory(clinic=clinic)
    pump_url = reverse("dashboard:pump_create", args=[patient.pk])
    assert post(doctor, pump_url, _pump_data()).status_code == 302
    pump = _filled(clinic, physician)
    pid = pump.patient_id
    refill_url = reverse("dashboard:refill_create", args=[pid])
    assert post(doctor, refill_url, _refill_data(clinic)).status_code == 302
    booking_url = reverse("dashboard:appointment_create", args=[pid])
    assert post(doctor, booking_url, _booking(clinic, 10)).status_code == 302
    program_url = reverse("dashboard:program_change", args=[pid])
    assert post(doctor, program_url, _program_data(clinic, "flex")).status_code == 302
    assert FlexStep.objects.filter(program__pump=pump).count() == 2
    report_url = reverse("dashboard:report_create", args=[pid])
    report = {"kind": ReportKind.CRITICAL_ALARM, "reported_at": _local(timezone.now(), clinic)}
    assert post(doctor, report_url, report).status_code == 302


def test_payloads_are_saved_as_text_and_shown_escaped(doctor, clinic):
    data = {**_patient_data(), "given_name": SCRIPT, "family_name": IMG, "notes": f"{SQL}\n{SVG}"}
    response = post(doctor, reverse("dashboard:patient_create"), data)
    assert response.status_code == 302
    patient = Patient.objects.get(mrn=data["mrn"])
    assert patient.given_name == SCRIPT  # stored as typed, not "sanitised"
    assert patient.notes.startswith(SQL)
    html = doctor.get(response.url).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    board = doctor.get(reverse("dashboard:board") + "?q=" + SCRIPT).content.decode()
    assert_escaped(board)


@pytest.mark.parametrize("value", ["a\x00b", "\x00", "Ada\x00"])
def test_nul_bytes_are_a_form_error(doctor, clinic, value):
    """PostgreSQL refuses NUL in text: the form must say so before the database does."""
    data = {**_patient_data(), "given_name": value, "notes": value, "phone": "617\x00555"}
    response = post(doctor, reverse("dashboard:patient_create"), data)
    assert response.status_code == 200
    assert "Null characters are not allowed." in response.content.decode()


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e309", "sNaN", "9" * 5000])
def test_non_finite_and_huge_numbers_are_a_form_error(doctor, clinic, physician, value):
    pump = _filled(clinic, physician)
    data = {**_refill_data(clinic), "actual_residual_ml": value, "bridge_bolus_mcg": value}
    response = post(doctor, reverse("dashboard:refill_create", args=[pump.patient_id]), data)
    assert response.status_code == 200
    url = reverse("dashboard:pump_edit", args=[pump.pk])
    assert post(doctor, url, {"alarm_volume_ml": value}).status_code == 200


@pytest.mark.parametrize("when", ["9999-12-31T23:59", "0001-01-01T00:00"])
def test_dates_at_the_ends_of_the_calendar_are_a_form_error(doctor, clinic, physician, when):
    """Moved to UTC or pushed forward by the forecast, these overflowed into a 500."""
    pump = _filled(clinic, physician)
    pid = pump.patient_id
    refill = {**_refill_data(clinic), "performed_at": when}
    html = post(doctor, reverse("dashboard:refill_create", args=[pid]), refill).content.decode()
    assert "Check the year" in html
    preview = post(doctor, reverse("dashboard:refill_preview", args=[pid]), refill)
    assert "Still to complete" in preview.content.decode()
    program = {"effective_from": when, "concentration": "2000", "mode": "simple"}
    html = post(doctor, reverse("dashboard:program_change", args=[pid]), program).content.decode()
    assert "Check the year" in html
    booking = {**_booking(clinic, 10), "day": when[:10], "time": when[11:]}
    url = reverse("dashboard:appointment_create", args=[pid])
    assert "Check the year" in post(doctor, url, booking).content.decode()


# --------------------------------------------------------------------------- query strings

QUERY_PAGES = {
    "dashboard:board": ["q", "tier", "group", "pump_model", "booked", "page"],
    "dashboard:calendar": ["clinic", "day", "view"],
    "dashboard:alerts": ["show"],
    "dashboard:appointment_create": ["day", "time", "kind"],
    "dashboard:refill_create": ["appointment"],
    "reports:index": ["clinic"],
    "reports:audit": [
        "clinic",
        "since",
        "until",
        "format",
        "mrn",
        "patient",
        "user",
        "kind",
        "page",
    ],
    "reports:advisory": ["clinic"],
}


QUERY_VALUES = st.one_of(DATES, IDS, VALUES)


@HOSTILE_SETTINGS
@given(data=st.data())
def test_query_strings(doctor, clinic, filled_pump, data):
    """Filters, dates and ids in the address bar: a page or a 4xx, never a 500."""
    for page, names in QUERY_PAGES.items():
        query = data.draw(
            st.dictionaries(st.sampled_from(names), QUERY_VALUES, min_size=1, max_size=3),
            label=page,
        )
        patient_page = page.startswith(("dashboard:appointment", "dashboard:refill"))
        args = [filled_pump.patient_id] if patient_page else []
        response = doctor.get(reverse(page, args=args), query)
        assert response.status_code in ALLOWED, (page, query, response.status_code)
        assert_escaped(response.content.decode("utf-8", errors="replace"))


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "20255-01-01", "\x00"])
def test_calendar_far_dates_show_this_week(doctor, clinic, day):
    """A week near year 9999 overflowed into a 500; now the current week is shown."""
    for view in ("week", "day"):
        response = doctor.get(reverse("dashboard:calendar"), {"day": day, "view": view})
        assert response.status_code == 200
