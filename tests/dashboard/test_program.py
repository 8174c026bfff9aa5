"""Drug program change: dose-change limits and the concentration rule, shown in place."""

from decimal import Decimal

from django.urls import reverse

from accounts.models import Role
from refills.models import DrugProgram
from tests.factories import staff


def _data(**overrides):
    data = {
        "effective_from": "",
        "concentration": "2000",
        "concentration_unit": "mcg/mL",
        "mode": "simple",
        "basal_daily_dose_mcg": "400",
        "bolus_dose_mcg": "0",
        "boluses_per_day": "0",
        "ptm_expected_daily_mcg": "0",
        "reason": "Tone review",
    }
    data.update(overrides)
    return data


def _url(pump):
    return reverse("dashboard:program_change", args=[pump.patient_id])


def _now_field(client, pump):
    html = client.get(_url(pump)).content.decode()
    return html.split('name="effective_from" value="')[1].split('"')[0]


def test_small_change_is_saved(nurse_client, filled_pump):
    data = _data(basal_daily_dose_mcg="440", effective_from=_now_field(nurse_client, filled_pump))
    response = nurse_client.post(_url(filled_pump), data, follow=True)
    assert "Drug program changed" in response.content.decode()
    assert DrugProgram.objects.latest("effective_from").daily_dose_mcg == Decimal("440")


def test_large_increase_needs_a_physician(nurse_client, as_user, clinic, filled_pump):
    data = _data(
        basal_daily_dose_mcg="600",
        effective_from=_now_field(nurse_client, filled_pump),
        override_reason="Severe spasms",
    )
    html = nurse_client.post(_url(filled_pump), data).content.decode()
    field = html.split('id="div_id_basal_daily_dose_mcg"')[1].split('id="div_id_')[0]
    assert "need a physician" in field
    assert "Only a physician can override this." in field
    assert DrugProgram.objects.count() == 1

    physician = as_user(staff(clinic, Role.PHYSICIAN))
    assert physician.post(_url(filled_pump), data).status_code == 302
    assert DrugProgram.objects.latest("effective_from").daily_dose_mcg == Decimal("600")


def test_concentration_change_is_refused_without_a_fill(nurse_client, filled_pump):
    data = _data(
        concentration="1",
        concentration_unit="mg/mL",
        effective_from=_now_field(nurse_client, filled_pump),
    )
    html = nurse_client.post(_url(filled_pump), data).content.decode()
    assert "only changes at a refill" in html
    assert DrugProgram.objects.count() == 1


def test_mg_typed_as_mcg_prompts(nurse_client, filled_pump):
    data = _data(concentration="2", effective_from=_now_field(nurse_client, filled_pump))
    html = nurse_client.post(_url(filled_pump), data).content.decode()
    assert "Did you mean 2 mg/mL = 2000 mcg/mL?" in html


def test_no_program_sends_to_the_refill_form(nurse_client, pump):
    response = nurse_client.get(_url(pump))
    assert response.status_code == 302
    assert response.url == reverse("dashboard:refill_create", args=[pump.patient_id])
