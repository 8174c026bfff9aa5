"""Clinics, patients, caregivers, the pump catalogue and implanted pumps.

Forecasts and clinical events (programs, refills, appointments) live in the
refills app; this app holds who the patient is and what is implanted.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Trim, Upper
from phonenumber_field.modelfields import PhoneNumberField
from simple_history.models import HistoricalRecords

from pumptrack.dates import DATE_PADDED, WEEKDAY_DATE_PADDED, date_text

from .fields import RegionTimeZoneField, as_zone
from .phones import normalize_phone
from .serials import KEY_MAX_LENGTH, serial_sort_key

ALARM_VOLUME_MIN_ML = Decimal("2.0")
ALARM_VOLUME_MAX_ML = Decimal("5.0")


class NormalizedPhonesMixin:
    """Turn typed phone numbers into E.164 before the field validators see them.

    Field validators run before clean(), so normalising in clean() would reject
    every number a nurse types with spaces or brackets; and a number that cannot be
    used gets the nurse-readable message of patients.phones, once, instead of the
    library's generic one.
    """

    PHONE_FIELDS: tuple[str, ...] = ("phone",)

    def clean_fields(self, exclude=None):
        errors: dict[str, list[str]] = {}
        exclude = set(exclude or ())
        for name in self.PHONE_FIELDS:
            if name in exclude:
                continue
            try:
                setattr(self, name, normalize_phone(getattr(self, name)))
            except ValidationError as exc:
                errors[name] = exc.messages
                exclude.add(name)  # report the problem once, not again from the validator
        try:
            super().clean_fields(exclude=exclude)
        except ValidationError as exc:
            errors.update(exc.message_dict)
        if errors:
            raise ValidationError(errors)


class Channel(models.TextChoices):
    SMS = "sms", "Text message (SMS)"
    EMAIL = "email", "Email"
    NONE = "none", "No reminders (phone calls only)"


WEEKDAY_CHOICES = (
    ("0", "Monday"),
    ("1", "Tuesday"),
    ("2", "Wednesday"),
    ("3", "Thursday"),
    ("4", "Friday"),
    ("5", "Saturday"),
    ("6", "Sunday"),
)


def working_days_text(days: str) -> str:
    """Stored weekday digits in words: a run of three or more days as a range ("01234" is
    "Mon–Fri"), other days by name ("024" is "Mon, Wed, Fri"). The clinic pages and the
    audit trail both show working days through this one function."""
    names = dict(WEEKDAY_CHOICES)
    numbers = sorted({int(d) for d in days if d in names})
    runs: list[list[int]] = []
    for n in numbers:
        if runs and runs[-1][-1] == n - 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    parts = []
    for run in runs:
        first, last = names[str(run[0])][:3], names[str(run[-1])][:3]
        if len(run) >= 3:
            parts.append(f"{first}–{last}")
        else:
            parts.extend(names[str(n)][:3] for n in run)
    return ", ".join(parts)


def validate_working_days(value: str) -> None:
    """Weekday digits, Monday = 0, each at most once: "01234" is Monday to Friday."""
    if not value:
        raise ValidationError("Choose at least one working day.", code="no_working_day")
    if set(value) - {day for day, _ in WEEKDAY_CHOICES} or len(set(value)) != len(value):
        raise ValidationError(
            "Working days are weekday numbers from 0 (Monday) to 6 (Sunday), each once.",
            code="invalid_working_days",
        )


# Callables, so a new clinic takes the settings in force (PUMPTRACK_CLINIC_HOURS) and the
# migration does not freeze today's environment.
def default_working_days() -> str:
    return "".join(str(day) for day in settings.PUMPTRACK_CLINIC_HOURS["WORKING_DAYS"])


def default_day_starts() -> dt.time:
    return settings.PUMPTRACK_CLINIC_HOURS["DAY_STARTS"]


def default_day_ends() -> dt.time:
    return settings.PUMPTRACK_CLINIC_HOURS["DAY_ENDS"]


class Clinic(NormalizedPhonesMixin, models.Model):
    PHONE_FIELDS = ("phone", "after_hours_phone")

    name = models.CharField(max_length=200, unique=True)
    timezone = RegionTimeZoneField(
        max_length=64,
        default=settings.PUMPTRACK_DEFAULT_CLINIC_TIMEZONE,
        help_text="Dates and reminder hours are shown and computed in this zone.",
    )
    phone = PhoneNumberField(
        "phone number patients call",
        max_length=20,
        help_text="Printed on reminders and the emergency card.",
    )
    after_hours_phone = PhoneNumberField(
        "after-hours / pump team emergency number",
        max_length=20,
        blank=True,
    )
    default_refill_margin_days = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(3), MaxValueValidator(30)],
        help_text="Days between the refill-by date and the conservative alarm date. "
        "At least 3 (Gillette: refill 3 to 5 days before the alarm date).",
    )
    # Opening hours: the proposed refill appointment falls inside them
    # (refills/scheduling.py latest_safe_start).
    working_days = models.CharField(
        "working weekdays",
        max_length=7,
        default=default_working_days,
        validators=[validate_working_days],
        help_text="Days the clinic sees patients for refills (0 = Monday … 6 = Sunday).",
    )
    day_starts = models.TimeField(
        "opens at",
        default=default_day_starts,
        help_text="Clinic time. The first refill appointment of a day starts here.",
    )
    day_ends = models.TimeField(
        "closes at",
        default=default_day_ends,
        help_text="Clinic time. No appointment is proposed at or after this time.",
    )
    # The capacity report sets the refills due each week against these slots.
    refill_slots_per_day = models.PositiveSmallIntegerField(
        "refill slots per day",
        default=8,
        validators=[MinValueValidator(1), MaxValueValidator(500)],
        help_text="Refill appointments the clinic can give on a working day. The capacity "
        "report marks the weeks when more refills fall due than there are slots.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(default_refill_margin_days__gte=3),
                name="clinic_margin_at_least_3_days",
            ),
            models.CheckConstraint(condition=~Q(working_days=""), name="clinic_has_a_working_day"),
            models.CheckConstraint(
                condition=Q(day_starts__lt=F("day_ends")), name="clinic_opens_before_it_closes"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> ZoneInfo:
        return as_zone(self.timezone)

    @property
    def working_weekdays(self) -> frozenset[int]:
        """The working days as weekday numbers (Monday = 0), as datetime.weekday() gives."""
        return frozenset(int(day) for day in self.working_days)

    def clean(self) -> None:
        if self.day_starts and self.day_ends and self.day_starts >= self.day_ends:
            raise ValidationError(
                {"day_ends": "The clinic must close after it opens (same day, clinic time)."}
            )


# A closure longer than this is almost certainly a typo (a year typed wrong), and a
# clinic shut for longer is not running refills: say so instead of saving it.
CLOSURE_MAX_DAYS = 366


class ClinicClosure(models.Model):
    """Days a clinic is shut (public holidays, training days, a move), entered by its
    managers: one day or a range, with the reason staff see. Bookings on these days need
    a reason (refills/services/appointments.py) and no proposal falls on one
    (refills/scheduling.py). Calendar days in the clinic's zone."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="closures")
    first_day = models.DateField("first day closed")
    last_day = models.DateField("last day closed", help_text="The same day for one day.")
    reason = models.CharField(
        max_length=200, help_text="Shown to staff on the calendar and when booking."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["first_day"]
        constraints = [
            models.CheckConstraint(
                condition=Q(first_day__lte=F("last_day")), name="closure_ends_after_it_starts"
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="closure_has_reason"),
        ]
        indexes = [models.Index(fields=["clinic", "last_day"])]

    def __str__(self) -> str:
        return f"{self.clinic} closed {self.days_text}: {self.reason}"

    @property
    def days_text(self) -> str:
        if self.first_day == self.last_day:
            return date_text(self.first_day)
        return f"{date_text(self.first_day)} to {date_text(self.last_day)}"

    def clean(self) -> None:
        self.reason = (self.reason or "").strip()
        if not self.reason:
            raise ValidationError({"reason": "Say why the clinic is closed (staff see it)."})
        if self.first_day and self.last_day:
            if self.last_day < self.first_day:
                raise ValidationError(
                    {"last_day": "The last day closed cannot be before the first day."}
                )
            if (self.last_day - self.first_day).days >= CLOSURE_MAX_DAYS:
                raise ValidationError(
                    {"last_day": f"A closure can be at most {CLOSURE_MAX_DAYS} days long."}
                )


class PumpModel(models.Model):
    """A catalogue row per pump model: parameters are configuration, not constants."""

    manufacturer = models.CharField(max_length=100)
    model_number = models.CharField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    reservoir_capacity_ml = models.DecimalField(max_digits=5, decimal_places=1)
    default_alarm_volume_ml = models.DecimalField(
        "default low-reservoir alarm volume (mL)", max_digits=4, decimal_places=1
    )
    alarm_volume_min_ml = models.DecimalField(
        max_digits=4, decimal_places=1, null=True, blank=True, help_text="Empty if unknown."
    )
    alarm_volume_max_ml = models.DecimalField(
        max_digits=4, decimal_places=1, null=True, blank=True, help_text="Empty if unknown."
    )
    empty_volume_ml = models.DecimalField(
        "volume at which the pump can no longer deliver (mL)",
        max_digits=4,
        decimal_places=1,
        default=Decimal("0"),
        help_text="Unconfirmed by the manufacturers' manuals; 0 projects the latest empty date.",
    )
    programmable = models.BooleanField(default=True)
    has_volume_sensor = models.BooleanField(default=False)
    max_service_life_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Automatic shut-down age (SynchroMed II: 7 years)."
    )
    eri_to_eos_days = models.PositiveIntegerField(
        "days from ERI to end of service", null=True, blank=True
    )
    flow_accuracy_tolerance = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        null=True,
        blank=True,
        help_text="Fraction, e.g. 0.150 for ±15 %. Empty uses the clinic-wide setting.",
    )
    minimum_age_years = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Labelled minimum age for baclofen with this pump."
    )
    mri_notes = models.TextField(blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["manufacturer", "model_number"]
        constraints = [
            models.CheckConstraint(
                condition=Q(reservoir_capacity_ml__gt=0), name="pumpmodel_capacity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.model_number}, {self.reservoir_capacity_ml} mL)"


class SpasticityOrigin(models.TextChoices):
    SPINAL = "spinal", "Spinal origin"
    CEREBRAL = "cerebral", "Cerebral origin"


class Patient(NormalizedPhonesMixin, models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    mrn = models.CharField("MRN", max_length=40)
    given_name = models.CharField("first name", max_length=100)
    family_name = models.CharField("last name", max_length=100)
    date_of_birth = models.DateField()
    spasticity_origin = models.CharField(
        max_length=10,
        choices=SpasticityOrigin.choices,
        default=SpasticityOrigin.SPINAL,
        help_text="Sets the dose-change limits (spinal +40 %, cerebral +20 %).",
    )
    phone = PhoneNumberField(max_length=20, blank=True)
    email = models.EmailField(blank=True)
    preferred_channel = models.CharField(
        max_length=10, choices=Channel.choices, default=Channel.SMS
    )
    consent_sms = models.BooleanField("consents to text messages", default=False)
    consent_email = models.BooleanField("consents to email", default=False)
    timezone = RegionTimeZoneField(
        max_length=64,
        blank=True,
        help_text="Leave empty to use the clinic's time zone.",
    )
    # The label's named risk factors (Gablofen §5.5).
    sci_t6_or_above = models.BooleanField("spinal cord injury at T6 or above", default=False)
    communication_difficulty = models.BooleanField(default=False)
    prior_withdrawal = models.BooleanField("history of baclofen withdrawal", default=False)
    # Other documented factors (domain §3.5, §8).
    cognitive_impairment = models.BooleanField(default=False)
    transport_barrier = models.BooleanField("transport, weather or travel barrier", default=False)
    hearing_impairment = models.BooleanField(
        "hearing impairment or alarm hard to hear", default=False
    )
    lives_in_care_facility = models.BooleanField(default=False)
    caregiver_managed = models.BooleanField(
        "caregiver-managed (dependent child or adult)", default=False
    )
    prior_prealarm_symptoms = models.BooleanField(
        "symptoms before the low-reservoir alarm in the past", default=False
    )
    oral_baclofen_bridge = models.BooleanField(
        "oral baclofen available as a bridge",
        default=False,
        help_text="Recorded for the care team. It never lowers the withdrawal-risk tier.",
    )
    notes = models.TextField(blank=True)
    is_active = models.BooleanField("under the clinic's care", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["family_name", "given_name"]
        constraints = [
            # "RV-0002", "rv-0002 " and " Rv-0002" are one record number: unique by
            # the trimmed, upper-cased MRN (the form says so first; this is the guard).
            models.UniqueConstraint(
                "clinic",
                Upper(Trim("mrn")),
                name="patient_mrn_unique_in_clinic_ci",
                violation_error_message="Another patient at this clinic has this MRN "
                "(MRNs are compared ignoring case and surrounding spaces).",
            )
        ]
        indexes = [models.Index(fields=["clinic", "family_name", "given_name"])]

    def __str__(self) -> str:
        return f"{self.family_name}, {self.given_name} (MRN {self.mrn})"

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def timezone_name(self) -> str:
        return str(self.timezone or self.clinic.timezone)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone_name)

    def age_on(self, day: dt.date) -> int:
        born = self.date_of_birth
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))

    LABEL_RISK_FACTORS = (
        ("sci_t6_or_above", "Spinal cord injury at T6 or above"),
        ("communication_difficulty", "Communication difficulty"),
        ("prior_withdrawal", "History of baclofen withdrawal"),
    )
    OTHER_RISK_FACTORS = (
        ("cognitive_impairment", "Cognitive impairment"),
        ("transport_barrier", "Transport, weather or travel barrier"),
        ("hearing_impairment", "Hearing impairment or inaudible alarm"),
        ("lives_in_care_facility", "Lives in a care facility"),
        ("caregiver_managed", "Caregiver-managed"),
        ("prior_prealarm_symptoms", "Symptoms before the alarm in the past"),
    )

    @property
    def label_risk_factors(self) -> tuple[str, ...]:
        return tuple(text for field, text in self.LABEL_RISK_FACTORS if getattr(self, field))

    @property
    def other_risk_factors(self) -> tuple[str, ...]:
        return tuple(text for field, text in self.OTHER_RISK_FACTORS if getattr(self, field))

    def clean(self) -> None:
        errors = {}
        if self.date_of_birth and self.date_of_birth > _clinic_today(self.clinic_id):
            errors["date_of_birth"] = "The date of birth cannot be in the future."
        if self.consent_sms and not self.phone:
            errors["phone"] = "Text-message consent needs a mobile phone number."
        if self.consent_email and not self.email:
            errors["email"] = "Email consent needs an email address."
        if self.preferred_channel == Channel.SMS and not self.phone:
            errors.setdefault("preferred_channel", "Text messages need a phone number.")
        if self.preferred_channel == Channel.EMAIL and not self.email:
            errors.setdefault("preferred_channel", "Email reminders need an email address.")
        if errors:
            raise ValidationError(errors)


class Caregiver(NormalizedPhonesMixin, models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="caregivers")
    name = models.CharField(max_length=200)
    relationship = models.CharField(max_length=100, help_text="For example: mother, spouse.")
    phone = PhoneNumberField(max_length=20, blank=True)
    email = models.EmailField(blank=True)
    preferred_channel = models.CharField(
        max_length=10, choices=Channel.choices, default=Channel.SMS
    )
    consent_sms = models.BooleanField("consents to text messages", default=False)
    consent_email = models.BooleanField("consents to email", default=False)
    receives_reminders = models.BooleanField(default=True)
    timezone = RegionTimeZoneField(
        max_length=64,
        blank=True,
        help_text="Leave empty to use the patient's time zone.",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.relationship})"

    @property
    def timezone_name(self) -> str:
        return str(self.timezone or self.patient.timezone_name)

    def clean(self) -> None:
        errors = {}
        if self.consent_sms and not self.phone:
            errors["phone"] = "Text-message consent needs a mobile phone number."
        if self.consent_email and not self.email:
            errors["email"] = "Email consent needs an email address."
        if self.receives_reminders and not (self.phone or self.email):
            errors["receives_reminders"] = "Reminders need a phone number or an email address."
        if errors:
            raise ValidationError(errors)


class PumpStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    EXPLANTED = "explanted", "Explanted"


class Pump(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="pumps")
    # The patient's clinic, copied when the pump is recorded (clean/save) so the database
    # can hold a serial unique within a clinic: a serial recorded at another clinic is
    # neither refused nor disclosed. A patient never changes clinic in pumptrack (the
    # field is read-only everywhere); one who moves is registered at the new clinic.
    clinic = models.ForeignKey(
        Clinic, on_delete=models.PROTECT, related_name="pumps", editable=False
    )
    model = models.ForeignKey(PumpModel, on_delete=models.PROTECT, related_name="pumps")
    serial_number = models.CharField(max_length=50)
    # Derived from serial_number on every save (patients/serials.py): the device advisory
    # lookup compares serial ranges on it, with an index.
    serial_sort_key = models.CharField(
        max_length=KEY_MAX_LENGTH, blank=True, default="", editable=False
    )
    implanted_on = models.DateField()
    alarm_volume_ml = models.DecimalField(
        "low-reservoir alarm volume (mL)",
        max_digits=3,
        decimal_places=1,
        validators=[MinValueValidator(ALARM_VOLUME_MIN_ML), MaxValueValidator(ALARM_VOLUME_MAX_ML)],
        help_text="2.0 mL is the manufacturer default; consider 4 mL after pre-alarm symptoms.",
    )
    status = models.CharField(max_length=10, choices=PumpStatus.choices, default=PumpStatus.ACTIVE)
    explanted_on = models.DateField(null=True, blank=True)
    explant_reason = models.CharField(
        max_length=300,
        blank=True,
        help_text="Why the pump was removed, e.g. infection, therapy stopped, replaced.",
    )
    eri_on = models.DateField("elective replacement indicator (ERI) date", null=True, blank=True)
    planned_replacement_on = models.DateField(null=True, blank=True)
    pump_clock_timezone = RegionTimeZoneField(
        max_length=64,
        blank=True,
        help_text="Flex dosing follows the pump clock; daylight-saving changes shift it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # The sort key is bookkeeping derived from the serial, not a change anyone made.
    history = HistoricalRecords(excluded_fields=["serial_sort_key"])

    class Meta:
        ordering = ["-implanted_on"]
        indexes = [
            models.Index(fields=["model", "serial_sort_key"], name="pump_model_serial_key_idx")
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(status="active"),
                name="one_active_pump_per_patient",
            ),
            models.UniqueConstraint(
                fields=["clinic", "model", "serial_number"],
                name="pump_serial_unique_per_clinic_and_model",
                violation_error_message=(
                    "A pump of this model with this serial number is already recorded at "
                    "this clinic. Check the serial number on the implant card."
                ),
            ),
            models.CheckConstraint(
                condition=Q(alarm_volume_ml__gte=ALARM_VOLUME_MIN_ML)
                & Q(alarm_volume_ml__lte=ALARM_VOLUME_MAX_ML),
                name="pump_alarm_volume_2_to_5_ml",
            ),
            models.CheckConstraint(
                condition=Q(status="active", explanted_on__isnull=True)
                | Q(status="explanted", explanted_on__isnull=False),
                name="pump_explanted_has_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model.name} {self.model.reservoir_capacity_ml} mL, SN {self.serial_number}"

    def save(self, *args, **kwargs):
        self._copy_clinic()
        self.serial_sort_key = serial_sort_key(self.serial_number)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "serial_number" in update_fields:
            kwargs["update_fields"] = {*update_fields, "serial_sort_key"}
        super().save(*args, **kwargs)

    @property
    def clock_tz(self) -> ZoneInfo:
        """The zone the pump's clock was set in: flex steps and boluses follow it."""
        return as_zone(self.pump_clock_timezone or self.patient.timezone_name)

    @property
    def is_active(self) -> bool:
        return self.status == PumpStatus.ACTIVE

    @property
    def shutdown_on(self) -> dt.date | None:
        """Automatic shut-down date from the model's maximum service life."""
        if self.model.max_service_life_days is None:
            return None
        return self.implanted_on + dt.timedelta(days=self.model.max_service_life_days)

    @property
    def end_of_service_on(self) -> dt.date | None:
        """The earliest known date the pump stops: shut-down age or ERI + grace."""
        candidates = [d for d in (self.shutdown_on,) if d]
        if self.eri_on and self.model.eri_to_eos_days is not None:
            candidates.append(self.eri_on + dt.timedelta(days=self.model.eri_to_eos_days))
        return min(candidates) if candidates else None

    def clean_fields(self, exclude=None):
        # An empty alarm volume means "the model's default", filled before validation.
        if self.alarm_volume_ml is None and self.model_id:
            self.alarm_volume_ml = self.model.default_alarm_volume_ml
        self._copy_clinic()
        super().clean_fields(exclude=exclude)

    def _copy_clinic(self) -> None:
        if self.patient_id and self.clinic_id is None:
            self.clinic_id = self.patient.clinic_id

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.patient_id and self.clinic_id != self.patient.clinic_id:
            errors["patient"] = "A pump belongs to its patient's clinic."
        today = _clinic_today(self.patient.clinic_id if self.patient_id else None)
        if self.implanted_on and self.implanted_on > today:
            errors["implanted_on"] = "The implant date cannot be in the future."
        if self.status == PumpStatus.EXPLANTED and not self.explanted_on:
            errors["explanted_on"] = "Enter the date the pump was explanted."
        if self.status == PumpStatus.ACTIVE and self.explanted_on:
            errors["explanted_on"] = "An active pump has no explant date."
        if self.explanted_on and self.implanted_on and self.explanted_on < self.implanted_on:
            errors["explanted_on"] = (
                f"The explant date cannot be before the implant date "
                f"({date_text(self.implanted_on, WEEKDAY_DATE_PADDED)})."
            )
        if self.model_id and self.implanted_on:
            model = self.model
            if (
                self.alarm_volume_ml is not None
                and self.alarm_volume_ml >= model.reservoir_capacity_ml
            ):
                errors["alarm_volume_ml"] = "The alarm volume must be below the reservoir capacity."
            shutdown = self.shutdown_on
            if self.status == PumpStatus.ACTIVE and shutdown and shutdown <= today:
                errors["implanted_on"] = (
                    f"A {model.name} implanted on {date_text(self.implanted_on, DATE_PADDED)} has "
                    f"passed its automatic shut-down ({date_text(shutdown, DATE_PADDED)}) and "
                    "cannot be active. "
                    "Record the replacement pump, or mark this one explanted."
                )
        if self.eri_on and self.implanted_on and self.eri_on < self.implanted_on:
            errors["eri_on"] = "The ERI date cannot be before the implant date."
        if errors:
            raise ValidationError(errors)


def _clinic_today(clinic_id: int | None) -> dt.date:
    """Today on the clinic's calendar (a date entered there is never 'in the future')."""
    from django.utils import timezone

    zone = (
        Clinic.objects.filter(pk=clinic_id).values_list("timezone", flat=True).first()
        if clinic_id
        else None
    )
    return timezone.localdate(timezone=as_zone(zone) if zone else None)
