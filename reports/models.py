"""What the reports app stores: the record of each device advisory lookup (who
searched for which pumps or drug lot, kept with its history so it appears in the
audit trail) and a daily census of the risk tiers (so the census can show how the
tiers moved over time; the stored forecasts only say how they are now)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from patients.models import Clinic


class AdvisoryAction(models.TextChoices):
    SEARCH = "search", "Searched"
    EXPORT = "export", "Downloaded the list (CSV)"


class AdvisoryLookup(models.Model):
    clinic = models.ForeignKey(
        "patients.Clinic", on_delete=models.PROTECT, related_name="advisory_lookups"
    )
    searched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="by"
    )
    searched_at = models.DateTimeField("when")
    action = models.CharField(max_length=10, choices=AdvisoryAction.choices)
    pump_model = models.ForeignKey(
        "patients.PumpModel", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    serial_from = models.CharField("serial number from", max_length=50, blank=True)
    serial_to = models.CharField("serial number to", max_length=50, blank=True)
    implanted_from = models.DateField("implanted on or after", null=True, blank=True)
    implanted_to = models.DateField("implanted on or before", null=True, blank=True)
    drug_product = models.ForeignKey(
        "refills.DrugProduct", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    lot_number = models.CharField("drug lot number", max_length=50, blank=True)
    include_explanted = models.BooleanField("explanted pumps included", default=False)
    patients_found = models.PositiveIntegerField("patients found")

    history = HistoricalRecords()

    class Meta:
        ordering = ["-searched_at"]
        verbose_name = "device advisory lookup"

    def __str__(self) -> str:
        return f"Device advisory lookup #{self.pk}"


class TierSnapshot(models.Model):
    """Active pumps per withdrawal-risk tier at one clinic on one calendar day (clinic
    time). Written once per clinic and day by reports.services.tier_snapshot_take."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="tier_snapshots")
    day = models.DateField(help_text="The clinic's calendar day.")
    taken_at = models.DateTimeField()
    low = models.PositiveIntegerField(default=0)
    moderate = models.PositiveIntegerField(default=0)
    high = models.PositiveIntegerField(default=0)
    critical = models.PositiveIntegerField(default=0)
    unbooked_within_window = models.PositiveIntegerField(
        default=0,
        help_text="Active pumps due within the work-queue window with no refill booked "
        "before the refill-by date.",
    )

    class Meta:
        ordering = ["clinic", "day"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "day"], name="one_tier_snapshot_per_day")
        ]

    def __str__(self) -> str:
        return f"Tier snapshot {self.clinic_id} {self.day}"

    @property
    def total(self) -> int:
        return self.low + self.moderate + self.high + self.critical
