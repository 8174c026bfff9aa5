"""Shared fixtures: a clinic with staff, and a patient with a filled pump."""

import datetime as dt
import os
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, settings

from accounts.models import Role
from refills import services
from refills.models import NeedleCheck
from tests.factories import ClinicFactory, PatientFactory, PumpFactory, drug_product, staff

# Property tests run deterministically in `make test` and CI: a fixed seed (derandomize),
# no per-example deadline and no too_slow health check, because a loaded 2-core machine
# makes timing meaningless. HYPOTHESIS_PROFILE=dev runs fewer, random examples locally;
# HYPOTHESIS_PROFILE=thorough runs many more when hunting for a counterexample.
_QUIET_CHECKS = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=100,
    print_blob=True,
    suppress_health_check=_QUIET_CHECKS,
)
settings.register_profile(
    "dev", deadline=None, max_examples=25, suppress_health_check=_QUIET_CHECKS
)
settings.register_profile(
    "thorough", deadline=None, max_examples=2000, suppress_health_check=_QUIET_CHECKS
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def verify_second_factor(client, user):
    """Mark the session as past two-factor sign-in, as django_otp.login does."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device, _ = TOTPDevice.objects.get_or_create(
        user=user, name="Test authenticator", defaults={"confirmed": True}
    )
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


def mailed_enrolment_code(client, user) -> str:
    """Ask for the enrolment code on the set-up page and read it from the user's mailbox
    (Django's test outbox), as the account's owner would."""
    import re

    from django.core import mail
    from django.test import TestCase
    from django.urls import reverse

    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post(reverse("accounts:otp_setup"), {"action": "send"})
    mailed = [m for m in mail.outbox if user.email in m.to and "set up two-factor" in m.subject]
    last = mailed[-1]
    return re.search(r"is: (\d{6})", last.body).group(1)


def prove_mailbox(client, user):
    """The emailed-code step before a first authenticator (accounts/enrolment.py)."""
    from django.urls import reverse

    code = mailed_enrolment_code(client, user)
    response = client.post(reverse("accounts:otp_setup"), {"action": "check", "code": code})
    assert response.status_code == 302, response.content[:500]
    return response


@pytest.fixture
def as_user(client):
    def login(user):
        client.force_login(user)
        verify_second_factor(client, user)
        return client

    return login


@pytest.fixture
def clinic(db):
    return ClinicFactory()


@pytest.fixture
def nurse(clinic):
    return staff(clinic, Role.NURSE)


@pytest.fixture
def physician(clinic):
    return staff(clinic, Role.PHYSICIAN)


@pytest.fixture
def patient(clinic):
    return PatientFactory(clinic=clinic)


@pytest.fixture
def pump(patient):
    return PumpFactory(patient=patient)


def program_input(dose=400, concentration=2000, **kwargs) -> services.ProgramInput:
    return services.ProgramInput(
        drug_product=drug_product(concentration),
        concentration_mcg_per_ml=Decimal(str(concentration)),
        basal_daily_dose_mcg=Decimal(str(dose)),
        **kwargs,
    )


def refill_input(
    *,
    performed_at=None,
    residual="0",
    added="20",
    resulting=None,
    concentration=2000,
    **kwargs,
) -> services.RefillInput:
    performed_at = performed_at or timezone.now() - dt.timedelta(minutes=1)
    # A lot in date on the refill day: its expiry is required and an expired one refused.
    kwargs.setdefault("lot_expiry", performed_at.date() + dt.timedelta(days=365))
    return services.RefillInput(
        performed_at=performed_at,
        actual_residual_ml=Decimal(str(residual)),
        volume_added_ml=Decimal(str(added)),
        resulting_volume_ml=Decimal(str(resulting if resulting is not None else added)),
        drug_product=drug_product(concentration),
        concentration_mcg_per_ml=Decimal(str(concentration)),
        lot_number="LOT-TEST-1",
        needle_placement=NeedleCheck.TEMPLATE_AND_STOP,
        needle_placement_confirmed=True,
        **kwargs,
    )


@pytest.fixture
def filled_pump(pump, nurse):
    """A 20 mL pump at 400 mcg/day of 2000 mcg/mL, filled 30 days ago."""
    start = timezone.now() - dt.timedelta(days=30)
    services.program_start(
        pump=pump, by=nurse, program=program_input(400, 2000), effective_from=start
    )
    services.refill_record(
        pump=pump, by=nurse, data=refill_input(performed_at=start, residual="3", added="20")
    )
    pump.refresh_from_db()
    return pump
