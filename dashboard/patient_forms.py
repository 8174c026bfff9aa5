"""Forms for registering patients, caregivers, implanted pumps and pump reports.

They parse and label input; patients.services and refills.services decide what
is valid and write. `add_service_errors` (dashboard.forms.findings.add_findings_to_form)
puts a service's ValidationError under the input it is about, or at the top of the form.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Fieldset, Layout, Row
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from patients.models import (
    ALARM_VOLUME_MAX_ML,
    ALARM_VOLUME_MIN_ML,
    Caregiver,
    Channel,
    Clinic,
    Patient,
    Pump,
    PumpModel,
    SpasticityOrigin,
)
from patients.validators import normalize_phone, region_timezones
from pumptrack.limits import free_text_field
from refills.models import ReportKind
from refills.policy import replacement_warning

from .form_choices import clinics_by_name, mrn_taken, pump_models, serial_taken
from .forms.fields import DATETIME_LOCAL, DateInput, DateTimeLocalInput
from .forms.findings import add_findings_to_form

# The pages call it by this name: the one helper that puts a service's refusal on a form.
add_service_errors = add_findings_to_form

# Dates outside these bounds are typing slips, and far-future dates overflow the
# date arithmetic of the forecast (ERI + grace, replacement date + margin).
EARLIEST_BIRTH = dt.date(1900, 1, 1)
EARLIEST_IMPLANT = dt.date(1980, 1, 1)
LATEST_PLANNED_YEARS = 20
EARLIEST_REPORT = dt.datetime(2000, 1, 1)
# A report typed a few minutes ahead of the server clock is a clock skew, not the future.
REPORT_CLOCK_SLACK = dt.timedelta(minutes=10)
# The alarm-volume limits are the model's validators (patients.models); the 4 mL is
# domain.md's advice after symptoms before the alarm, not a limit.
ALARM_VOLUME_HELP = (
    f"{ALARM_VOLUME_MIN_ML.normalize():f}–{ALARM_VOLUME_MAX_ML.normalize():f} mL; "
    "consider 4 mL after symptoms before the alarm."
)
PHONE_MAX_TYPED = 30  # "+1 (617) 555-0142 ext. 12" typed; stored as E.164 (≤ 16).

PATIENT_RISK_FIELDS = (
    *(name for name, _ in Patient.LABEL_RISK_FACTORS),
    *(name for name, _ in Patient.OTHER_RISK_FACTORS),
    "oral_baclofen_bridge",
)


@lru_cache(maxsize=1)
def timezone_choices() -> tuple[tuple[str, str], ...]:
    return tuple((name, name.replace("_", " ")) for name in sorted(region_timezones()))


def _verbose(model, name: str) -> str:
    label = str(model._meta.get_field(name).verbose_name)
    return label[:1].upper() + label[1:]


def _char(model, name: str, *, required: bool | None = None, **kwargs) -> forms.CharField:
    model_field = model._meta.get_field(name)
    return forms.CharField(
        label=kwargs.pop("label", _verbose(model, name)),
        max_length=model_field.max_length,
        required=(not model_field.blank) if required is None else required,
        help_text=kwargs.pop("help_text", model_field.help_text),
        **kwargs,
    )


def _boolean(model, name: str) -> forms.BooleanField:
    model_field = model._meta.get_field(name)
    return forms.BooleanField(
        label=_verbose(model, name), required=False, help_text=model_field.help_text
    )


def _phone(help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label="Mobile phone",
        required=False,
        max_length=PHONE_MAX_TYPED,
        help_text=help_text
        or "Type it as you hear it, e.g. (617) 555-0142; it is stored as +16175550142.",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )


def _timezone(help_text: str) -> forms.ChoiceField:
    return forms.ChoiceField(
        label="Time zone", required=False, help_text=help_text, choices=[("", "—")]
    )


def _helper(*layout) -> FormHelper:
    helper = FormHelper()
    helper.form_tag = False
    if layout:
        helper.layout = Layout(*layout)
    return helper


class ContactRulesMixin:
    """The checks a person's contacts need, shown with the other errors before saving."""

    def clean_phone(self) -> str:
        # The service normalises too; doing it here shows the error with the others.
        return normalize_phone(self.cleaned_data.get("phone", ""))

    def check_channel(self, data: dict) -> None:
        channel = data.get("preferred_channel")
        if channel == Channel.SMS and "phone" in data and not data.get("phone"):
            self.add_error("phone", "Text-message reminders need a mobile phone number.")
        if channel == Channel.EMAIL and "email" in data and not data.get("email"):
            self.add_error("email", "Email reminders need an email address.")


# --------------------------------------------------------------------------- patient


def _patient_helper(*, with_clinic: bool) -> FormHelper:
    """Identity (with the clinic picker when there is a choice), contact, risk factors."""
    identity = [
        Row(
            Column("given_name", css_class="col-md-4"),
            Column("family_name", css_class="col-md-4"),
            Column("mrn", css_class="col-md-4"),
        ),
        Row(
            Column("date_of_birth", css_class="col-md-4"),
            Column("spasticity_origin", css_class="col-md-4"),
        ),
    ]
    if with_clinic:
        identity.insert(0, "clinic")
    return _helper(
        Fieldset("Identity", *identity),
        Fieldset(
            "Contact and reminders",
            Row(
                Column("phone", css_class="col-md-6"),
                Column("email", css_class="col-md-6"),
            ),
            Row(
                Column("preferred_channel", css_class="col-md-6"),
                Column("timezone", css_class="col-md-6"),
            ),
            "consent_sms",
            "consent_email",
        ),
        Fieldset(
            "Withdrawal risk factors",
            Row(
                Column(
                    "sci_t6_or_above",
                    "communication_difficulty",
                    "prior_withdrawal",
                    "prior_prealarm_symptoms",
                    "caregiver_managed",
                    css_class="col-md-6",
                ),
                Column(
                    "cognitive_impairment",
                    "transport_barrier",
                    "hearing_impairment",
                    "lives_in_care_facility",
                    "oral_baclofen_bridge",
                    css_class="col-md-6",
                ),
            ),
        ),
        "notes",
    )


class PatientForm(ContactRulesMixin, forms.Form):
    clinic = forms.ModelChoiceField(label="Clinic", queryset=Clinic.objects.none())
    mrn = _char(Patient, "mrn", help_text="The hospital's medical record number.")
    given_name = _char(Patient, "given_name")
    family_name = _char(Patient, "family_name")
    date_of_birth = forms.DateField(label="Date of birth", widget=DateInput())
    spasticity_origin = forms.ChoiceField(
        label="Spasticity origin",
        choices=SpasticityOrigin.choices,
        help_text=Patient._meta.get_field("spasticity_origin").help_text,
    )
    phone = _phone()
    email = forms.EmailField(label="Email", required=False, max_length=254)
    preferred_channel = forms.ChoiceField(label="Send reminders by", choices=Channel.choices)
    consent_sms = _boolean(Patient, "consent_sms")
    consent_email = _boolean(Patient, "consent_email")
    timezone = _timezone("Leave empty to use the clinic's time zone.")
    sci_t6_or_above = _boolean(Patient, "sci_t6_or_above")
    communication_difficulty = _boolean(Patient, "communication_difficulty")
    prior_withdrawal = _boolean(Patient, "prior_withdrawal")
    cognitive_impairment = _boolean(Patient, "cognitive_impairment")
    transport_barrier = _boolean(Patient, "transport_barrier")
    hearing_impairment = _boolean(Patient, "hearing_impairment")
    lives_in_care_facility = _boolean(Patient, "lives_in_care_facility")
    caregiver_managed = _boolean(Patient, "caregiver_managed")
    prior_prealarm_symptoms = _boolean(Patient, "prior_prealarm_symptoms")
    oral_baclofen_bridge = _boolean(Patient, "oral_baclofen_bridge")
    notes = free_text_field(label="Notes", rows=3)

    def __init__(self, *args, clinics=None, patient: Patient | None = None, **kwargs):
        """`clinics`: where a new patient may be registered; `patient`: the one edited."""
        super().__init__(*args, **kwargs)
        self.patient = patient
        self.fields["timezone"].choices = [("", "The clinic's time zone"), *timezone_choices()]
        clinics = list(clinics or [])
        if patient is not None or len(clinics) <= 1:
            # Chosen for the user: their only clinic, or the edited patient's.
            del self.fields["clinic"]
            self.fixed_clinic = patient.clinic if patient is not None else clinics[0]
        else:
            self.fixed_clinic = None
            self.fields["clinic"].queryset = clinics_by_name(clinics)
        self.helper = _patient_helper(with_clinic="clinic" in self.fields)

    @property
    def chosen_clinic(self) -> Clinic:
        return self.fixed_clinic or self.cleaned_data["clinic"]

    def clean_date_of_birth(self):
        born = self.cleaned_data["date_of_birth"]
        if born < EARLIEST_BIRTH:
            raise ValidationError("Check the year of birth.")
        return born

    def clean(self):
        data = super().clean()
        self.check_channel(data)
        mrn = (data.get("mrn") or "").strip()
        clinic = self.fixed_clinic or data.get("clinic")
        if mrn and clinic is not None:
            data["mrn"] = mrn
            if mrn_taken(clinic=clinic, mrn=mrn, patient=self.patient):
                self.add_error("mrn", f"Another patient at {clinic.name} has MRN {mrn}.")
        return data

    def patient_fields(self) -> dict:
        """The keyword arguments of patients.services.patient_create / patient_update."""
        data = self.cleaned_data
        return {name: data[name] for name in self.fields if name != "clinic"}


def patient_initial(patient: Patient) -> dict:
    return {name: getattr(patient, name) for name in PatientForm.base_fields if name != "clinic"}


# --------------------------------------------------------------------------- caregiver


class CaregiverForm(ContactRulesMixin, forms.Form):
    name = _char(Caregiver, "name", label="Name")
    relationship = _char(Caregiver, "relationship", label="Relationship to the patient")
    phone = _phone()
    email = forms.EmailField(label="Email", required=False, max_length=254)
    preferred_channel = forms.ChoiceField(label="Send reminders by", choices=Channel.choices)
    consent_sms = _boolean(Caregiver, "consent_sms")
    consent_email = _boolean(Caregiver, "consent_email")
    receives_reminders = forms.BooleanField(
        label="Receives refill reminders",
        required=False,
        initial=True,
        help_text="Untick to keep the caregiver on record without sending them reminders.",
    )
    timezone = _timezone("Leave empty to use the patient's time zone.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = [("", "The patient's time zone"), *timezone_choices()]
        self.helper = _helper(
            Row(
                Column("name", css_class="col-md-6"),
                Column("relationship", css_class="col-md-6"),
            ),
            Row(
                Column("phone", css_class="col-md-6"),
                Column("email", css_class="col-md-6"),
            ),
            Row(
                Column("preferred_channel", css_class="col-md-6"),
                Column("timezone", css_class="col-md-6"),
            ),
            "consent_sms",
            "consent_email",
            "receives_reminders",
        )

    def clean(self):
        data = super().clean()
        if data.get("receives_reminders"):
            self.check_channel(data)
        return data

    def caregiver_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.fields}


def caregiver_initial(caregiver: Caregiver) -> dict:
    return {name: getattr(caregiver, name) for name in CaregiverForm.base_fields}


# --------------------------------------------------------------------------- pumps


def _alarm_volume(*, required: bool, help_text: str) -> forms.DecimalField:
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
    serial_number = _char(Pump, "serial_number", label="Serial number")
    implanted_on = forms.DateField(label="Implant date", widget=DateInput())
    alarm_volume_ml = _alarm_volume(
        required=False,
        help_text=f"Leave empty for the model's default. {ALARM_VOLUME_HELP}",
    )
    alarm_volume_ml.widget.attrs["placeholder"] = "Model default"

    def __init__(self, *args, today: dt.date, replaces: Pump | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today
        self.replaces = replaces
        self.fields["model"].queryset = pump_models()
        if replaces is not None:
            self.fields["implanted_on"].label = "Replacement date"
            self.fields["implanted_on"].help_text = (
                f"The current pump (SN {replaces.serial_number}) is recorded as explanted "
                "on this date."
            )
        self.helper = _helper(
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
                f"({self.replaces.implanted_on:%a %d %b %Y})."
            )
        return day

    def clean(self):
        data = super().clean()
        model, serial = data.get("model"), data.get("serial_number")
        if model is not None and serial and serial_taken(model=model, serial=serial):
            self.add_error(
                "serial_number",
                f"A {model.name} {model.model_number} with serial number {serial} is "
                "already recorded. Check the serial number on the implant card.",
            )
        return data


class PumpEditForm(forms.Form):
    alarm_volume_ml = _alarm_volume(required=True, help_text=ALARM_VOLUME_HELP)
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
        self.helper = _helper(
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
        self.helper = _helper(
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
                f"({self.pump.implanted_on:%a %d %b %Y})."
            )
        return day


# --------------------------------------------------------------------------- pump reports


class PumpReportForm(forms.Form):
    kind = forms.ChoiceField(
        label="What was reported",
        choices=[("", "Choose…"), *ReportKind.choices],
        help_text="A critical alarm or withdrawal symptoms make the patient CRITICAL until "
        "the report is resolved.",
    )
    reported_at = forms.DateTimeField(
        label="When",
        widget=DateTimeLocalInput(),
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        help_text="Clinic time: when the alarm was heard or the symptoms began.",
    )
    details = free_text_field(
        label="Details",
        rows=3,
        help_text="Who called, what they heard or noticed, what they were told to do.",
    )

    def __init__(self, *args, now: dt.datetime, **kwargs):
        super().__init__(*args, **kwargs)
        self.now = now
        self.helper = _helper(
            Row(
                Column("kind", css_class="col-md-7"),
                Column("reported_at", css_class="col-md-5"),
            ),
            "details",
        )

    def clean_reported_at(self):
        when = self.cleaned_data["reported_at"]
        earliest = timezone.make_aware(EARLIEST_REPORT, timezone.get_current_timezone())
        if when < earliest:
            raise ValidationError("Check the date: that is too far back.")
        if when > self.now + REPORT_CLOCK_SLACK:
            raise ValidationError("The report cannot be in the future.")
        return when


def report_initial(*, now: dt.datetime) -> dict:
    local = timezone.localtime(now)
    return {"reported_at": local.replace(second=0, microsecond=0, tzinfo=None)}


class ReportResolveForm(forms.Form):
    resolution = free_text_field(
        label="Resolution note",
        rows=3,
        required=True,
        help_text="What was done: pump interrogated, refilled, patient seen in the emergency "
        "department…",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = _helper()
