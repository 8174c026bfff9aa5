"""factory_boy factories. Every person here is invented."""

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from accounts.models import Membership, Role, User
from patients.models import Caregiver, Clinic, Patient, Pump, PumpModel
from refills.models import DrugProduct


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic

    name = factory.Sequence(lambda n: f"Test ITB Clinic {n}")
    timezone = "America/New_York"
    phone = "+16175550100"
    # Open around the clock, every day: a test that books "now + N days" must not depend
    # on the hour it runs at (a booking outside opening hours needs a reason). Tests of
    # opening hours, closures and proposals set the clinic's own hours.
    working_days = "0123456"
    day_starts = dt.time(0, 0)
    day_ends = dt.time(23, 59, 59, 999999)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"staff{n}")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"Staffer{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password("correct horse battery")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    clinic = factory.SubFactory(ClinicFactory)
    role = Role.NURSE


def staff(clinic: Clinic, role: str = Role.NURSE, **kwargs) -> User:
    user = UserFactory(**kwargs)
    Membership.objects.create(user=user, clinic=clinic, role=role)
    return user


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    clinic = factory.SubFactory(ClinicFactory)
    mrn = factory.Sequence(lambda n: f"T{n:06d}")
    given_name = factory.Sequence(lambda n: f"Ada{n}")
    family_name = "Testpatient"
    date_of_birth = dt.date(1980, 5, 17)
    phone = "+16175550123"
    email = factory.Sequence(lambda n: f"patient{n}@example.org")
    consent_sms = True
    consent_email = True


class CaregiverFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Caregiver

    patient = factory.SubFactory(PatientFactory)
    name = "Grace Testcarer"
    relationship = "sister"
    phone = "+16175550124"
    consent_sms = True


def pump_model(number: str = "8637-20") -> PumpModel:
    return PumpModel.objects.get(model_number=number)


def sensor_pump_model() -> PumpModel:
    """A 20 mL model like the 8637-20 that measures its reservoir volume (domain §2.4);
    none in the catalogue is known to."""
    model = pump_model("8637-20")
    model.pk = None
    model.model_number = "TEST-SENSOR-20"
    model.name = "Test sensor pump"
    model.has_volume_sensor = True
    model.save()
    return model


def drug_product(concentration: str | int = 2000, name: str = "Gablofen") -> DrugProduct:
    return DrugProduct.objects.get(
        name=name, concentration_mcg_per_ml=Decimal(str(concentration)), is_custom_dilution=False
    )


class PumpFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pump

    patient = factory.SubFactory(PatientFactory)
    model = factory.LazyFunction(lambda: pump_model("8637-20"))
    serial_number = factory.Sequence(lambda n: f"NGP{n:06d}")
    implanted_on = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=400))
    alarm_volume_ml = Decimal("2.0")
