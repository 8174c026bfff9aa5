"""Every URL needs a signed-in user except the few public ones; other clinics' rows are 404."""

import datetime as dt
import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from refills import services
from refills.models import ReportKind
from tests.conftest import program_input, refill_input
from tests.factories import ClinicFactory, PatientFactory, PumpFactory

# Reachable without signing in, and why.
PUBLIC = {
    "accounts:login": "the sign-in page",
    "accounts:password_reset": "asks for an email address",
    "accounts:password_reset_done": "says an email was sent",
    "accounts:password_reset_confirm": "needs the emailed one-time token",
    "accounts:invitation_link": "needs the emailed token signed for one open invitation",
    "accounts:password_reset_complete": "says the password changed",
    "reminders:healthz": "monitoring; reports no patient data",
    "reminders:twilio-status": "webhook; refuses requests without a valid signature",
    "reminders:twilio-inbound": "webhook; refuses requests without a valid signature",
    "admin:login": "the admin's sign-in page",
    "accounts:logout": "signing out needs no sign-in",
    "admin:logout": "signing out needs no sign-in",
}
WEBHOOKS = {"reminders:twilio-status", "reminders:twilio-inbound"}


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


def concrete(route: str) -> str:
    """Fill converters with harmless values: ints 1, strings 'x'."""
    path = re.sub(r"<int:[^>]+>", "1", route)
    path = re.sub(r"<(?:str:|slug:|path:)?[^>]+>", "x", path)
    path = path.replace("^", "").replace("$", "").replace("\\", "")
    return "/" + path


ROUTES = [(route, name) for route, name in all_routes() if "(?P" not in route]


@pytest.mark.parametrize("route,name", ROUTES, ids=[f"{n or r}" for r, n in ROUTES])
@pytest.mark.django_db
def test_every_url_needs_sign_in_unless_listed_public(client, route, name):
    url = concrete(route)
    responses = [client.get(url), client.post(url, {})]
    if name in WEBHOOKS:
        assert all(r.status_code in (403, 405) for r in responses), url
        return
    if name in PUBLIC:
        # 404: a public page whose made-up token matches nothing (it shows nothing).
        assert all(r.status_code in (200, 302, 404, 405, 503) for r in responses), url
        return
    get, post = responses
    # A POST-only view may refuse GET outright (405): it shows nothing either way.
    checked = [post] if get.status_code == 405 else [get, post]
    for response in checked:
        assert response.status_code == 302, f"{url} answered {response.status_code} anonymously"
        location = response["Location"]
        assert location.startswith((reverse("accounts:login"), reverse("admin:login"))), location


def test_public_list_names_only_real_urls():
    names = {name for _, name in all_routes()}
    assert set(PUBLIC) <= names


# --------------------------------------------------------------------------- clinic isolation


@pytest.fixture
def elsewhere(db, physician):
    """A patient of another clinic with a pump, refill, appointment, report and alert."""
    other = ClinicFactory(name="Other clinic")
    patient = PatientFactory(clinic=other)
    pump = PumpFactory(patient=patient)
    start = timezone.now() - dt.timedelta(days=30)
    services.program_start(pump=pump, by=physician, program=program_input(), effective_from=start)
    refill = services.refill_record(
        pump=pump, by=physician, data=refill_input(performed_at=start, residual="2")
    )
    appointment = services.appointment_book(
        pump=pump, by=physician, scheduled_start=timezone.now() + dt.timedelta(days=7)
    )
    services.pump_report_record(pump=pump, by=physician, kind=ReportKind.CRITICAL_ALARM)
    from reminders.models import Alert

    # An open one: the no-fill alert raised before the refill was closed by the refill.
    alert = Alert.objects.filter(pump=pump, state="open").first()
    if alert is None:
        alert = Alert.objects.create(
            clinic=other, patient=patient, pump=pump, kind="running-out", severity=4
        )
    return {
        "clinic": other,
        "patient": patient,
        "pump": pump,
        "refill": refill,
        "appointment": appointment,
        "alert": alert,
    }


def isolation_urls(rows):
    p, a, al = rows["patient"].pk, rows["appointment"].pk, rows["alert"].pk
    return [
        ("get", reverse("dashboard:patient", args=[p])),
        ("get", reverse("dashboard:refill_create", args=[p])),
        ("post", reverse("dashboard:refill_preview", args=[p])),
        ("get", reverse("dashboard:refill_saved", args=[p, rows["refill"].pk])),
        ("get", reverse("dashboard:program_change", args=[p])),
        ("get", reverse("dashboard:appointment_create", args=[p])),
        ("get", reverse("dashboard:emergency_card", args=[p])),
        ("get", reverse("dashboard:emergency_card_pdf", args=[p])),
        ("post", reverse("dashboard:pump_explant", args=[rows["pump"].pk])),
        ("post", reverse("dashboard:appointment_reschedule", args=[a])),
        ("post", reverse("dashboard:appointment_cancel", args=[a])),
        ("post", reverse("dashboard:appointment_missed", args=[a])),
        ("post", reverse("dashboard:appointment_complete", args=[a])),
        ("post", reverse("dashboard:alert_acknowledge", args=[al])),
        ("post", reverse("dashboard:alert_assign", args=[al])),
        ("post", reverse("dashboard:alert_resolve", args=[al])),
        ("get", reverse("reports:index") + f"?clinic={rows['clinic'].pk}"),
        ("get", reverse("reports:audit") + f"?clinic={rows['clinic'].pk}"),
        ("get", reverse("reports:activity_csv") + f"?clinic={rows['clinic'].pk}"),
        ("get", reverse("reports:advisory") + f"?clinic={rows['clinic'].pk}"),
        ("post", reverse("reports:advisory") + f"?clinic={rows['clinic'].pk}"),
        # Reports 1-7: page, CSV and PDF, with and without "all my clinics".
        *[
            ("get", reverse(f"reports:{key}{suffix}") + f"?clinic={rows['clinic'].pk}{extra}")
            for key in ("refills", "appointments", "safety", "delivery", "census", "devices")
            + ("capacity",)
            for suffix in ("", "_csv", "_pdf")
            for extra in ("", "&all_clinics=on")
        ],
    ]


def test_another_clinics_rows_are_not_found(as_user, clinic, elsewhere, physician):
    from tests.factories import staff

    manager = staff(clinic, "manager")
    for user in (physician, manager):
        client = as_user(user)
        for method, url in isolation_urls(elsewhere):
            if method == "post":
                response = client.post(url, {"note": "x", "reason": "x"})
            else:
                response = client.get(url)
            assert response.status_code == 404, (
                f"{method.upper()} {url} gave {response.status_code}"
            )
    elsewhere["appointment"].refresh_from_db()
    elsewhere["alert"].refresh_from_db()
    elsewhere["pump"].refresh_from_db()
    assert elsewhere["pump"].status == "active"
    assert elsewhere["appointment"].status == "scheduled"
    assert elsewhere["alert"].state == "open"


def test_board_and_calendar_never_list_another_clinics_patients(
    as_user, elsewhere, filled_pump, nurse
):
    client = as_user(nurse)
    mrn = elsewhere["patient"].mrn.encode()
    for url in (
        reverse("dashboard:board"),
        reverse("dashboard:calendar"),
        reverse("dashboard:alerts"),
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert mrn not in response.content
    search = client.get(reverse("dashboard:board"), {"q": elsewhere["patient"].mrn})
    assert elsewhere["patient"].given_name.encode() not in search.content
    assert (
        reverse("dashboard:patient", args=[elsewhere["patient"].pk]).encode() not in search.content
    )
