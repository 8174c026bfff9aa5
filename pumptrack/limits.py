"""Upper bounds for free text typed by staff (notes, reasons, assessments, templates).

A 2 MB alert note was once stored: every free-text form field and the services behind
them refuse text longer than ``settings.PUMPTRACK_FREE_TEXT_MAX_CHARS`` (4,000 by default,
about two pages) with an error a nurse understands. Models whose rows are written through
full_clean() carry :class:`FreeTextLengthValidator` too.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible


def free_text_max() -> int:
    return int(settings.PUMPTRACK_FREE_TEXT_MAX_CHARS)


def too_long_message(limit: int, length: int) -> str:
    return (
        f"This is too long: keep it to {limit:,} characters or fewer (it has {length:,}). "
        "Attach long documents to the patient's record instead."
    )


@deconstructible
class FreeTextLengthValidator:
    """Model and form validator; reads the limit when it runs, so migrations stay stable."""

    def __call__(self, value) -> None:
        limit = free_text_max()
        if value is not None and len(str(value)) > limit:
            raise ValidationError(too_long_message(limit, len(str(value))), code="max_length")

    def __eq__(self, other) -> bool:
        return isinstance(other, FreeTextLengthValidator)

    def __hash__(self) -> int:
        return hash(type(self))


def check_free_text(**fields: str) -> None:
    """For services: raise one ValidationError naming every field that is too long."""
    limit = free_text_max()
    errors = {
        name: too_long_message(limit, len(value))
        for name, value in fields.items()
        if value is not None and len(value) > limit
    }
    if errors:
        raise ValidationError(errors)


def checked_on_submit(field: forms.CharField) -> forms.CharField:
    """The field without the browser's maxlength attribute: a browser silently cuts a
    longer paste or typing at that length, so the nurse never learns that part of what
    they wrote is gone. The server refuses over-long text with a message instead."""
    field.widget.attrs.pop("maxlength", None)
    limit = field.max_length
    if limit is not None:
        field.error_messages.setdefault("max_length", "")
        if "%(show_value)s" not in field.error_messages["max_length"]:
            field.error_messages["max_length"] = (
                f"This is too long: keep it to {limit:,} characters or fewer "
                "(it has %(show_value)s). Nothing was saved."
            )
    return field


def free_text_field(*, label: str, rows: int = 2, required: bool = False, **kwargs):
    """A Textarea form field bounded like every other free-text field."""
    limit = free_text_max()
    field = forms.CharField(
        label=label,
        required=required,
        max_length=limit,
        error_messages={
            "max_length": f"This is too long: keep it to {limit:,} characters or fewer "
            "(it has %(show_value)s).",
            **kwargs.pop("error_messages", {}),
        },
        widget=forms.Textarea(attrs={"rows": rows}),
        **kwargs,
    )
    return checked_on_submit(field)
