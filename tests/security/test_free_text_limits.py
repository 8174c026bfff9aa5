"""Free text has an upper bound everywhere staff type it (issue 9 #9: a 2 MB note was stored)."""

import inspect

import pytest
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse

from dashboard import forms as dashboard_forms
from dashboard import patient_forms
from reminders import forms as reminders_forms
from reminders.alerts import alert_resolve
from reminders.models import Alert, AlertState

HUGE = "x" * 2_000_000


def form_classes():
    for module in (dashboard_forms, patient_forms, reminders_forms):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            # dashboard.forms is a package: its forms live in its submodules.
            own = cls.__module__ == module.__name__ or cls.__module__.startswith(
                module.__name__ + "."
            )
            if issubclass(cls, forms.BaseForm) and own:
                yield cls


@pytest.mark.parametrize("form_class", list(form_classes()), ids=lambda c: c.__name__)
def test_every_text_field_of_every_staff_form_has_a_maximum_length(form_class):
    for name, field in getattr(form_class, "base_fields", {}).items():
        if type(field) is forms.CharField:
            assert field.max_length is not None, f"{form_class.__name__}.{name}"
            assert field.max_length <= settings.PUMPTRACK_FREE_TEXT_MAX_CHARS


def test_a_two_megabyte_alert_note_is_refused_with_a_clear_error(as_user, nurse, clinic, pump):
    alert = Alert.objects.create(
        clinic=clinic, patient=pump.patient, pump=pump, kind="discrepancy", severity=2
    )
    response = as_user(nurse).post(
        reverse("dashboard:alert_resolve", args=[alert.pk]), {"note": HUGE}, follow=True
    )
    assert response.status_code == 200
    alert.refresh_from_db()
    assert alert.state != AlertState.RESOLVED and alert.resolution_note == ""
    # The service refuses it too, whoever calls it, and says why.
    with pytest.raises(ValidationError) as refused:
        alert_resolve(alert=alert, by=nurse, note=HUGE)
    assert "too long" in str(refused.value)
    alert.refresh_from_db()
    assert alert.resolution_note == ""
    # ...and the model, for anything saved through full_clean().
    alert.resolution_note = HUGE
    with pytest.raises(ValidationError):
        alert.full_clean()


def test_a_note_at_the_limit_is_kept(as_user, nurse, clinic, pump):
    alert = Alert.objects.create(
        clinic=clinic, patient=pump.patient, pump=pump, kind="discrepancy", severity=2
    )
    note = "y" * settings.PUMPTRACK_FREE_TEXT_MAX_CHARS
    alert_resolve(alert=alert, by=nurse, note=note)
    alert.refresh_from_db()
    assert alert.resolution_note == note


def test_a_huge_patient_note_is_a_form_error_not_a_save(as_user, nurse, patient):
    form = patient_forms.ReportResolveForm(data={"resolution": HUGE})
    assert not form.is_valid()
    assert "too long" in form.errors["resolution"][0]
