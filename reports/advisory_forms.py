"""The device advisory lookup's criteria (a POST: every lookup is recorded)."""

from __future__ import annotations

from django import forms

from patients.serials import serial_sort_key
from reports.advisory import AdvisoryCriteria
from reports.filters import check_day_bounds

DATE = forms.DateInput(attrs={"type": "date"})


class AdvisoryForm(forms.Form):
    pump_model = forms.TypedChoiceField(label="Pump model", required=False, coerce=int)
    serial_from = forms.CharField(label="Serial number from", required=False, max_length=50)
    serial_to = forms.CharField(label="Serial number to", required=False, max_length=50)
    implanted_from = forms.DateField(label="Implanted on or after", required=False, widget=DATE)
    implanted_to = forms.DateField(label="Implanted on or before", required=False, widget=DATE)
    drug_product = forms.TypedChoiceField(label="Drug product", required=False, coerce=int)
    lot_number = forms.CharField(label="Drug lot number", required=False, max_length=50)
    include_explanted = forms.BooleanField(label="Include explanted pumps", required=False)

    def __init__(self, data=None, *, pump_models, drug_products):
        super().__init__(data)
        self.fields["pump_model"].choices = [("", "Any model"), *pump_models]
        self.fields["drug_product"].choices = [("", "Any product"), *drug_products]

    def clean(self):
        data = super().clean()
        check_day_bounds(self, data, ("implanted_from", "implanted_to"))
        if self.errors:
            return data
        for name in ("serial_from", "serial_to"):
            if data.get(name) and not serial_sort_key(data[name]):
                self.add_error(name, "A serial number needs at least one letter or digit.")
        if (data.get("serial_from") or data.get("serial_to")) and not data.get("pump_model"):
            self.add_error(
                "pump_model", "Choose the pump model: serial numbers are only unique per model."
            )
        start, end = data.get("serial_from"), data.get("serial_to")
        if start and end and serial_sort_key(start) > serial_sort_key(end):
            self.add_error("serial_to", f"“{end}” comes before “{start}”: swap them.")
        start, end = data.get("implanted_from"), data.get("implanted_to")
        if start and end and end < start:
            self.add_error("implanted_to", "The end date is before the start date.")
        if not self.errors and self.criteria().is_empty:
            raise forms.ValidationError(
                "Enter a pump model (and serial range), an implant date range, "
                "or a drug product or lot number."
            )
        return data

    def criteria(self) -> AdvisoryCriteria:
        data = self.cleaned_data
        return AdvisoryCriteria(
            pump_model_id=data.get("pump_model") or None,
            serial_from=(data.get("serial_from") or "").strip(),
            serial_to=(data.get("serial_to") or "").strip(),
            implanted_from=data.get("implanted_from"),
            implanted_to=data.get("implanted_to"),
            drug_product_id=data.get("drug_product") or None,
            lot_number=(data.get("lot_number") or "").strip(),
            include_explanted=bool(data.get("include_explanted")),
        )
