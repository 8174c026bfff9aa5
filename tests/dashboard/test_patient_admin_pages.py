"""Registering and editing patients, caregivers, pumps and pump reports from the staff pages."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from dashboard.selectors import clinic_today
from patients.models import Caregiver, Patient, Pump, PumpStatus
from refills import services
from refills.models import PumpForecast, PumpReport, ReportKind
from reminders.models import Notification, NotificationStatus
from tests.factories import (
    CaregiverFactory,
    ClinicFactory,
    PatientFactory,
    PumpFactory,
    pump_model,
    staff,
)

CRITICAL = 4


def _patient_data(**overrides):
    data = {
        "mrn": "MRN-4242",
        "given_name": "Ines",
        "family_name": "Newpatient",
        "date_of_birth": "1975-03-02",
        "spasticity_origin": "spinal",
        "phone": "(617) 555-0142",
        "email": "ines@example.org",
        "preferred_channel": "sms",
        "consent_sms": "on",
        "timezone": "",
        "notes": "",
    }
    data.update(overrides)
    return data


def _field_html(html: str, name: str) -> str:
    """The markup crispy draws for one input, with its errors."""
    return html.split(f'id="div_id_{name}"')[1].split('id="div_id_')[0]


def _tier(pump) -> int:
    return PumpForecast.objects.get(pump=pump).risk_tier


@pytest.fixture
def report(filled_pump, nurse):
    return services.pump_report_record(
        pump=filled_pump, by=nurse, kind=ReportKind.LOW_RESERVOIR_ALARM, details="Beeping"
    )


@pytest.fixture
def caregiver(patient):
    return CaregiverFactory(patient=patient)


def _urls(patient, pump, caregiver, report):
    """Every new page, by (method, url, action it needs)."""
    p = patient.pk
    return [
        ("get", reverse("dashboard:patient_edit", args=[p]), "edit_patient"),
        ("get", reverse("dashboard:caregiver_create", args=[p]), "edit_patient"),
        ("get", reverse("dashboard:caregiver_edit", args=[caregiver.pk]), "edit_patient"),
        ("get", reverse("dashboard:caregiver_remove", args=[caregiver.pk]), "edit_patient"),
        ("get", reverse("dashboard:pump_create", args=[p]), "manage_pump"),
        ("get", reverse("dashboard:pump_replace", args=[p]), "manage_pump"),
        ("get", reverse("dashboard:pump_edit", args=[pump.pk]), "manage_pump"),
        ("get", reverse("dashboard:report_create", args=[p]), "record_report"),
        ("get", reverse("dashboard:report_resolve", args=[report.pk]), "record_report"),
    ]


# --------------------------------------------------------------------------- access


def test_every_page_needs_login(client, filled_pump, caregiver, report):
    urls = [reverse("dashboard:patient_create")] + [
        url for _, url, _ in _urls(filled_pump.patient, filled_pump, caregiver, report)
    ]
    for url in urls:
        for response in (client.get(url), client.post(url, {})):
            assert response.status_code == 302, url
            assert response.url.startswith(reverse("accounts:login")), url
    assert Caregiver.objects.filter(pk=caregiver.pk).exists()


def test_another_clinics_rows_are_404(as_user, other_clinic, filled_pump, caregiver, report):
    outsider = as_user(staff(other_clinic, Role.PHYSICIAN))
    for _, url, _ in _urls(filled_pump.patient, filled_pump, caregiver, report):
        assert outsider.get(url).status_code == 404, url
        assert outsider.post(url, {"resolution": "x", "name": "x"}).status_code == 404, url
    assert Caregiver.objects.filter(pk=caregiver.pk).exists()
    report.refresh_from_db()
    assert report.resolved_at is None
    assert filled_pump.patient.pumps.count() == 1


@pytest.mark.parametrize("role", [r for r, _ in Role.choices])
def test_pages_follow_the_permission_table(as_user, clinic, filled_pump, caregiver, report, role):
    from accounts.access import PERMISSIONS

    client = as_user(staff(clinic, role))
    for _, url, action in _urls(filled_pump.patient, filled_pump, caregiver, report):
        expected = 200 if role in PERMISSIONS[action] else 403
        assert client.get(url).status_code == expected, (role, url)
    create = client.get(reverse("dashboard:patient_create"))
    assert create.status_code == (200 if role in PERMISSIONS["edit_patient"] else 403)


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.MANAGER])
def test_auditor_and_manager_cannot_edit(as_user, clinic, patient, role):
    client = as_user(staff(clinic, role))
    url = reverse("dashboard:patient_edit", args=[patient.pk])
    assert client.post(url, _patient_data(mrn=patient.mrn)).status_code == 403
    assert client.post(reverse("dashboard:patient_create"), _patient_data()).status_code == 403
    patient.refresh_from_db()
    assert patient.given_name != "Ines"
    assert Patient.objects.count() == 1
    page = client.get(reverse("dashboard:patient", args=[patient.pk])).content.decode()
    assert "Edit patient" not in page
    assert "New patient" not in page


def test_scheduler_cannot_record_a_report(as_user, clinic, filled_pump):
    client = as_user(staff(clinic, Role.SCHEDULER))
    url = reverse("dashboard:report_create", args=[filled_pump.patient_id])
    data = {"kind": ReportKind.CRITICAL_ALARM, "reported_at": "2025-01-01T10:00"}
    assert client.post(url, data).status_code == 403
    assert not PumpReport.objects.exists()
    page = client.get(reverse("dashboard:patient", args=[filled_pump.patient_id]))
    assert "Report alarm or symptoms" not in page.content.decode()


def test_scheduler_may_edit_a_patient_but_not_a_pump(as_user, clinic, filled_pump):
    client = as_user(staff(clinic, Role.SCHEDULER))
    assert (
        client.get(reverse("dashboard:patient_edit", args=[filled_pump.patient_id])).status_code
        == 200
    )
    url = reverse("dashboard:pump_edit", args=[filled_pump.pk])
    assert client.post(url, {"alarm_volume_ml": "4"}).status_code == 403
    filled_pump.refresh_from_db()
    assert filled_pump.alarm_volume_ml == Decimal("2.0")


# --------------------------------------------------------------------------- patients


def test_new_patient_is_registered_with_an_e164_phone(nurse_client, clinic):
    response = nurse_client.post(reverse("dashboard:patient_create"), _patient_data())
    patient = Patient.objects.get(mrn="MRN-4242")
    assert response.status_code == 302
    # Issue 12: after "New patient" the flow continues to "Record the implanted pump".
    assert response.url == reverse("dashboard:pump_create", args=[patient.pk])
    assert patient.clinic == clinic
    assert patient.phone == "+16175550142"
    page = nurse_client.get(response.url).content.decode()
    assert "registered" in page
    assert "Record the implanted pump now" in page


def test_new_patient_nav_link_and_board_button(nurse_client):
    html = nurse_client.get(reverse("dashboard:board")).content.decode()
    assert html.count(reverse("dashboard:patient_create")) >= 2


def test_new_patient_errors_are_shown_in_place(nurse_client, patient):
    data = _patient_data(
        mrn=patient.mrn,
        phone="555",
        date_of_birth=(timezone.localdate() + dt.timedelta(days=3)).isoformat(),
        email="",
        consent_email="on",
    )
    response = nurse_client.post(reverse("dashboard:patient_create"), data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "has MRN" in _field_html(html, "mrn")
    assert "phone number" in _field_html(html, "phone")
    assert "not registered" in html
    assert Patient.objects.count() == 1


def test_model_errors_come_back_under_their_input(nurse_client):
    """The service's full_clean errors (future birth, consent without email) land in place."""
    data = _patient_data(
        date_of_birth=(timezone.localdate() + dt.timedelta(days=3)).isoformat(),
        email="",
        consent_email="on",
    )
    html = nurse_client.post(reverse("dashboard:patient_create"), data).content.decode()
    assert "cannot be in the future" in _field_html(html, "date_of_birth")
    assert "Email consent needs an email address" in _field_html(html, "email")
    assert not Patient.objects.exists()


def test_clinic_is_chosen_when_the_user_works_at_several(as_user, clinic):
    second = ClinicFactory(name="Second ITB Clinic")
    user = staff(clinic, Role.NURSE)
    from accounts.models import Membership

    Membership.objects.create(user=user, clinic=second, role=Role.NURSE)
    third = ClinicFactory(name="Audited clinic")
    Membership.objects.create(user=user, clinic=third, role=Role.AUDITOR)
    client = as_user(user)
    html = client.get(reverse("dashboard:patient_create")).content.decode()
    assert 'name="clinic"' in html
    choices = _field_html(html, "clinic")
    assert "Second ITB Clinic" in choices
    # An auditor there may not register (the user menu names every clinic and role).
    assert "Audited clinic" not in choices
    response = client.post(reverse("dashboard:patient_create"), _patient_data(clinic=third.pk))
    assert "Select a valid choice" in _field_html(response.content.decode(), "clinic")
    response = client.post(reverse("dashboard:patient_create"), _patient_data(clinic=second.pk))
    assert response.status_code == 302
    assert Patient.objects.get().clinic == second


def test_edit_patient_updates_every_field_and_re_tiers(nurse_client, filled_pump):
    patient = filled_pump.patient
    assert _tier(filled_pump) == 1
    data = _patient_data(
        mrn=patient.mrn,
        phone="617-555-0199",
        timezone="America/Chicago",
        sci_t6_or_above="on",
        cognitive_impairment="on",
        caregiver_managed="on",
        oral_baclofen_bridge="on",
        spasticity_origin="cerebral",
        notes="Lives alone",
    )
    response = nurse_client.post(reverse("dashboard:patient_edit", args=[patient.pk]), data)
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.phone == "+16175550199"
    assert patient.sci_t6_or_above and patient.oral_baclofen_bridge
    assert patient.spasticity_origin == "cerebral"
    assert str(patient.timezone) == "America/Chicago"
    assert patient.notes == "Lives alone"
    assert _tier(filled_pump) >= 2  # risk factors re-tier the pump at once
    page = nurse_client.get(response.url).content.decode()
    assert "Patient details saved" in page
    assert "Spinal cord injury at T6 or above" in page


def test_edit_patient_form_is_prefilled(nurse_client, patient):
    html = nurse_client.get(reverse("dashboard:patient_edit", args=[patient.pk])).content.decode()
    assert f'value="{patient.mrn}"' in html
    assert 'value="1980-05-17"' in html
    assert 'name="clinic"' not in html
    for name in ("phone", "sci_t6_or_above", "oral_baclofen_bridge", "timezone", "notes"):
        assert f'for="id_{name}"' in html, name  # a label on every input


def test_invalid_edit_saves_nothing(nurse_client, patient):
    data = _patient_data(mrn=patient.mrn, given_name="", phone="", preferred_channel="sms")
    html = nurse_client.post(
        reverse("dashboard:patient_edit", args=[patient.pk]), data
    ).content.decode()
    assert "This field is required" in _field_html(html, "given_name")
    assert "need a mobile phone number" in _field_html(html, "phone")
    fresh = Patient.objects.get(pk=patient.pk)
    assert fresh.given_name == patient.given_name
    assert fresh.phone == patient.phone


# --------------------------------------------------------------------------- caregivers


def _caregiver_data(**overrides):
    data = {
        "name": "Carla Carer",
        "relationship": "daughter",
        "phone": "(617) 555-0177",
        "email": "",
        "preferred_channel": "sms",
        "consent_sms": "on",
        "receives_reminders": "on",
        "timezone": "",
    }
    data.update(overrides)
    return data


def test_caregiver_add_edit_and_remove(nurse_client, patient):
    url = reverse("dashboard:caregiver_create", args=[patient.pk])
    response = nurse_client.post(url, _caregiver_data())
    assert response.status_code == 302
    caregiver = patient.caregivers.get()
    assert caregiver.phone == "+16175550177"

    edit = reverse("dashboard:caregiver_edit", args=[caregiver.pk])
    html = nurse_client.get(edit).content.decode()
    assert 'value="Carla Carer"' in html
    response = nurse_client.post(edit, _caregiver_data(receives_reminders=""))
    assert response.status_code == 302
    caregiver.refresh_from_db()
    assert not caregiver.receives_reminders
    page = nurse_client.get(reverse("dashboard:patient", args=[patient.pk])).content.decode()
    assert "No reminders" in page
    assert edit in page

    remove = reverse("dashboard:caregiver_remove", args=[caregiver.pk])
    assert "Remove Carla Carer?" in nurse_client.get(remove).content.decode()
    assert Caregiver.objects.filter(pk=caregiver.pk).exists()  # GET changes nothing
    response = nurse_client.post(remove, follow=True)
    assert "Carla Carer removed" in response.content.decode()
    assert not Caregiver.objects.filter(pk=caregiver.pk).exists()


def test_caregiver_errors_in_place(nurse_client, patient):
    url = reverse("dashboard:caregiver_create", args=[patient.pk])
    data = _caregiver_data(phone="", email="", consent_sms="", preferred_channel="email")
    html = nurse_client.post(url, data).content.decode()
    assert "Email reminders need an email address" in _field_html(html, "email")
    data = _caregiver_data(phone="12", relationship="")
    html = nurse_client.post(url, data).content.decode()
    assert "phone number" in _field_html(html, "phone")
    assert "This field is required" in _field_html(html, "relationship")
    assert not Caregiver.objects.exists()


def test_removing_a_caregiver_cancels_their_pending_reminders(nurse_client, patient, caregiver):
    pending = Notification.objects.create(
        key="test-caregiver-reminder",
        kind="reminder",
        clinic=patient.clinic,
        patient=patient,
        caregiver=caregiver,
        channel="sms",
        to_address=caregiver.phone,
        body="Reminder",
    )
    nurse_client.post(reverse("dashboard:caregiver_remove", args=[caregiver.pk]))
    pending.refresh_from_db()
    # Not re-routed to the patient: a caregiver-less row would be addressed to them.
    assert pending.status == NotificationStatus.CANCELLED
    assert pending.caregiver_id is None


# --------------------------------------------------------------------------- pumps


def _pump_data(**overrides):
    data = {
        "model": pump_model("8637-40").pk,
        "serial_number": "NGP-NEW-1",
        "implanted_on": (timezone.localdate() - dt.timedelta(days=10)).isoformat(),
        "alarm_volume_ml": "",
    }
    data.update(overrides)
    return data


def test_record_implanted_pump_defaults_the_alarm_volume(nurse_client, patient):
    url = reverse("dashboard:pump_create", args=[patient.pk])
    html = nurse_client.get(url).content.decode()
    assert "alarm default 2 mL" in html
    response = nurse_client.post(url, _pump_data())
    assert response.status_code == 302
    pump = patient.pumps.get()
    assert pump.alarm_volume_ml == Decimal("2.0")
    assert pump.model.model_number == "8637-40"
    assert PumpForecast.objects.filter(pump=pump).exists()


def test_alarm_volume_outside_2_to_5_ml_is_refused_in_place(nurse_client, patient):
    url = reverse("dashboard:pump_create", args=[patient.pk])
    for value in ("1.5", "5.5", "-1", "abc"):
        html = nurse_client.post(url, _pump_data(alarm_volume_ml=value)).content.decode()
        assert "invalid-feedback" in _field_html(html, "alarm_volume_ml"), value
    assert not Pump.objects.exists()


def test_second_active_pump_is_refused_unless_replacing(nurse_client, filled_pump):
    patient = filled_pump.patient
    url = reverse("dashboard:pump_create", args=[patient.pk])
    assert "replace the pump" in nurse_client.get(url).content.decode()
    response = nurse_client.post(url, _pump_data())
    assert response.status_code == 200
    assert "already has an active pump" in response.content.decode()
    assert patient.pumps.count() == 1

    replace = reverse("dashboard:pump_replace", args=[patient.pk])
    today = clinic_today(patient.clinic)
    response = nurse_client.post(replace, _pump_data(implanted_on=today.isoformat()))
    assert response.status_code == 302
    filled_pump.refresh_from_db()
    assert filled_pump.status == PumpStatus.EXPLANTED
    assert filled_pump.explanted_on == today
    new = patient.pumps.get(status=PumpStatus.ACTIVE)
    assert new.serial_number == "NGP-NEW-1"
    assert PumpForecast.objects.filter(pump=new).exists()


def test_replacement_before_the_current_implant_is_refused(nurse_client, filled_pump):
    replace = reverse("dashboard:pump_replace", args=[filled_pump.patient_id])
    early = (filled_pump.implanted_on - dt.timedelta(days=1)).isoformat()
    html = nurse_client.post(replace, _pump_data(implanted_on=early)).content.decode()
    assert "cannot be before the current pump" in _field_html(html, "implanted_on")
    filled_pump.refresh_from_db()
    assert filled_pump.status == PumpStatus.ACTIVE


def test_duplicate_serial_is_refused_in_place(nurse_client, patient, clinic):
    # Within the clinic (security finding: another clinic's serial is neither refused nor
    # disclosed, tests/dashboard/test_pump_serial_per_clinic.py).
    same_clinic = PumpFactory(patient=PatientFactory(clinic=clinic))
    url = reverse("dashboard:pump_create", args=[patient.pk])
    data = _pump_data(model=same_clinic.model_id, serial_number=same_clinic.serial_number)
    html = nurse_client.post(url, data).content.decode()
    assert "already recorded for a patient of this clinic" in _field_html(html, "serial_number")
    assert not patient.pumps.exists()


def test_service_errors_for_an_expired_pump_are_shown_in_place(nurse_client, patient):
    """A SynchroMed implanted over 7 years ago is past its shut-down: the model says so."""
    url = reverse("dashboard:pump_create", args=[patient.pk])
    old = (timezone.localdate() - dt.timedelta(days=8 * 365)).isoformat()
    html = nurse_client.post(url, _pump_data(implanted_on=old)).content.decode()
    assert "automatic shut-down" in _field_html(html, "implanted_on")
    assert not Pump.objects.exists()


def test_edit_pump_changes_alarm_eri_and_replacement(nurse_client, filled_pump):
    url = reverse("dashboard:pump_edit", args=[filled_pump.pk])
    planned = timezone.localdate() + dt.timedelta(days=20)
    data = {
        "alarm_volume_ml": "4.0",
        "eri_on": (timezone.localdate() - dt.timedelta(days=5)).isoformat(),
        "planned_replacement_on": planned.isoformat(),
    }
    response = nurse_client.post(url, data)
    assert response.status_code == 302
    filled_pump.refresh_from_db()
    assert filled_pump.alarm_volume_ml == Decimal("4.0")
    assert filled_pump.planned_replacement_on == planned
    forecast = PumpForecast.objects.get(pump=filled_pump)
    assert forecast.refill_by <= planned


def test_edit_pump_errors_in_place(nurse_client, filled_pump):
    url = reverse("dashboard:pump_edit", args=[filled_pump.pk])
    before = (filled_pump.implanted_on - dt.timedelta(days=1)).isoformat()
    html = nurse_client.post(
        url, {"alarm_volume_ml": "9", "eri_on": before, "planned_replacement_on": "9999-12-31"}
    ).content.decode()
    assert "less than or equal to 5" in _field_html(html, "alarm_volume_ml")
    assert "before the implant date" in _field_html(html, "eri_on")
    assert "too far ahead" in _field_html(html, "planned_replacement_on")
    filled_pump.refresh_from_db()
    assert filled_pump.eri_on is None


def test_explanted_pump_cannot_be_edited(nurse_client, filled_pump):
    from patients.services import _pump_explant as pump_explant

    pump_explant(pump=filled_pump, explanted_on=timezone.localdate())
    response = nurse_client.post(
        reverse("dashboard:pump_edit", args=[filled_pump.pk]), {"alarm_volume_ml": "3"}
    )
    assert response.status_code == 302
    filled_pump.refresh_from_db()
    assert filled_pump.alarm_volume_ml == Decimal("2.0")


# --------------------------------------------------------------------------- reports


def _now_local(pump) -> str:
    now = timezone.localtime(timezone.now(), pump.patient.clinic.tz)
    return now.strftime("%Y-%m-%dT%H:%M")


def test_critical_alarm_report_makes_the_tier_critical_and_resolving_drops_it(
    nurse_client, filled_pump
):
    patient = filled_pump.patient
    assert _tier(filled_pump) < CRITICAL
    url = reverse("dashboard:report_create", args=[patient.pk])
    data = {
        "kind": ReportKind.CRITICAL_ALARM,
        "reported_at": _now_local(filled_pump),
        "details": "Two-tone alarm heard by the patient's son",
    }
    response = nurse_client.post(url, data, follow=True)
    html = response.content.decode()
    assert "now CRITICAL" in html
    assert _tier(filled_pump) == CRITICAL
    report = PumpReport.objects.get()
    # Shown prominently, above the forecast, with a way to resolve it.
    assert 'class="alert alert-danger open-reports"' in html
    assert html.index("open-reports") < html.index("forecast-heading")
    assert reverse("dashboard:report_resolve", args=[report.pk]) in html

    resolve = reverse("dashboard:report_resolve", args=[report.pk])
    html = nurse_client.post(resolve, {"resolution": ""}).content.decode()
    assert "This field is required" in _field_html(html, "resolution")
    assert _tier(filled_pump) == CRITICAL

    # A critical alarm needs its outcome, said in place; nothing is resolved without it.
    html = nurse_client.post(
        resolve, {"resolution": "Interrogated: catheter intact, refilled"}
    ).content.decode()
    assert "Choose the outcome" in _field_html(html, "outcome")
    assert _tier(filled_pump) == CRITICAL
    response = nurse_client.post(
        resolve,
        {"outcome": "refilled", "resolution": "Interrogated: catheter intact, refilled"},
        follow=True,
    )
    assert "Report resolved" in response.content.decode()
    report.refresh_from_db()
    assert report.resolved_at is not None
    assert _tier(filled_pump) < CRITICAL
    assert "open-reports" not in response.content.decode()
    assert "Interrogated: catheter intact" in response.content.decode()

    again = nurse_client.post(resolve, {"resolution": "twice"}, follow=True)
    assert "already resolved" in again.content.decode()


def test_report_errors_in_place(nurse_client, filled_pump):
    url = reverse("dashboard:report_create", args=[filled_pump.patient_id])
    future = timezone.localtime(
        timezone.now() + dt.timedelta(days=2), filled_pump.patient.clinic.tz
    )
    html = nurse_client.post(
        url, {"kind": "", "reported_at": future.strftime("%Y-%m-%dT%H:%M")}
    ).content.decode()
    assert "This field is required" in _field_html(html, "kind")
    assert "cannot be in the future" in _field_html(html, "reported_at")
    assert not PumpReport.objects.exists()


def test_report_needs_an_active_pump(nurse_client, patient):
    assert (
        nurse_client.get(reverse("dashboard:report_create", args=[patient.pk])).status_code == 404
    )


def test_withdrawal_symptoms_are_critical_too(nurse_client, filled_pump):
    url = reverse("dashboard:report_create", args=[filled_pump.patient_id])
    nurse_client.post(
        url, {"kind": ReportKind.WITHDRAWAL_SYMPTOMS, "reported_at": _now_local(filled_pump)}
    )
    assert _tier(filled_pump) == CRITICAL


# --------------------------------------------------------------------------- the pages


NEW_PAGES = [
    "patient_edit",
    "caregiver_create",
    "pump_create",
    "pump_replace",
    "report_create",
]


@pytest.mark.parametrize("name", NEW_PAGES)
def test_pages_have_no_inline_script_or_style_and_label_every_input(
    nurse_client, filled_pump, name
):
    html = nurse_client.get(reverse(f"dashboard:{name}", args=[filled_pump.patient_id]))
    html = html.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+\s*=", html)
    assert "style=" not in html
    ids = re.findall(r'<(?:input|select|textarea)[^>]*\bid="(id_[^"]+)"', html)
    assert ids
    for input_id in ids:
        assert f'for="{input_id}"' in html, input_id


def test_patient_page_links_to_every_action(nurse_client, filled_pump, caregiver, report):
    patient = filled_pump.patient
    html = nurse_client.get(reverse("dashboard:patient", args=[patient.pk])).content.decode()
    for _, url, _ in _urls(patient, filled_pump, caregiver, report):
        if "pumps/new" in url:
            continue  # shown only when there is no active pump
        assert url in html, url


def test_dates_are_shown_in_clinic_time_with_weekday(nurse_client, filled_pump, report):
    html = nurse_client.get(reverse("dashboard:report_resolve", args=[report.pk])).content.decode()
    local = timezone.localtime(report.reported_at, filled_pump.patient.clinic.tz)
    assert f"{local:%a} {local.day} {local:%b %Y}, {local:%H:%M}" in html


def test_another_patients_pump_form_cannot_touch_this_patient(as_user, clinic, filled_pump):
    """A pump of a patient in the same clinic is editable only through its own id."""
    other = PumpFactory(patient=PatientFactory(clinic=clinic))
    client = as_user(staff(clinic, Role.NURSE))
    url = reverse("dashboard:pump_edit", args=[other.pk])
    assert client.post(url, {"alarm_volume_ml": "3.0"}).status_code == 302
    other.refresh_from_db()
    filled_pump.refresh_from_db()
    assert other.alarm_volume_ml == Decimal("3.0")
    assert filled_pump.alarm_volume_ml == Decimal("2.0")


def test_pages_carry_the_security_headers_and_are_not_cached(
    nurse_client, filled_pump, caregiver, report
):
    from tests.security.test_headers import assert_security_headers

    urls = [reverse("dashboard:patient_create")] + [
        url for _, url, _ in _urls(filled_pump.patient, filled_pump, caregiver, report)
    ]
    for url in urls:
        response = nurse_client.get(url)
        assert response.status_code == 200, url
        assert_security_headers(response, url)
        assert response["Cache-Control"] == "no-store, private", url
