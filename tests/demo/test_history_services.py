"""The services the demo clinic enters its history and staff through: it writes nothing itself."""

import datetime as dt

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from django.utils import timezone

from accounts.models import Membership, Role
from accounts.services import staff_account_set_up
from refills import services
from refills.models import AppointmentStatus, PumpForecast, Refill
from refills.risk import Tier

pytestmark = pytest.mark.django_db


def test_a_past_visit_is_recorded_as_it_ended(filled_pump, nurse):
    refill = Refill.objects.get(pump=filled_pump)
    visit = services.appointment_record_past(
        pump=filled_pump,
        by=nurse,
        scheduled_start=refill.performed_at - dt.timedelta(minutes=20),
        status=AppointmentStatus.COMPLETED,
        status_changed_at=refill.performed_at,
        completed_refill=refill,
    )

    visit.refresh_from_db()
    assert visit.status == AppointmentStatus.COMPLETED
    assert visit.completed_refill == refill
    assert visit.status_changed_at == refill.performed_at


def test_a_missed_visit_after_the_last_refill_moves_the_tier(filled_pump, nurse):
    before = PumpForecast.objects.get(pump=filled_pump).risk_tier

    services.appointment_record_past(
        pump=filled_pump,
        by=nurse,
        scheduled_start=timezone.now() - dt.timedelta(days=2),
        status=AppointmentStatus.MISSED,
        status_changed_at=timezone.now() - dt.timedelta(days=2) + dt.timedelta(hours=2),
    )

    stored = PumpForecast.objects.get(pump=filled_pump)
    assert stored.risk_tier >= max(before, Tier.MODERATE)
    assert "missed" in str(stored.risk_reasons).lower()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scheduled_start": "future"},
        {"status": AppointmentStatus.COMPLETED},  # without the refill that completed it
        {"status_changed_at": "future"},
    ],
)
def test_a_past_visit_cannot_be_in_the_future_or_completed_by_nothing(filled_pump, nurse, kwargs):
    later = timezone.now() + dt.timedelta(hours=1)
    arguments = {"scheduled_start": timezone.now() - dt.timedelta(days=1), **kwargs}
    for name, value in arguments.items():
        if value == "future":
            arguments[name] = later

    with pytest.raises(ValidationError):
        services.appointment_record_past(pump=filled_pump, by=nurse, **arguments)

    assert not filled_pump.appointments.exists()


def test_staff_accounts_share_one_hash_and_only_those_given_it_sign_in(clinic):
    encoded = make_password("demo")
    signs_in = staff_account_set_up(
        clinic=clinic,
        username="a.nurse",
        first_name="A",
        last_name="Nurse",
        email="a.nurse@example.org",
        role=Role.NURSE,
        password_hash=encoded,
    )
    cannot = staff_account_set_up(
        clinic=clinic,
        username="a.auditor",
        first_name="An",
        last_name="Auditor",
        email="a.auditor@example.org",
        role=Role.AUDITOR,
    )
    # Again: nothing doubles, the role at the clinic stays.
    staff_account_set_up(
        clinic=clinic,
        username="a.nurse",
        first_name="A",
        last_name="Nurse",
        email="a.nurse@example.org",
        role=Role.MANAGER,
        password_hash=encoded,
    )

    request = RequestFactory().get("/")
    assert authenticate(request, username="a.nurse", password="demo") == signs_in
    assert not signs_in.is_staff
    assert not cannot.has_usable_password()
    assert Membership.objects.get(user=signs_in, clinic=clinic).role == Role.NURSE
    assert Membership.objects.filter(clinic=clinic).count() == 2
