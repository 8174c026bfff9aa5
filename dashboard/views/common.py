"""What the staff views share: the appointment row gate, the active pump or 404, and
how a service's refusal is put on a form (dashboard.forms.findings)."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.http import Http404

from accounts.decorators import rows

from .. import forms
from ..selectors.patient import active_pump
from ..selectors.records import APPOINTMENT_ROWS
from ..templatetags.pumptrack_tags import daytime

# An appointment named by the URL, through the access gate (another clinic's: 404).
APPOINTMENTS = rows(APPOINTMENT_ROWS, "patient__clinic", id_kwarg="appointment_id")


def _active_pump_or_404(patient):
    pump = active_pump(patient)
    if pump is None:
        raise Http404("This patient has no active pump.")
    return pump


def _run_service(form, field_map: dict | None, write):
    """Call a service write; put its refusals on the form (clinical findings in place,
    other refusals at the top, as these pages always showed them). None when refused."""
    try:
        return write()
    except ValidationError as exc:
        forms.add_findings_to_form(form, exc, field_map, plain_errors_on_top=True)
    return None


def _when(value: dt.datetime, zone) -> str:
    return daytime(value, zone)
