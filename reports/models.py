"""What the reports app stores: the record of each device advisory lookup.

A field-safety notice arrives; someone looks up every patient with the affected pumps or
drug lot, and downloads the list. Each search and each download is one row (who, when,
what was asked, how many patients were found), kept with its history so it appears in
the clinic's audit trail like any other change.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords


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
