"""Drug products, drug programs, refills, appointments and the stored forecast.

Models hold fields and database constraints. The clinical rules of
domain.md §7.2 live in refills/validation/ and are applied by the services,
which are the only writers (refills/services/).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from simple_history.models import HistoricalRecords

from patients.models import Patient, Pump


class DrugProduct(models.Model):
    """Catalogue of intrathecal baclofen products (domain.md §1.4)."""

    name = models.CharField(max_length=120)
    manufacturer = models.CharField(max_length=120, blank=True)
    concentration_mcg_per_ml = models.DecimalField(max_digits=7, decimal_places=1)
    presentation = models.CharField(max_length=120, blank=True, help_text="e.g. 20 mL vial")
    ndc = models.CharField("NDC", max_length=20, blank=True)
    screening_only = models.BooleanField(
        default=False, help_text="50 mcg/mL is for screening boluses, not pump refills."
    )
    is_custom_dilution = models.BooleanField(
        default=False, help_text="Diluted or compounded to a non-standard strength."
    )
    is_active = models.BooleanField(
        default=True, help_text="Only active products' strengths are accepted without review."
    )

    class Meta:
        ordering = ["name", "concentration_mcg_per_ml"]
        constraints = [
            models.CheckConstraint(
                condition=Q(concentration_mcg_per_ml__gt=0),
                name="drugproduct_concentration_positive",
            )
        ]

    def __str__(self) -> str:
        if self.is_custom_dilution:
            return f"{self.name} (custom dilution)"
        return f"{self.name} {self.concentration_mcg_per_ml.normalize():f} mcg/mL"


class DosingMode(models.TextChoices):
    SIMPLE = "simple", "Simple continuous"
    FLEX = "flex", "Flex (complex continuous)"
    MINIMUM = "minimum", "Minimum rate"
    STOPPED = "stopped", "Stopped"


class DrugProgram(models.Model):
    """What the pump is programmed to deliver from `effective_from` on."""

    pump = models.ForeignKey(Pump, on_delete=models.PROTECT, related_name="programs")
    effective_from = models.DateTimeField()
    drug_product = models.ForeignKey(DrugProduct, on_delete=models.PROTECT)
    concentration_mcg_per_ml = models.DecimalField(
        "concentration (mcg/mL)", max_digits=7, decimal_places=1
    )
    mode = models.CharField(max_length=10, choices=DosingMode.choices, default=DosingMode.SIMPLE)
    basal_daily_dose_mcg = models.DecimalField(
        "basal daily dose (mcg/day)",
        max_digits=7,
        decimal_places=1,
        help_text="Simple continuous dose, or the flex steps' daily total.",
    )
    bolus_dose_mcg = models.DecimalField(
        "periodic bolus (mcg each)", max_digits=6, decimal_places=1, default=Decimal("0")
    )
    boluses_per_day = models.PositiveSmallIntegerField(default=0)
    ptm_expected_daily_mcg = models.DecimalField(
        "expected patient-activated bolus use (mcg/day)",
        max_digits=6,
        decimal_places=1,
        default=Decimal("0"),
    )
    daily_dose_mcg = models.DecimalField(
        "total daily dose (mcg/day)",
        max_digits=7,
        decimal_places=1,
        help_text="Basal + periodic boluses + expected PTM use. Drives the forecast.",
    )
    reason_for_change = models.TextField(blank=True)
    custom_concentration_reason = models.TextField(blank=True)
    second_clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Second clinician who confirmed a custom concentration.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-effective_from"]
        get_latest_by = "effective_from"
        constraints = [
            models.CheckConstraint(
                condition=Q(concentration_mcg_per_ml__gt=0), name="program_concentration_positive"
            ),
            models.CheckConstraint(
                condition=Q(daily_dose_mcg__gte=0) & Q(basal_daily_dose_mcg__gte=0),
                name="program_dose_not_negative",
            ),
            models.UniqueConstraint(
                fields=["pump", "effective_from"], name="one_program_per_pump_and_instant"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.daily_dose_mcg.normalize():f} mcg/day at "
            f"{self.concentration_mcg_per_ml.normalize():f} mcg/mL"
        )


class FlexStep(models.Model):
    program = models.ForeignKey(DrugProgram, on_delete=models.CASCADE, related_name="flex_steps")
    starts_at = models.TimeField(help_text="Pump clock time the step starts.")
    hours = models.DecimalField(max_digits=4, decimal_places=2)
    rate_mcg_per_hour = models.DecimalField("rate (mcg/hour)", max_digits=6, decimal_places=2)

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(hours__gt=0) & Q(hours__lte=24), name="flexstep_hours_in_day"
            ),
            models.CheckConstraint(condition=Q(rate_mcg_per_hour__gte=0), name="flexstep_rate_ok"),
        ]

    def __str__(self) -> str:
        return f"{self.starts_at:%H:%M} {self.rate_mcg_per_hour} mcg/h for {self.hours} h"

    @property
    def dose_mcg(self) -> Decimal:
        return self.hours * self.rate_mcg_per_hour


class NeedleCheck(models.TextChoices):
    """How needle placement in the reservoir was confirmed (FDA 2011 recall, TGA card)."""

    TEMPLATE_AND_STOP = "template_stop", "Template aligned and needle reached the needle stop"
    ULTRASOUND = "ultrasound", "Ultrasound guided"


class DiscrepancyAction(models.TextChoices):
    NONE = "", "—"
    WORKUP = "workup", "Pump and catheter work-up ordered"
    IMAGING = "imaging", "Catheter imaging ordered"
    PHYSICIAN = "physician", "Physician notified"
    ENTRY_ERROR = (
        "entry_error",
        "Explained: entry error, confirmed by a second measurement of the residual",
    )
    CAUSE_FOUND = "cause_found", "Explained: the work-up found the cause (say what it found)"
    OBSERVE = "observe", "Not explained: observe at the next refill (stays flagged until then)"


# Only these explain a flagged discrepancy, and only with their evidence: a second
# measurement within tolerance for an entry error, the finding for a work-up (domain
# §7.1 #7, §8). Anything else leaves the patient at least HIGH until a later refill
# reconciles within tolerance.
EXPLAINED_DISCREPANCY_ACTIONS = frozenset(
    {DiscrepancyAction.ENTRY_ERROR, DiscrepancyAction.CAUSE_FOUND}
)


class Refill(models.Model):
    pump = models.ForeignKey(Pump, on_delete=models.PROTECT, related_name="refills")
    performed_at = models.DateTimeField()
    performed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="refills_performed"
    )
    second_checker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="refills_checked",
    )
    expected_residual_ml = models.DecimalField(
        "expected residual (mL)",
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Computed from the previous fill and program; empty for a first fill.",
    )
    programmer_expected_residual_ml = models.DecimalField(
        "programmer's expected residual (mL)", max_digits=5, decimal_places=2, null=True, blank=True
    )
    actual_residual_ml = models.DecimalField(
        "residual aspirated (mL)", max_digits=5, decimal_places=2
    )
    residual_appearance = models.CharField(max_length=200, blank=True)
    residual_left_ml = models.DecimalField(
        "volume left in the pump after aspiration (mL)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        help_text="Usually 0: the residual is drained completely before filling.",
    )
    volume_added_ml = models.DecimalField("volume added (mL)", max_digits=5, decimal_places=2)
    resulting_volume_ml = models.DecimalField(
        "programmed reservoir volume (mL)", max_digits=5, decimal_places=2
    )
    drug_product = models.ForeignKey(DrugProduct, on_delete=models.PROTECT)
    concentration_mcg_per_ml = models.DecimalField(
        "concentration (mcg/mL)", max_digits=7, decimal_places=1
    )
    lot_number = models.CharField(max_length=50)
    lot_expiry = models.DateField(null=True, blank=True)
    bridge_bolus_mcg = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True)
    bridge_bolus_ml = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    bridge_not_needed_reason = models.TextField(blank=True)
    needle_placement = models.CharField(max_length=20, choices=NeedleCheck.choices)
    needle_placement_confirmed = models.BooleanField(default=False)
    program = models.ForeignKey(
        DrugProgram,
        on_delete=models.PROTECT,
        related_name="refills",
        help_text="The program in effect after this refill.",
    )
    alarm_volume_ml = models.DecimalField(
        "alarm volume at this fill (mL)", max_digits=3, decimal_places=1
    )
    printed_alarm_date = models.DateField(
        "alarm date on the programmer printout", null=True, blank=True
    )
    discrepancy_ml = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    discrepancy_relative = models.DecimalField(
        max_digits=7, decimal_places=4, null=True, blank=True
    )
    discrepancy_flagged = models.BooleanField(default=False)
    discrepancy_trend_flagged = models.BooleanField(
        "second same-direction discrepancy in a row",
        default=False,
        # The threshold is a policy setting, so the text names it instead of a number.
        help_text="This and the previous refill were both off the same way, each by more than "
        "the trend threshold (PUMPTRACK_POLICY DISCREPANCY_TREND_ML).",
    )
    discrepancy_assessment = models.TextField(blank=True)
    discrepancy_action = models.CharField(
        max_length=20, choices=DiscrepancyAction.choices, blank=True
    )
    remeasured_residual_ml = models.DecimalField(
        "residual measured a second time (mL)",
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Confirms an entry error: the second measurement must reconcile.",
    )
    discrepancy_cause = models.TextField(
        "what the work-up found",
        blank=True,
        help_text="Needed when the work-up found the cause of the discrepancy.",
    )
    measured_volume_after_fill_ml = models.DecimalField(
        "reservoir volume the pump measured after the fill (mL)",
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Pumps with a reservoir volume sensor only.",
    )
    pocket_fill_suspected = models.BooleanField(
        default=False,
        help_text="The pump measured clearly less than was put in: drug may be in the pocket.",
    )
    due_by = models.DateField(
        "refill-by date in force when done",
        null=True,
        blank=True,
        help_text="The previous fill's refill-by date, kept so reports can count late refills.",
    )
    performed_on_time = models.BooleanField(
        null=True, blank=True, help_text="Done on or before due_by (clinic's calendar)."
    )
    symptom_screen_done = models.BooleanField(
        "withdrawal/overdose signs reviewed with patient or caregiver", default=False
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-performed_at"]
        get_latest_by = "performed_at"
        constraints = [
            models.CheckConstraint(
                condition=Q(actual_residual_ml__gte=0), name="refill_residual_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(volume_added_ml__gt=0), name="refill_volume_added_positive"
            ),
            models.CheckConstraint(
                condition=Q(needle_placement_confirmed=True), name="refill_needle_confirmed"
            ),
            models.UniqueConstraint(
                fields=["pump", "performed_at"], name="one_refill_per_pump_and_instant"
            ),
        ]
        indexes = [
            models.Index(fields=["pump", "-performed_at"]),
            # The device advisory lookup finds a drug lot whatever case it was typed in.
            models.Index(Upper("lot_number"), name="refill_lot_number_upper_idx"),
            # The reports filter and group refills by date across a clinic.
            models.Index(fields=["performed_at"], name="refill_performed_at"),
        ]

    def __str__(self) -> str:
        return f"Refill of {self.pump} at {self.performed_at:%Y-%m-%d %H:%M}"

    @property
    def discrepancy_explained(self) -> bool:
        """The flagged discrepancy was explained with its evidence (see the actions)."""
        if self.discrepancy_action == DiscrepancyAction.ENTRY_ERROR:
            return self.remeasured_residual_ml is not None
        if self.discrepancy_action == DiscrepancyAction.CAUSE_FOUND:
            return bool(self.discrepancy_cause.strip())
        return False

    @property
    def volume_in_reservoir_ml(self) -> Decimal:
        """What the projection starts from: the programmed volume, unless the pump's
        sensor measured clearly less (a possible pocket fill). The lower reading is
        the safer assumption: the reservoir runs out sooner."""
        if self.pocket_fill_suspected and self.measured_volume_after_fill_ml is not None:
            return self.measured_volume_after_fill_ml
        return self.resulting_volume_ml


class AppointmentKind(models.TextChoices):
    REFILL = "refill", "Refill"
    REPLACEMENT = "replacement", "Pump replacement"
    CHECK = "check", "Check / reprogramming"


class AppointmentStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    COMPLETED = "completed", "Completed"
    MISSED = "missed", "Missed"
    CANCELLED = "cancelled", "Cancelled"


class Appointment(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments")
    pump = models.ForeignKey(Pump, on_delete=models.PROTECT, related_name="appointments")
    kind = models.CharField(
        max_length=20, choices=AppointmentKind.choices, default=AppointmentKind.REFILL
    )
    scheduled_start = models.DateTimeField()
    duration_minutes = models.PositiveSmallIntegerField(default=30)
    status = models.CharField(
        max_length=20, choices=AppointmentStatus.choices, default=AppointmentStatus.SCHEDULED
    )
    completed_refill = models.OneToOneField(
        Refill,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="appointment",
    )
    cancellation_reason = models.TextField(blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["scheduled_start"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="cancelled") | ~Q(cancellation_reason=""),
                name="appointment_cancel_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(completed_refill__isnull=True) | Q(status="completed"),
                name="appointment_refill_only_when_completed",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "scheduled_start"]),
            models.Index(fields=["pump", "status", "scheduled_start"]),
            # The appointments report: a clinic's appointments by date, whatever the status.
            models.Index(fields=["scheduled_start"], name="appointment_start"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_kind_display()} for {self.patient} at {self.scheduled_start:%Y-%m-%d %H:%M}"
        )


class ReportKind(models.TextChoices):
    CRITICAL_ALARM = "critical_alarm", "Critical (two-tone) pump alarm heard"
    LOW_RESERVOIR_ALARM = "low_reservoir_alarm", "Low-reservoir (single-tone) alarm heard"
    WITHDRAWAL_SYMPTOMS = "withdrawal_symptoms", "Withdrawal symptoms reported"


class PumpReport(models.Model):
    """Something the patient, a caregiver or another service reported between visits."""

    pump = models.ForeignKey(Pump, on_delete=models.PROTECT, related_name="reports")
    kind = models.CharField(max_length=30, choices=ReportKind.choices)
    reported_at = models.DateTimeField()
    details = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-reported_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.reported_at:%Y-%m-%d %H:%M}"


class Override(models.Model):
    """A warning a clinician chose to proceed past, with who and why."""

    rule = models.CharField(max_length=60)
    message = models.TextField()
    reason = models.TextField()
    requires_physician = models.BooleanField(default=False)
    overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="overrides"
    )
    overridden_at = models.DateTimeField(auto_now_add=True)
    pump = models.ForeignKey(Pump, on_delete=models.PROTECT, related_name="overrides")
    refill = models.ForeignKey(
        Refill, on_delete=models.PROTECT, null=True, blank=True, related_name="overrides"
    )
    program = models.ForeignKey(
        DrugProgram, on_delete=models.PROTECT, null=True, blank=True, related_name="overrides"
    )
    appointment = models.ForeignKey(
        Appointment, on_delete=models.PROTECT, null=True, blank=True, related_name="overrides"
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["-overridden_at"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="override_has_reason"),
        ]

    def __str__(self) -> str:
        return f"Override of {self.rule} by {self.overridden_by}"


class RefillByReason(models.TextChoices):
    ALARM_MARGIN = "alarm-margin", "Conservative alarm date minus the margin"
    DRUG_STABILITY = "drug-stability", "180-day drug stability limit"
    PLANNED_REPLACEMENT = "planned-replacement", "Planned pump replacement"
    END_OF_SERVICE = "end-of-service", "Pump end of service or shut-down"
    NO_FILL = "no-fill", "No refill recorded yet"


class RiskTier(models.IntegerChoices):
    """The withdrawal-risk tier as stored and shown: the same values as refills.risk.Tier.

    refills.risk stays pure (no Django), so the rules keep their own IntEnum; a test
    checks that the values and labels of the two agree.
    """

    LOW = 1, "Low"
    MODERATE = 2, "Moderate"
    HIGH = 3, "High"
    CRITICAL = 4, "Critical"


class PumpForecast(models.Model):
    """The stored projection for one pump. Written only by refills.services.forecast_refresh."""

    pump = models.OneToOneField(
        Pump, on_delete=models.CASCADE, primary_key=True, related_name="forecast"
    )
    computed_at = models.DateTimeField()
    anchor_at = models.DateTimeField(
        null=True, blank=True, help_text="The fill or program change the projection starts from."
    )
    anchor_volume_ml = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    daily_volume_ml = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    alarm_at = models.DateTimeField(null=True, blank=True)
    conservative_alarm_at = models.DateTimeField(null=True, blank=True)
    empty_at = models.DateTimeField(null=True, blank=True)
    # The empty date if the pump runs fast by the flow-accuracy allowance (domain §2.2):
    # never later than empty_at; the tier and the alerts use it.
    conservative_empty_at = models.DateTimeField(null=True, blank=True)
    refill_by = models.DateField(null=True, blank=True)
    refill_by_reason = models.CharField(max_length=30, choices=RefillByReason.choices)
    next_refill_appointment = models.ForeignKey(
        Appointment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    next_refill_at = models.DateTimeField(null=True, blank=True)
    booked_before_refill_by = models.BooleanField(default=False)
    risk_tier = models.PositiveSmallIntegerField(
        choices=RiskTier.choices, default=RiskTier.LOW, db_index=True
    )
    risk_reasons = models.JSONField(default=list)
    reassess_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["-risk_tier", "conservative_alarm_at"]),
            # Capacity and the census group and filter by the stored refill-by date.
            models.Index(fields=["refill_by"], name="forecast_refill_by"),
        ]

    def __str__(self) -> str:
        return f"Forecast for {self.pump_id}"

    @property
    def booked_on_closed_day(self) -> str:
        """The tier's text when the booked refill falls on a clinic closure, else ""."""
        for reason in self.risk_reasons or ():
            if reason.get("code") == "appointment-on-closed-day":
                return reason.get("text", "")
        return ""
