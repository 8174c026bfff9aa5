"""Fixtures for the staff pages: a second clinic, staff of each role, logged-in clients."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Role
from refills import services
from refills.models import DosingMode
from tests.conftest import program_input, refill_input
from tests.factories import ClinicFactory, PatientFactory, PumpFactory, staff


@pytest.fixture
def other_clinic(db):
    return ClinicFactory(name="Elsewhere ITB Clinic", timezone="America/Los_Angeles")


@pytest.fixture
def other_patient(other_clinic):
    return PatientFactory(clinic=other_clinic, given_name="Otto", family_name="Elsewhere")


@pytest.fixture
def other_pump(other_patient):
    return PumpFactory(patient=other_patient)


@pytest.fixture
def scheduler(clinic):
    return staff(clinic, Role.SCHEDULER)


@pytest.fixture
def auditor(clinic):
    return staff(clinic, Role.AUDITOR)


@pytest.fixture
def manager(clinic):
    return staff(clinic, Role.MANAGER)


@pytest.fixture
def nurse_client(as_user, nurse):
    return as_user(nurse)


def fill(pump, by, *, days_ago, dose=400, concentration=2000, added="20", residual="3"):
    """Start a program and record a fill ``days_ago`` days back."""
    start = timezone.now() - dt.timedelta(days=days_ago)
    services.program_start(
        pump=pump, by=by, program=program_input(dose, concentration), effective_from=start
    )
    services.refill_record(
        pump=pump,
        by=by,
        data=refill_input(
            performed_at=start, residual=residual, added=added, concentration=concentration
        ),
    )
    pump.refresh_from_db()
    return pump


@pytest.fixture
def filler():
    return fill


@pytest.fixture
def flex_pump(filled_pump, nurse):
    """The filled pump (400 mcg/day) on a flex program with the same daily total."""
    services.drug_program_change(
        pump=filled_pump,
        by=nurse,
        program=program_input(
            400,
            2000,
            mode=DosingMode.FLEX,
            flex_steps=[
                (dt.time(0, 0), Decimal(8), Decimal(15)),  # 120 mcg
                (dt.time(8, 0), Decimal(16), Decimal("17.5")),  # 280 mcg
            ],
        ),
        reason="Flex for night spasms",
        effective_from=timezone.now() - dt.timedelta(days=2),
    )
    return filled_pump
