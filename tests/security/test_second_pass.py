"""Issue 9, second security pass: roles from the wrong clinic, the inbox's `next`, alert links."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.models import Membership, Role
from dashboard.selectors import clinic_staff, members_for_assignment
from reminders.alerts import alert_assign, alert_url
from reminders.models import Alert
from tests.factories import ClinicFactory, PatientFactory, PumpFactory, staff


@pytest.fixture
def clinic_b(db):
    return ClinicFactory(name="Clinic B")


@pytest.fixture
def two_hats(clinic, clinic_b):
    """An auditor at clinic A who is a physician at clinic B."""
    user = staff(clinic, Role.AUDITOR)
    Membership.objects.create(user=user, clinic=clinic_b, role=Role.PHYSICIAN)
    return user


def test_a_role_held_at_another_clinic_does_not_qualify_here(clinic, clinic_b, two_hats):
    assert two_hats not in clinic_staff(clinic, Role.NURSE, Role.PHYSICIAN)
    assert two_hats not in members_for_assignment(clinic)
    # ...but it does where it is held, and every member is listed without a role filter.
    assert two_hats in clinic_staff(clinic_b, Role.PHYSICIAN)
    assert two_hats in clinic_staff(clinic)


def test_second_checker_choices_are_nurses_and_physicians_of_this_clinic(
    as_user, nurse, pump, two_hats, clinic
):
    physician_here = staff(clinic, Role.PHYSICIAN)
    response = as_user(nurse).get(reverse("dashboard:refill_create", args=[pump.patient.pk]))
    assert response.status_code == 200
    choices = {u.pk for u in response.context["form"].fields["second_checker"].queryset}
    assert physician_here.pk in choices
    assert two_hats.pk not in choices


def test_an_alert_cannot_be_given_to_someone_whose_role_here_does_not_act_on_alerts(
    clinic, nurse, two_hats, pump
):
    alert = Alert.objects.create(
        clinic=clinic, patient=pump.patient, pump=pump, kind="running-out", severity=4
    )
    with pytest.raises(ValidationError):
        alert_assign(alert=alert, by=nurse, assignee=two_hats)
    response_user = staff(clinic, Role.SCHEDULER)
    assert alert_assign(alert=alert, by=nurse, assignee=response_user).assignee == response_user


# --------------------------------------------------------------------------- the inbox's `next`


@pytest.mark.parametrize(
    "target",
    [
        "/\\evil.example/",
        "\\\\evil.example/",
        "https://evil.example/alerts/",
        "//evil.example/",
        "/\t/evil.example/",
        "javascript:alert(1)",
    ],
)
def test_alert_actions_never_redirect_off_site(as_user, nurse, clinic, pump, target):
    alert = Alert.objects.create(
        clinic=clinic, patient=pump.patient, pump=pump, kind="running-out", severity=4
    )
    response = as_user(nurse).post(
        reverse("dashboard:alert_acknowledge", args=[alert.pk]), {"next": target}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:alerts")


def test_alert_actions_return_to_a_local_page(as_user, nurse, clinic, pump):
    alert = Alert.objects.create(
        clinic=clinic, patient=pump.patient, pump=pump, kind="running-out", severity=4
    )
    target = reverse("dashboard:patient", args=[pump.patient.pk])
    response = as_user(nurse).post(
        reverse("dashboard:alert_acknowledge", args=[alert.pk]), {"next": target}
    )
    assert response["Location"] == target


# --------------------------------------------------------------------------- escalation links


def test_escalation_emails_link_to_the_alert_inbox_not_the_admin(clinic, settings):
    settings.REMINDERS = {**settings.REMINDERS, "PUBLIC_BASE_URL": "https://itb.example.org/"}
    pump = PumpFactory(patient=PatientFactory(clinic=clinic))
    alert = Alert.objects.create(
        clinic=clinic, patient=pump.patient, pump=pump, kind="running-out", severity=4
    )
    url = alert_url(alert)
    assert "/admin/" not in url
    assert url == f"https://itb.example.org{reverse('dashboard:alerts')}#alert-{alert.pk}"


# --------------------------------------------------------------------------- the second person


@pytest.mark.parametrize("who", ["other clinic's physician", "scheduler here", "the author"])
def test_the_service_refuses_a_second_checker_who_is_not_a_clinician_here(
    who, clinic, clinic_b, two_hats, filled_pump, nurse
):
    """The form offers only this clinic's nurses and physicians; a tampered post or another
    caller of the service must meet the same rule, and nothing is written."""
    import datetime as dt

    from django.utils import timezone

    from refills import services
    from refills.models import Refill
    from tests.conftest import refill_input

    second = {
        "other clinic's physician": two_hats,
        "scheduler here": staff(clinic, Role.SCHEDULER),
        "the author": nurse,
    }[who]
    before = Refill.objects.count()
    data = refill_input(
        performed_at=timezone.now() - dt.timedelta(minutes=5),
        residual="9",
        added="11",
        resulting="20",
        second_checker=second,
    )
    with pytest.raises(services.ClinicalValidationError) as refused:
        services.refill_record(pump=filled_pump, by=nurse, data=data)
    assert "second_checker" in str(refused.value)
    assert Refill.objects.count() == before


def test_the_service_refuses_a_second_clinician_from_another_clinic(
    clinic_b, two_hats, filled_pump, nurse
):
    import dataclasses

    from django.utils import timezone

    from refills import services
    from tests.conftest import program_input

    program = dataclasses.replace(program_input(400, 2000), second_clinician=two_hats)
    findings = services.program_findings(
        pump=filled_pump, program=program, at=timezone.now(), by=nurse
    )
    assert "second_clinician_not_at_clinic" in {f.code for f in findings}
