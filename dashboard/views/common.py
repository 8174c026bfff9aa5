"""What the staff views share: the appointment row gate, the active pump or 404, and
how a service's refusal is put on a form."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.http import Http404

from accounts.decorators import rows
from refills import services

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


def _run_service(form, field_map: dict, write):
    """Call a service write; put its refusals on the form, in place. None when refused."""
    try:
        return write()
    except services.ClinicalValidationError as exc:
        forms.add_findings(form, exc.findings, field_map)
    except ValidationError as exc:
        for message in _service_error_text(exc):
            form.add_error(None, message)
    return None


def _service_error_text(exc: ValidationError) -> list[str]:
    return list(exc.messages)


def _when(value: dt.datetime, zone) -> str:
    return daytime(value, zone)
