"""The reports' own rows: a daily census of the risk tiers, kept so the census can show
how the tiers moved over time (the stored forecasts only say how they are now)."""

from __future__ import annotations

from django.db import models

from patients.models import Clinic


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
