"""One way to put a service's refusal on a form.

The services say no with a ValidationError: refills.services.ClinicalValidationError
carries refills.validation.Finding objects (each naming the input it is about), the
others carry field errors or plain messages. `add_findings_to_form` shows every one
of them in place: under the input it is about, or at the top of the form when the
input is not on this form (or is hidden).
"""

from __future__ import annotations

from collections.abc import Iterable

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from refills.services import ClinicalValidationError
from refills.validation import Finding


def add_findings(
    form: forms.Form, findings: Iterable[Finding], field_map: dict[str, str] | None = None
) -> None:
    """Show each service finding under its own input (or at the top of the form)."""
    field_map = field_map or {}
    for finding in findings:
        form.add_error(
            _input_for(form, finding.field or NON_FIELD_ERRORS, field_map), finding.message
        )


def _input_for(form: forms.Form, key: str, field_map: dict[str, str]) -> str | None:
    """The visible input an error about `key` goes under; None for the top of the form."""
    name = field_map.get(key, key)
    field = form.fields.get(name) if name != NON_FIELD_ERRORS else None
    return name if field is not None and not field.widget.is_hidden else None


def _add_field_errors(
    form: forms.Form, error: ValidationError, field_map: dict[str, str], *, on_top: bool
) -> None:
    if on_top or not hasattr(error, "error_dict"):
        for message in error.messages:
            form.add_error(None, message)
        return
    for key, messages in error.message_dict.items():
        target = _input_for(form, key, field_map)
        for message in messages:
            form.add_error(target, message)


def add_findings_to_form(
    form: forms.Form,
    error: ValidationError,
    field_map: dict[str, str] | None = None,
    *,
    plain_errors_on_top: bool = False,
) -> None:
    """Show a service's refusal on the form, each message in place.

    `field_map` maps the service's field names to the form's inputs. A form that
    places some findings itself (the program form shows those about the flex steps'
    total with the steps) has an `add_findings(findings)` method, used here.
    `plain_errors_on_top` puts every message of an error that is not a
    ClinicalValidationError at the top of the form, whatever field it names: the
    refill, program and appointment pages have always shown such refusals (a model's
    full_clean, a state check) there, while their clinical findings go by input.
    """
    field_map = field_map or {}
    if isinstance(error, ClinicalValidationError):
        place = getattr(form, "add_findings", None)
        if callable(place):
            place(error.findings)
        else:
            add_findings(form, error.findings, field_map)
        return
    _add_field_errors(form, error, field_map, on_top=plain_errors_on_top)
