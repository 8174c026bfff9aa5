"""One definition of "reachable": the pages' SQL rule agrees with the reminder planner.

The planner (reminders.outbox.patient_and_caregivers) is what actually writes the
outbox rows: a recipient whose channel is NONE gets no reminder. The pages' rule
(patients.reachability.patient_reachable_q / annotate_reachable) must say "no
consented channel" exactly when every recipient the planner chooses is NONE.
"""

from __future__ import annotations

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patients.models import Caregiver, Channel, Patient
from patients.reachability import (
    annotate_reachable,
    consented_channels,
    patient_is_reachable,
    patient_reachable_q,
)
from reminders.outbox import patient_and_caregivers
from tests.factories import ClinicFactory, PatientFactory

PERSON = st.fixed_dictionaries(
    {
        "preferred_channel": st.sampled_from([c.value for c in Channel]),
        "consent_sms": st.booleans(),
        "consent_email": st.booleans(),
        "phone": st.sampled_from(["", "+16175550142"]),
        "email": st.sampled_from(["", "someone@example.org"]),
    }
)
CAREGIVER = st.tuples(PERSON, st.booleans())


def _planner_reaches(patient: Patient) -> bool:
    patient = Patient.objects.prefetch_related("caregivers").get(pk=patient.pk)
    recipients = patient_and_caregivers(patient, patient.caregivers.all())
    return any(r.channel != Channel.NONE for r in recipients)


@pytest.mark.django_db
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(person=PERSON, caregivers=st.lists(CAREGIVER, max_size=3))
def test_pages_and_planner_agree(person, caregivers):
    with transaction.atomic():
        clinic = ClinicFactory()
        # Saved as generated (no form rules): the rule must agree whatever is stored.
        patient = PatientFactory(clinic=clinic, **person)
        for fields, receives in caregivers:
            Caregiver.objects.create(
                patient=patient,
                name="Cara Giver",
                relationship="sister",
                receives_reminders=receives,
                **fields,
            )
        planner = _planner_reaches(patient)
        assert Patient.objects.filter(patient_reachable_q(), pk=patient.pk).exists() == planner
        assert annotate_reachable(Patient.objects.filter(pk=patient.pk)).get().reachable == planner
        assert patient_is_reachable(patient) == planner
        transaction.set_rollback(True)


def test_worked_examples():
    # The new-patient form's defaults: SMS preferred, consent unticked: nobody is reminded.
    assert (
        consented_channels(
            preferred="sms", consent_sms=False, consent_email=False, phone="+1617", email=""
        )
        == []
    )
    # Email consent is used when SMS is preferred but not consented.
    assert consented_channels(
        preferred="sms", consent_sms=False, consent_email=True, phone="+1617", email="a@b.org"
    ) == [("email", "a@b.org")]
    # "Phone calls only" is never reminded, whatever the consent.
    assert (
        consented_channels(
            preferred="none", consent_sms=True, consent_email=True, phone="+1617", email="a@b.org"
        )
        == []
    )
