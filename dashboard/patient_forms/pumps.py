"""Implanting, editing and explanting a pump."""

from __future__ import annotations

import datetime as dt

from crispy_forms.layout import Column, Row
from django import forms
from django.core.exceptions import ValidationError

from patients.models import (
    ALARM_VOLUME_MAX_ML,
    ALARM_VOLUME_MIN_ML,
    Clinic,
    Pump,
    PumpModel,
)
from pumptrack.dates import date_text
from refills.policy import replacement_warning

from ..form_choices import pump_models, serial_taken
from ..forms.fields import DateInput
from .common import (
    ALARM_VOLUME_HELP,
    EARLIEST_IMPLANT,
    LATEST_PLANNED_YEARS,
    char_field,
    form_helper,
)


def alarm_volume_field(*, required: bool, help_text: str) -> forms.DecimalField:
    return forms.DecimalField(
        label="Low-reservoir alarm volume (mL)",
        required=required,
        min_value=ALARM_VOLUME_MIN_ML,
        max_value=ALARM_VOLUME_MAX_ML,
        max_digits=3,
        decimal_places=1,
        help_text=help_text,
        widget=forms.NumberInput(attrs={"step": "0.1", "inputmode": "decimal"}),
    )


class PumpModelChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: PumpModel) -> str:
        return (
            f"{obj.manufacturer} {obj.name} {obj.model_number}, "
            f"{obj.reservoir_capacity_ml.normalize():f} mL "
            f"(alarm default {obj.default_alarm_volume_ml.normalize():f} mL)"
        )


class PumpImplantForm(forms.Form):
    model = PumpModelChoiceField(
        label="Pump model", queryset=PumpModel.objects.none(), empty_label="Choose…"
    )
    serial_number = char_field(Pump, "serial_number", label="Serial number")
    implanted_on = forms.DateField(label="Implant date", widget=DateInput())
    alarm_volume_ml = alarm_volume_field(
        required=False,
        help_text=f"Leave empty for the model's default. {ALARM_VOLUME_HELP}",
    )
    alarm_volume_ml.widget.attrs["placeholder"] = "Model default"

    def __init__(
        self, *args, today: dt.date, clinic: Clinic, replaces: Pump | None = None, **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.today = today
        self.clinic = clinic
        self.replaces = replaces
        self.fields["model"].queryset = pump_models()
        if replaces is not None:
            self.fields["implanted_on"].label = "Replacement date"
            self.fields["implanted_on"].help_text = (
                f"The current pump (SN {replaces.serial_number}) is recorded as explanted "
                "on this date."
            )
        self.helper = form_helper(
            Row(
                Column("model", css_class="col-md-8"),
                Column("serial_number", css_class="col-md-4"),
            ),
            Row(
                Column("implanted_on", css_class="col-md-6"),
                Column("alarm_volume_ml", css_class="col-md-6"),
            ),
        )

    def clean_serial_number(self):
        return self.cleaned_data["serial_number"].strip()

    def clean_implanted_on(self):
        day = self.cleaned_data["implanted_on"]
        if day < EARLIEST_IMPLANT:
            raise ValidationError("Check the year: that is before ITB pumps were in use.")
        if day > self.today:
            raise ValidationError("The implant date cannot be in the future.")
        if self.replaces is not None and day < self.replaces.implanted_on:
            raise ValidationError(
                f"The replacement cannot be before the current pump's implant date "
                f"({date_text(self.replaces.implanted_on)})."
            )
        return day

    def clean(self):
        data = super().clean()
        model, serial = data.get("model"), data.get("serial_number")
        # Within this clinic only: another clinic's pumps are neither a reason to refuse
        # nor something to hint at.
        if (
            model is not None
            and serial
            and serial_taken(clinic=self.clinic, model=model, serial=serial)
        ):
            self.add_error(
                "serial_number",
                f"A {model.name} {model.model_number} with serial number {serial} is "
                "already recorded for a patient of this clinic. Check the serial number on "
                "the implant card.",
            )
        return data


class PumpEditForm(forms.Form):
    alarm_volume_ml = alarm_volume_field(required=True, help_text=ALARM_VOLUME_HELP)
    eri_on = forms.DateField(
        label="Elective replacement indicator (ERI) date",
        required=False,
        widget=DateInput(),
        help_text="When the programmer first showed ERI.",
    )
    planned_replacement_on = forms.DateField(
        label="Planned replacement date",
        required=False,
        widget=DateInput(),
        help_text="The refill-by date will not fall after it. Plan it well before the pump's "
        "end of service: a date after end of service is not a replacement plan.",
    )

    FIELDS = ("alarm_volume_ml", "eri_on", "planned_replacement_on")

    def __init__(self, *args, pump: Pump, today: dt.date, **kwargs):
        super().__init__(*args, **kwargs)
        self.pump = pump
        self.today = today
        self.helper = form_helper(
            Row(
                Column("alarm_volume_ml", css_class="col-md-4"),
                Column("eri_on", css_class="col-md-4"),
                Column("planned_replacement_on", css_class="col-md-4"),
            )
        )

    def _not_absurd(self, name: str) -> dt.date | None:
        day = self.cleaned_data.get(name)
        if day is None:
            return None
        latest = self.today + dt.timedelta(days=365 * LATEST_PLANNED_YEARS)
        if day < self.pump.implanted_on:
            raise ValidationError("This date cannot be before the implant date.")
        if day > latest:
            raise ValidationError("Check the year: that is too far ahead.")
        return day

    def clean_eri_on(self):
        return self._not_absurd("eri_on")

    def clean_planned_replacement_on(self):
        return self._not_absurd("planned_replacement_on")

    def clean(self):
        data = super().clean()
        # Saved, but said plainly: a date after end of service is not a plan, and one less
        # than 90 days before it is too late (domain §7.1 #9). The tier says it too.
        self.replacement_warning = ""
        planned = data.get("planned_replacement_on")
        if planned is not None and "eri_on" not in self.errors:
            pump = Pump(
                model=self.pump.model,
                implanted_on=self.pump.implanted_on,
                eri_on=data.get("eri_on"),
            )
            self.replacement_warning = replacement_warning(
                planned_on=planned, end_of_service_on=pump.end_of_service_on, today=self.today
            )
        return data

    def changed_fields(self) -> dict:
        """Only what differs from the stored pump, so history records real changes."""
        return {
            name: self.cleaned_data[name]
            for name in self.FIELDS
            if getattr(self.pump, name) != self.cleaned_data[name]
        }


def pump_edit_initial(pump: Pump) -> dict:
    return {name: getattr(pump, name) for name in PumpEditForm.FIELDS}


class PumpExplantForm(forms.Form):
    """Removed and not replaced: the date, the reason, and an explicit acknowledgement."""

    explanted_on = forms.DateField(label="Explant date", widget=DateInput())
    explant_reason = forms.CharField(
        label="Reason",
        max_length=Pump._meta.get_field("explant_reason").max_length,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For example: infection, therapy stopped, catheter problem, patient's choice.",
        error_messages={"required": "Say why the pump was removed."},
    )
    understood = forms.BooleanField(
        label="I understand that this patient will get no more refill reminders or alerts "
        "for this pump, and the physician has a plan for stopping intrathecal baclofen.",
        error_messages={
            "required": "Tick to confirm that the physician has a plan before you record this."
        },
    )

    def __init__(self, *args, pump: Pump, today: dt.date, **kwargs):
        super().__init__(*args, **kwargs)
        self.pump = pump
        self.today = today
        self.helper = form_helper(
            Row(Column("explanted_on", css_class="col-md-5")),
            "explant_reason",
            "understood",
        )

    def clean_explanted_on(self):
        day = self.cleaned_data["explanted_on"]
        if day > self.today:
            raise ValidationError("The explant date cannot be in the future.")
        if day < self.pump.implanted_on:
            raise ValidationError(
                f"The explant date cannot be before the implant date "
                f"({date_text(self.pump.implanted_on)})."
            )
        return day
