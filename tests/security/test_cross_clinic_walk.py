"""Every URL pattern, the admin's included, walked as each role of clinic A against clinic B's
ids, GET and POST: nothing of B is read or written (issue 9, "cross-clinic walk").

The URL list comes from the URLconf, so a new page is walked without editing this file; a
pattern with a parameter this file does not know how to fill fails the test."""

import datetime as dt
import re

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.tokens import default_token_generator
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Membership, Role, StaffInvitation
from patients.models import Caregiver, Clinic, ClinicClosure, Patient, Pump
from patients.services import clinic_closure_add
from refills import services
from refills.models import Appointment, DrugProgram, PumpReport, Refill, ReportKind
from reminders.models import Alert, MessageTemplate, Notification
from tests.conftest import program_input, refill_input
from tests.factories import CaregiverFactory, ClinicFactory, PatientFactory, PumpFactory, staff
from tests.security.test_access import all_routes

# Invented, distinctive values that only clinic B's rows hold.
SECRETS = ("Zebediah", "Farclinicson", "BSECRET7731", "Quillon Farcarer", "bclinic.manager")
PARAM = re.compile(r"<(?:(\w+):)?(\w+)>|\(\?P<(\w+)>[^)]*\)")


@pytest.fixture
def clinic_b(db):
    clinic = ClinicFactory(name="Clinic B far away")
    b_manager = staff(clinic, Role.MANAGER, username="bclinic.manager")
    patient = PatientFactory(
        clinic=clinic, given_name="Zebediah", family_name="Farclinicson", mrn="BSECRET7731"
    )
    caregiver = CaregiverFactory(patient=patient, name="Quillon Farcarer")
    pump = PumpFactory(patient=patient)
    start = timezone.now() - dt.timedelta(days=30)
    services.program_start(pump=pump, by=b_manager, program=program_input(), effective_from=start)
    refill = services.refill_record(
        pump=pump, by=b_manager, data=refill_input(performed_at=start, residual="2")
    )
    appointment = services.appointment_book(
        pump=pump, by=b_manager, scheduled_start=timezone.now() + dt.timedelta(days=7)
    )
    report = services.pump_report_record(pump=pump, by=b_manager, kind=ReportKind.CRITICAL_ALARM)
    alert = Alert.objects.filter(pump=pump).first() or Alert.objects.create(
        clinic=clinic, patient=patient, pump=pump, kind="running-out", severity=4
    )
    MessageTemplate.objects.create(
        clinic=clinic, kind="appointment-reminder", channel="sms", body="Hi {first_name}"
    )
    # B's manager's authenticator: the device pages must not touch another user's device.
    device = TOTPDevice.objects.create(user=b_manager, name="B manager phone", confirmed=True)
    # An offer of clinic B to someone else: no user of A may answer it.
    invitation = StaffInvitation.objects.create(
        clinic=clinic,
        email="bclinic.newcomer@example.org",
        role=Role.NURSE,
        invited_by=b_manager,
        created_at=timezone.now(),
        expires_at=timezone.now() + dt.timedelta(days=3),
    )
    closure = clinic_closure_add(
        clinic=clinic,
        by=b_manager,
        first_day=timezone.localdate(timezone=clinic.tz) + dt.timedelta(days=20),
        reason="Clinic B holiday",
    )
    return {
        "clinic": clinic,
        "closure": closure,
        "device": device,
        "invitation": invitation,
        "membership": Membership.objects.get(user=b_manager, clinic=clinic),
        "manager": b_manager,
        "patient": patient,
        "caregiver": caregiver,
        "pump": pump,
        "refill": refill,
        "appointment": appointment,
        "report": report,
        "alert": alert,
    }


def b_rows(clinic: Clinic) -> dict[str, list[dict]]:
    """Every row of clinic B that a request could change, as stored."""
    scoped = {
        Clinic: {"pk": clinic.pk},
        Membership: {"clinic": clinic},
        Patient: {"clinic": clinic},
        Caregiver: {"patient__clinic": clinic},
        Pump: {"patient__clinic": clinic},
        DrugProgram: {"pump__patient__clinic": clinic},
        Refill: {"pump__patient__clinic": clinic},
        Appointment: {"pump__patient__clinic": clinic},
        PumpReport: {"pump__patient__clinic": clinic},
        Alert: {"clinic": clinic},
        Notification: {"clinic": clinic},
        MessageTemplate: {"clinic": clinic},
        StaffInvitation: {"clinic": clinic},
        ClinicClosure: {"clinic": clinic},
    }
    rows = {
        m.__name__: list(m.objects.filter(**f).order_by("pk").values()) for m, f in scoped.items()
    }
    rows["devices"] = list(
        TOTPDevice.objects.filter(user__memberships__clinic=clinic).order_by("pk").values()
    )
    rows["users"] = list(
        clinic.memberships.values(
            "user__username", "user__email", "user__is_active", "user__password"
        )
    )
    return rows


def admin_model(name: str | None):
    """The model behind an admin URL name such as admin:patients_patient_change."""
    if not name or not name.startswith("admin:"):
        return None
    for model in admin.site._registry:
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}_"
        if name.startswith(prefix):
            return model
    return None


def b_row_of(model, b) -> object | None:
    for key in ("patient", "caregiver", "pump", "refill", "appointment", "report", "alert"):
        if isinstance(b[key], model):
            return b[key]
    if model is Clinic:
        return b["clinic"]
    if model is Membership:
        return b["clinic"].memberships.first()
    if model is MessageTemplate:
        return MessageTemplate.objects.filter(clinic=b["clinic"]).first()
    if model is apps.get_model("accounts", "User"):
        return b["manager"]
    for field in ("clinic", "patient__clinic", "pump__patient__clinic"):
        try:
            row = model.objects.filter(**{field: b["clinic"]}).first()
        except Exception:  # noqa: S112 - the model has no such path to a clinic
            continue
        if row is not None:
            return row
    return model.objects.order_by("pk").first()  # shared rows (drug products, pump models)


def fill(route: str, name: str | None, b) -> str:
    """The route with every parameter pointing at clinic B; fails on an unknown parameter."""
    model = admin_model(name)
    values = {
        "patient_id": b["patient"].pk,
        "refill_id": b["refill"].pk,
        "appointment_id": b["appointment"].pk,
        "caregiver_id": b["caregiver"].pk,
        "pump_id": b["pump"].pk,
        "report_id": b["report"].pk,
        "alert_id": b["alert"].pk,
        "clinic_id": b["clinic"].pk,
        "membership_id": b["membership"].pk,
        "closure_id": b["closure"].pk,
        "device_id": b["device"].pk,
        "invitation_id": b["invitation"].pk,
        "answer": "accept",
        "kind": "appointment-reminder",
        "channel": "sms",
        "app_label": "patients",
        "url": "patients/patient/",
        "content_type_id": ContentType.objects.get_for_model(Patient).pk,
        "uidb64": urlsafe_base64_encode(force_bytes(b["manager"].pk)),
        "token": default_token_generator.make_token(b["manager"]),
    }

    def value(match: re.Match) -> str:
        param = match.group(2) or match.group(3)
        if param in ("object_id", "id", "pk", "history_id"):
            target = b_row_of(model or Patient, b)
            if target is None:
                return "999999"  # a model with no rows at all (e.g. groups): nothing to leak
            if param == "history_id":
                history = getattr(target, "history", None)
                first = history.first() if hasattr(history, "first") else None
                return str(first.pk) if first is not None else "999999"
            return str(target.pk)
        if param not in values:
            pytest.fail(f"{route} ({name}): the walk cannot fill <{param}>; teach it")
        return str(values[param])

    path = PARAM.sub(value, route)
    path = path.replace("^", "").replace("$", "").replace("\\", "")
    return "/" + path + f"?clinic={b['clinic'].pk}"


def post_data(b) -> dict:
    return {
        "note": "walk",
        "reason": "walk",
        "resolution": "walk",
        "assignee": b["manager"].pk,
        "patient": b["patient"].pk,
        "pump": b["pump"].pk,
        "clinic": b["clinic"].pk,
        "user": b["manager"].pk,
        "role": Role.MANAGER,
        "body": "Hi {first_name}",
        "given_name": "Walker",
        "family_name": "Walker",
        "explanted_on": timezone.localdate().isoformat(),
        "explant_reason": "walk",
        "acknowledge": "on",
        "confirm": "on",
        "kind": ReportKind.CRITICAL_ALARM,
        "scheduled_start": (timezone.now() + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
    }


ROUTES = all_routes()


@pytest.mark.parametrize("role", [r for r, _ in Role.choices])
def test_no_role_of_clinic_a_reads_or_writes_clinic_b_through_any_url(
    client, as_user, clinic, role, clinic_b
):
    user = staff(clinic, role)
    as_user(user)
    before = b_rows(clinic_b["clinic"])
    leaks = []
    for route, name in ROUTES:
        if name in ("accounts:logout", "admin:logout"):
            continue  # would end the walk's session; it shows nothing
        url = fill(route, name, clinic_b)
        for method in ("get", "post"):
            # A fresh, fully signed-in session for every request: a page that ends or
            # downgrades the session must not let the rest of the walk pass unchecked.
            as_user(user)
            args = () if method == "get" else (post_data(clinic_b),)
            response = getattr(client, method)(url, *args)
            if name != "reminders:healthz":  # 503 is its answer when the sweep is stale
                assert response.status_code < 500, f"{method.upper()} {url}: {response.status_code}"
            body = b"".join(response.streaming_content) if response.streaming else response.content
            found = [s for s in SECRETS if s.encode() in body]
            if found:
                leaks.append(f"{method.upper()} {url} ({name}) shows {found}")
    assert not leaks, "\n".join(leaks)
    assert b_rows(clinic_b["clinic"]) == before, "a request changed clinic B's rows"
    # The walker really was signed in: its own clinic's board opens.
    as_user(user)
    assert client.get("/").status_code == 200
