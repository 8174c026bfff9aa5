"""The refill form: the lot expiry is required and an expired lot is refused (issue 8 #9)."""

import datetime as dt

from django.urls import reverse
from django.utils import timezone

from refills.models import Refill


def _post(filled_pump, **changes):
    clinic = filled_pump.patient.clinic
    data = {
        "performed_at": timezone.localtime(
            timezone.now() - dt.timedelta(minutes=2), clinic.tz
        ).strftime("%Y-%m-%dT%H:%M"),
        "actual_residual_ml": "14",
        "residual_left_ml": "0",
        "product": "Gablofen",
        "concentration": "2000",
        "concentration_unit": "mcg/mL",
        "lot_number": "LOT-42",
        "lot_expiry": (timezone.localdate() + dt.timedelta(days=365)).isoformat(),
        "volume_added_ml": "20",
        "resulting_volume_ml": "20",
        "needle_placement": "template_stop",
        "needle_placement_confirmed": "on",
        "symptom_screen_done": "on",
    }
    data.update(changes)
    return data


def test_the_form_requires_the_lot_expiry(nurse_client, filled_pump):
    url = reverse("dashboard:refill_create", args=[filled_pump.patient_id])
    response = nurse_client.post(url, _post(filled_pump, lot_expiry=""))
    assert response.status_code == 200
    field = response.content.decode().split('id="div_id_lot_expiry"')[1].split("</div>")[0:3]
    assert "is-invalid" in "".join(field)
    assert Refill.objects.count() == 1


def test_the_form_shows_why_an_expired_lot_is_refused(nurse_client, filled_pump):
    url = reverse("dashboard:refill_create", args=[filled_pump.patient_id])
    expired = timezone.localdate(timezone=filled_pump.patient.clinic.tz) - dt.timedelta(days=3)
    response = nurse_client.post(url, _post(filled_pump, lot_expiry=expired.isoformat()))
    assert response.status_code == 200
    html = response.content.decode()
    assert f"This lot expired on {expired:%a %d %b %Y}" in html
    assert Refill.objects.count() == 1
