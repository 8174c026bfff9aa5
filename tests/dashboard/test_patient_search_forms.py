"""The patient search finds a patient however their name, MRN or birth date is
written: "Family, Given" as the pages write it, the MRN without its punctuation, and a
birth date in numbers in the clinics' order (month first, en-US)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.selectors.patient_list import PatientFilters, patient_list
from patients.models import Patient
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def _found(user, typed: str) -> set[int]:
    return set(patient_list(user, PatientFilters(q=typed)).values_list("pk", flat=True))


@pytest.fixture
def rv(clinic):
    return PatientFactory(
        clinic=clinic,
        mrn="RV-0002",
        given_name="Test",
        family_name="Phoneodd",
        date_of_birth=dt.date(1980, 12, 1),
    )


@pytest.fixture
def bystander(clinic):
    return PatientFactory(
        clinic=clinic,
        mrn="RV-0003",
        given_name="Other",
        family_name="Person",
        date_of_birth=dt.date(1980, 1, 12),
    )


@pytest.mark.parametrize(
    "typed",
    [
        "Phoneodd, Test",
        "phoneodd,test",
        "Test Phoneodd",
        "12/01/1980",
        "12-01-1980",
        "rv0002",
        "RV 0002",
        "rv-0002",
    ],
)
def test_each_written_form_finds_the_patient(nurse, rv, bystander, typed):
    assert _found(nurse, typed) == {rv.pk}


def test_a_demo_mrn_without_its_dash(nurse, clinic):
    demo = PatientFactory(clinic=clinic, mrn="DEMO-0050")
    assert _found(nurse, "demo0050") == {demo.pk}


def test_month_first_unless_only_day_first_is_a_date(nurse, rv, bystander):
    # 01/12/1980 is 12 January in the clinics' (US) order, not 1 December.
    assert _found(nurse, "01/12/1980") == {bystander.pk}
    # 13 can only be a day: 13/12/1980 would be 13 December (nobody here).
    assert _found(nurse, "13/12/1980") == set()
    assert _found(nurse, "1/12/1980") == {bystander.pk}


@override_settings(PUMPTRACK_NUMERIC_DATE_ORDER="DMY")
def test_day_first_when_the_setting_says_so(nurse, rv, bystander):
    assert _found(nurse, "01/12/1980") == {rv.pk}


def _case(text: str, flips: list[bool]) -> str:
    return "".join(c.swapcase() if f else c for c, f in zip(text, flips, strict=False))


NAME = st.from_regex(r"[A-Z][a-z]{2,10}", fullmatch=True)
SEP = st.sampled_from(["-", " ", "", ".", "/"])


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    given_name=NAME,
    family=NAME,
    born=st.dates(dt.date(1920, 1, 1), dt.date(2020, 12, 31)),
    number=st.integers(0, 9999),
    order=st.sampled_from(["family, given", "given family", "family given", "family,given"]),
    sep=SEP,
    date_form=st.sampled_from(["%m/%d/%Y", "%m-%d-%Y", "%Y-%m-%d", "%d %b %Y", "%-m/%-d/%Y"]),
    flips=st.lists(st.booleans(), min_size=30, max_size=30),
)
def test_found_by_every_spelling(
    nurse, clinic, given_name, family, born, number, order, sep, date_form, flips
):
    patient = PatientFactory(
        clinic=clinic,
        mrn=f"RV-{number:04d}",
        given_name=given_name,
        family_name=family,
        date_of_birth=born,
    )
    name = order.replace("family", family).replace("given", given_name)
    mrn = f"rv{sep}{number:04d}"
    assert patient.pk in _found(nurse, _case(name, flips))
    assert patient.pk in _found(nurse, _case(mrn, flips))
    assert patient.pk in _found(nurse, born.strftime(date_form))
    Patient.objects.all().delete()
