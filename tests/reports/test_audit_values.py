"""Every value the audit trail shows is in words, never a raw code: choices by label,
working weekdays as the clinic pages show them, times of day to the minute, moments in
the clinic's zone without seconds, and internal keys (an alert's occasion) not shown."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.db import models
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import from_field

from accounts.models import Role
from patients import services as patient_services
from patients.models import validate_working_days, working_days_text
from reminders.models import Alert, AlertKind, AlertSeverity
from reports.audit import _BOOKKEEPING, _IGNORED, EMPTY, _Names, tracked_models, value_text
from tests.factories import staff

URL = reverse("reports:audit")
ZONE = ZoneInfo("America/New_York")
ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}:\d{2}")


def _fields():
    for model, _clinic, _patient in tracked_models():
        hidden = _IGNORED | _BOOKKEEPING.get(model._meta.label, set())
        for f in model.history.model.tracked_fields:
            if f.name != "id" and f.name not in hidden:
                yield pytest.param(f, id=f"{model._meta.label}.{f.name}")


def _values(f):
    """Generated stored values of a field, for the kinds of field that hold a code."""
    if f.is_relation:
        return st.integers(min_value=1, max_value=10**6)
    if f.choices:
        # A blank choice ("") is shown as nothing, like any empty value.
        return st.sampled_from([key for key, _label in f.flatchoices if key not in ("", None)])
    if validate_working_days in f.validators:
        return st.permutations("0123456").flatmap(
            lambda days: st.integers(1, 7).map(lambda n: "".join(sorted(days[:n])))
        )
    if isinstance(f, models.DateTimeField):
        return st.datetimes(
            min_value=dt.datetime(2000, 1, 1),
            max_value=dt.datetime(2100, 1, 1),
            timezones=st.just(dt.UTC),
        )
    if isinstance(f, models.DateField | models.TimeField | models.BooleanField):
        return from_field(f).filter(lambda v: v is not None)
    return None


CODED = [p for p in _fields() if _values(p.values[0]) is not None]


def test_every_tracked_model_has_fields_under_the_property():
    labels = {p.id.split(".")[0] + "." + p.id.split(".")[1] for p in CODED}
    assert {"patients.Clinic", "reminders.Alert", "refills.Appointment"} <= labels


@pytest.mark.parametrize("model_field", CODED)
@settings(max_examples=15)
@given(data=st.data())
def test_no_rendered_value_is_a_raw_code(model_field, data):
    value = data.draw(_values(model_field))
    shown = value_text(model_field, value, _Names(), ZONE)
    assert shown != EMPTY
    if model_field.choices:
        label = str(dict(model_field.flatchoices)[value])
        assert shown == label
    elif model_field.is_relation:
        assert shown != str(value)
    elif validate_working_days in model_field.validators:
        assert not any(ch.isdigit() for ch in shown), shown
    elif isinstance(value, bool):
        assert shown in ("yes", "no")
    # No ISO date or time with seconds, ever.
    assert not ISO_MOMENT.search(shown), shown


@pytest.mark.parametrize(
    ("days", "text"),
    [
        ("01234", "Mon–Fri"),
        ("012345", "Mon–Sat"),
        ("0123456", "Mon–Sun"),
        ("024", "Mon, Wed, Fri"),
        ("01", "Mon, Tue"),
        ("0156", "Mon, Tue, Sat, Sun"),
        ("12346", "Tue–Fri, Sun"),
    ],
)
def test_working_days_in_words(days, text):
    assert working_days_text(days) == text


@pytest.mark.django_db
def test_clinic_settings_change_reads_as_weekday_names_and_minutes(client, as_user, clinic):
    manager = staff(clinic, Role.MANAGER)
    patient_services.clinic_settings_save(
        clinic=clinic, by=manager, working_days="01234", day_starts=dt.time(8, 30)
    )
    patient_services.clinic_settings_save(
        clinic=clinic, by=manager, working_days="012345", day_starts=dt.time(9)
    )
    as_user(staff(clinic, Role.AUDITOR))

    entries = (
        client.get(URL, {"since": "2000-01-01", "kind": "patients.Clinic"})
        .context["result"]
        .entries
    )

    changes = {c.label: (c.old, c.new) for c in entries[0].changes}
    assert changes["Working weekdays"] == ("Mon–Fri", "Mon–Sat")
    assert changes["Opens at"] == ("08:30", "09:00")


@pytest.mark.django_db
def test_an_alert_s_occasion_key_is_not_shown(client, as_user, clinic, pump):
    alert = Alert.objects.create(
        clinic=clinic,
        patient=pump.patient,
        pump=pump,
        kind=AlertKind.values[0],
        severity=AlertSeverity.values[-1],
        occasion="anchor:2026-10-07T09:35:00-04:00",
    )
    alert.occasion = "appointment:800"
    alert.escalation_count = 1
    alert.save()
    as_user(staff(clinic, Role.AUDITOR))

    response = client.get(URL, {"since": "2000-01-01", "kind": "reminders.Alert"})

    body = response.content.decode()
    assert "anchor:" not in body and "appointment:800" not in body
    created, changed = response.context["result"].entries[1], response.context["result"].entries[0]
    assert "Occasion" not in {c.label for c in created.changes}
    assert {c.label for c in changed.changes} == {"Escalation count"}
