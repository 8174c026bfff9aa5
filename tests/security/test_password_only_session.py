"""Every page, walked as a session that has passed only the password step.

Users whose sign-in needs a second factor (a confirmed device, or a role that
requires one) and who have not given it must see no patient data, not even a
count of alerts, and must not be able to write anything, on any URL pattern of
the project (the admin's included). Path arguments are real ids of a seeded
clinic, so a view that forgot the gate would find its rows.
"""

import datetime as dt
import re

import pytest
from django.apps import apps
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sessions.models import Session
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Role
from patients.services import clinic_closure_add
from refills import services
from refills.models import PumpReport, ReportKind
from refills.risk import Tier
from reminders.models import Alert
from tests.conftest import program_input, refill_input
from tests.factories import CaregiverFactory, PatientFactory, PumpFactory, staff

PASSWORD = "correct horse battery"
DOB = dt.date(1961, 11, 23)
# Ways a date of birth could be printed.
DOB_FORMS = [
    "1961-11-23",
    "11/23/1961",
    "23/11/1961",
    "Nov. 23, 1961",
    "23 Nov 1961",
    "November 23",
]
# Markup of the critical-alerts strip and the nav's alert badge (a count is health data too).
ALERT_MARKERS = ["critical-strip", "open critical", "Open critical alerts"]


@pytest.fixture
def seeded(clinic, physician):
    """Two invented patients of the clinic, with everything a page can be about."""
    first = PatientFactory(
        clinic=clinic,
        given_name="Orsolya",
        family_name="Vantwalker",
        mrn="WALK-MRN-5521",
        date_of_birth=DOB,
    )
    second = PatientFactory(
        clinic=clinic, given_name="Ignatius", family_name="Pendlebrook", mrn="WALK-MRN-5522"
    )
    pump = PumpFactory(patient=first)
    PumpFactory(patient=second)
    start = timezone.now() - dt.timedelta(days=30)
    services.program_start(pump=pump, by=physician, program=program_input(), effective_from=start)
    refill = services.refill_record(
        pump=pump, by=physician, data=refill_input(performed_at=start, residual="2")
    )
    appointment = services.appointment_book(
        pump=pump, by=physician, scheduled_start=timezone.now() + dt.timedelta(days=7)
    )
    services.pump_report_record(pump=pump, by=physician, kind=ReportKind.CRITICAL_ALARM)
    report = PumpReport.objects.filter(pump=pump).first()
    caregiver = CaregiverFactory(patient=first, name="Philippa Walkcarer")
    for patient in (first, second):
        Alert.objects.get_or_create(
            clinic=clinic,
            patient=patient,
            pump=patient.pumps.first(),
            kind="running-out",
            defaults={"severity": Tier.CRITICAL},
        )
    assert Alert.objects.filter(clinic=clinic, severity=Tier.CRITICAL).count() >= 2
    return {
        "clinic": clinic,
        "patients": [first, second],
        "patient_id": first.pk,
        "pump_id": pump.pk,
        "refill_id": refill.pk,
        "appointment_id": appointment.pk,
        "report_id": report.pk,
        "caregiver_id": caregiver.pk,
        "alert_id": Alert.objects.filter(patient=first).first().pk,
        "clinic_id": clinic.pk,
        "closure_id": clinic_closure_add(
            clinic=clinic,
            by=physician,
            first_day=timezone.localdate(timezone=clinic.tz) + dt.timedelta(days=20),
            reason="Walk holiday",
        ).pk,
        "kind": "appointment-reminder",
        "channel": "sms",
    }


def canaries(rows) -> list[str]:
    words = list(DOB_FORMS)
    for patient in rows["patients"]:
        words += [patient.given_name, patient.family_name, patient.mrn]
    return words + ["Walkcarer"]


def all_routes():
    def walk(patterns, prefix="", namespace=None):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(
                    pattern.url_patterns,
                    prefix + str(pattern.pattern),
                    pattern.namespace or namespace,
                )
            elif isinstance(pattern, URLPattern):
                name = f"{namespace}:{pattern.name}" if namespace else pattern.name
                yield prefix + str(pattern.pattern), name

    return list(walk(get_resolver().url_patterns))


def _admin_object_id(route: str) -> str:
    """The pk of a real row of the model an admin route is about ('x' if none)."""
    match = re.match(r"^admin/(\w+)/(\w+)/", route)
    if match:
        try:
            model = apps.get_model(match.group(1), match.group(2))
        except LookupError:
            return "x"
        row = model.objects.order_by("pk").first()
        if row is not None:
            return str(row.pk)
    return "x"


def concrete(route: str, rows, user) -> str:
    """The route with real ids of the seeded clinic in place of its arguments."""
    values = dict(rows)
    values["uidb64"] = urlsafe_base64_encode(force_bytes(user.pk))
    values["token"] = default_token_generator.make_token(user)
    values["object_id"] = _admin_object_id(route)
    values["content_type_id"] = "1"

    def typed(match):
        name = match.group("name")
        return str(values.get(name, "1" if match.group("conv") == "int" else "x"))

    # Regex routes (the admin's): a named group of alternatives takes the first one.
    path = re.sub(r"\(\?P<\w+>([\w-]+)(?:\|[\w-]+)*\)", r"\1", route)
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "x", path)
    path = re.sub(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>", typed, path)
    path = path.replace("^", "").replace("$", "").replace("\\", "")
    return "/" + path


def snapshot() -> dict:
    """Every row of every table but the sessions'."""
    state = {}
    for model in apps.get_models():
        if model is Session or model._meta.app_label == "axes":
            continue
        state[model._meta.label] = list(model.objects.order_by("pk").values())
    return state


def half_signed_users(clinic):
    """Users whose sign-in is not complete after the password."""
    with_device = {
        "physician with a device": staff(clinic, Role.PHYSICIAN),
        "nurse with a device": staff(clinic, Role.NURSE),
        "operator with a device": staff(clinic, Role.MANAGER, is_staff=True, is_superuser=True),
    }
    for user in with_device.values():
        TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return {**with_device, "manager with no device yet": staff(clinic, Role.MANAGER)}


def walk_order(route_and_name):
    # Signing out ends the session: walk it last.
    return route_and_name[1] in {"accounts:logout", "admin:logout"}


def test_a_password_only_session_sees_no_patient_data_and_writes_nothing(client, seeded):
    routes = sorted(all_routes(), key=walk_order)
    assert len(routes) > 40  # the admin's included
    users = half_signed_users(seeded["clinic"])
    words = canaries(seeded)
    own_pages = {reverse("accounts:otp_verify"), reverse("accounts:otp_setup")}
    allowed_targets = (
        reverse("accounts:otp_verify"),
        reverse("accounts:otp_setup"),
        reverse("accounts:login"),
    )
    before = snapshot()
    seen_own_pages = set()
    for label, user in users.items():
        client.force_login(user)
        before = snapshot()  # force_login stamps last_login; nothing after may change
        for route, name in routes:
            url = concrete(route, seeded, user)
            for method in ("get", "post"):
                data = {"note": "walked", "reason": "walked", "name": "x", "password": PASSWORD}
                response = getattr(client, method)(url, data if method == "post" else None)
                where = f"{label}: {method.upper()} {url} ({name})"
                body = response.content.decode(errors="replace")
                for word in words:
                    assert word not in body, f"{where} shows {word!r}"
                for marker in ALERT_MARKERS:
                    assert marker not in body, f"{where} shows the alert strip or its count"
                location = response.get("Location", "")
                for word in words:
                    assert word not in location, where
                if response.status_code == 302:
                    assert location.startswith(allowed_targets), f"{where} -> {location}"
                elif response.status_code == 200:
                    assert url in own_pages or name == "reminders:healthz", (
                        f"{where} answered 200 to a password-only session"
                    )
                    if url in own_pages:
                        seen_own_pages.add(url)
                else:
                    assert response.status_code in (405, 503), f"{where}: {response.status_code}"
        assert snapshot() == before, f"{label}: a password-only session changed stored rows"
        client.logout()
    # The pages a half-signed user does reach were rendered (and checked above).
    assert seen_own_pages == own_pages


def test_the_walk_fills_every_path_argument_with_a_seeded_id(seeded, clinic):
    user = staff(clinic, Role.NURSE)
    for route, name in all_routes():
        url = concrete(route, seeded, user)
        assert "<" not in url and "(?P" not in url, (name, url)


def test_a_nurse_without_two_factor_still_sees_the_critical_strip(client, seeded, nurse):
    """Password alone is a complete sign-in for a role that needs no second factor."""
    client.post(reverse("accounts:login"), {"username": nurse.username, "password": PASSWORD})
    page = client.get(reverse("dashboard:board"))
    assert page.status_code == 200
    assert b"critical-strip" in page.content
    assert b"Vantwalker" in page.content
