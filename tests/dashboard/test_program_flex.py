"""Flex (step) programs on the drug-program page: entry, totals, checks in place, pre-fill."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from dashboard.forms.programs import MAX_FLEX_STEPS, ProgramChangeForm, program_initial
from refills.models import DosingMode, DrugProgram, FlexStep, Override, PumpForecast
from tests.factories import ClinicFactory, PatientFactory, PumpFactory, staff


def _url(pump) -> str:
    return reverse("dashboard:program_change", args=[pump.patient_id])


def _now_local(pump) -> str:
    local = timezone.localtime(timezone.now(), pump.patient.clinic.tz)
    return local.strftime("%Y-%m-%dT%H:%M")


def _steps(*rows, blank: int = 1) -> dict:
    """The formset's inputs: one row per (start, hours, rate), then `blank` empty rows."""
    data = {
        "steps-TOTAL_FORMS": str(len(rows) + blank),
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": str(MAX_FLEX_STEPS),
    }
    for index, row in enumerate([*rows, *[("", "", "")] * blank]):
        start, hours, rate = row
        data[f"steps-{index}-starts_at"] = start
        data[f"steps-{index}-hours"] = hours
        data[f"steps-{index}-rate_mcg_per_hour"] = rate
    return data


def _flex(pump, *rows, blank: int = 1, **overrides) -> dict:
    data = {
        "effective_from": _now_local(pump),
        "concentration": _concentration(pump),
        "concentration_unit": "mcg/mL",
        "mode": "flex",
        "basal_daily_dose_mcg": "",
        "bolus_dose_mcg": "0",
        "boluses_per_day": "0",
        "ptm_expected_daily_mcg": "0",
        "reason": "Night spasms: more at night",
        **_steps(*rows, blank=blank),
    }
    data.update(overrides)
    return data


def _concentration(pump) -> str:
    program = DrugProgram.objects.filter(pump=pump).latest()
    return f"{program.concentration_mcg_per_ml.normalize():f}"


def _steps_html(html: str) -> str:
    """The flex-step fieldset: where step and daily-total findings must appear."""
    return html.split('id="flex-steps"')[1].split("</fieldset>")[0]


def _totals_html(html: str) -> str:
    return html.split('id="program-totals"')[1].split("</section>")[0]


def _counts() -> tuple[int, int, int]:
    return DrugProgram.objects.count(), FlexStep.objects.count(), Override.objects.count()


@pytest.fixture
def low_dose_pump(pump, nurse, filler):
    """Domain §9 case 5: 60 mcg/day of 500 mcg/mL."""
    return filler(pump, nurse, days_ago=3, dose=60, concentration=500)


# --------------------------------------------------------------------------- saving


def test_flex_program_is_saved_with_its_steps_and_moves_the_forecast(nurse_client, filled_pump):
    before = PumpForecast.objects.get(pump=filled_pump)
    data = _flex(filled_pump, ("00:00", "8", "15"), ("08:00", "16", "20"), blank=2)
    response = nurse_client.post(_url(filled_pump), data, follow=True)
    assert "Drug program changed" in response.content.decode()

    program = DrugProgram.objects.filter(pump=filled_pump).latest()
    assert program.mode == DosingMode.FLEX
    assert program.basal_daily_dose_mcg == Decimal(440)  # 8 x 15 + 16 x 20
    assert program.daily_dose_mcg == Decimal(440)
    steps = [(s.starts_at, s.hours, s.rate_mcg_per_hour) for s in program.flex_steps.all()]
    assert steps == [(dt.time(0), Decimal(8), Decimal(15)), (dt.time(8), Decimal(16), Decimal(20))]
    after = PumpForecast.objects.get(pump=filled_pump)
    assert after.daily_volume_ml == Decimal("0.2200")  # 440 / 2000
    assert after.alarm_at < before.alarm_at


def test_flex_total_adds_boluses_and_expected_ptm_use(nurse_client, filled_pump):
    data = _flex(
        filled_pump,
        ("06:00", "24", "15"),
        bolus_dose_mcg="20",
        boluses_per_day="2",
        ptm_expected_daily_mcg="10",
    )
    assert nurse_client.post(_url(filled_pump), data).status_code == 302
    program = DrugProgram.objects.filter(pump=filled_pump).latest()
    assert program.basal_daily_dose_mcg == Decimal(360)
    assert program.daily_dose_mcg == Decimal(410)  # 360 + 2 x 20 + 10


def test_step_doses_below_a_tenth_are_stored_rounded_up(nurse_client, filled_pump):
    # 12.5 mcg/h for 1.5 h is 18.75 mcg: the program keeps 0.1 mcg/day, rounded up.
    data = _flex(filled_pump, ("00:00", "1.5", "12.5"), ("01:30", "22.5", "17"))
    assert nurse_client.post(_url(filled_pump), data).status_code == 302
    program = DrugProgram.objects.filter(pump=filled_pump).latest()
    assert program.basal_daily_dose_mcg == Decimal("401.3")  # 18.75 + 382.5
    assert [s.hours for s in program.flex_steps.all()] == [Decimal("1.5"), Decimal("22.5")]


def test_a_step_may_run_past_midnight(nurse_client, filled_pump):
    data = _flex(filled_pump, ("22:00", "10", "20"), ("08:00", "14", "14.29"))
    assert nurse_client.post(_url(filled_pump), data).status_code == 302
    program = DrugProgram.objects.filter(pump=filled_pump).latest()
    assert [s.starts_at for s in program.flex_steps.all()] == [dt.time(8), dt.time(22)]


def test_a_simple_program_ignores_whatever_is_in_the_step_rows(nurse_client, flex_pump):
    data = _flex(
        flex_pump,
        ("xx", "-3", "NaN"),
        mode="simple",
        basal_daily_dose_mcg="420",
    )
    assert nurse_client.post(_url(flex_pump), data).status_code == 302
    program = DrugProgram.objects.filter(pump=flex_pump).latest()
    assert program.mode == DosingMode.SIMPLE
    assert program.daily_dose_mcg == Decimal(420)
    assert not program.flex_steps.exists()


# --------------------------------------------------------------------------- domain §9 case 5


def test_ismp_hourly_rate_entered_as_a_flex_step_needs_a_physician(
    nurse_client, as_user, clinic, low_dose_pump
):
    """60 mcg/h for 24 h where 60 mcg/day was meant: 1440 mcg/day, 24x the program."""
    pump = low_dose_pump
    data = _flex(pump, ("00:00", "24", "60"))
    before = _counts()

    html = nurse_client.post(_url(pump), data).content.decode()
    steps = _steps_html(html)
    assert "from 60 to 1440 mcg/day" in steps
    assert "×24.0" in steps
    assert "above 1000 mcg/day" in steps
    assert "To proceed, give an override reason." in steps
    totals = _totals_html(html)
    assert "1440 mcg/day" in totals
    assert "+2300 % (×24.0)" in totals
    assert _counts() == before

    data["override_reason"] = "Tone much worse"
    html = nurse_client.post(_url(pump), data).content.decode()
    assert "Only a physician can override this." in _steps_html(html)
    assert _counts() == before

    physician = as_user(staff(clinic, Role.PHYSICIAN))
    assert physician.post(_url(pump), data).status_code == 302
    program = DrugProgram.objects.filter(pump=pump).latest()
    assert program.daily_dose_mcg == Decimal(1440)
    overrides = dict(
        Override.objects.filter(program=program).values_list("rule", "requires_physician")
    )
    assert overrides == {"dose_increase_over_limit": True, "dose_limited_experience": False}


def test_a_flex_total_20_percent_above_the_program_needs_confirmation(nurse_client, flex_pump):
    data = _flex(flex_pump, ("00:00", "8", "20"), ("08:00", "16", "21.25"))  # 160 + 340 = 500
    before = _counts()
    html = nurse_client.post(_url(flex_pump), data).content.decode()
    assert "+25 %" in _steps_html(html)
    assert "Confirm the new total" in _steps_html(html)
    assert _counts() == before

    data["override_reason"] = "Checked with the physician's order: 500 mcg/day"
    assert nurse_client.post(_url(flex_pump), data).status_code == 302
    program = DrugProgram.objects.filter(pump=flex_pump).latest()
    assert program.daily_dose_mcg == Decimal(500)
    assert Override.objects.get(program=program).rule == "dose_change_confirm"


# --------------------------------------------------------------------------- errors in place


def test_overlapping_steps_are_refused_in_place_and_save_nothing(nurse_client, flex_pump):
    before = _counts()
    data = _flex(flex_pump, ("00:00", "12", "15"), ("06:00", "12", "18.33"))
    response = nurse_client.post(_url(flex_pump), data)
    assert response.status_code == 200
    steps = _steps_html(response.content.decode())
    assert "Flex steps overlap from 06:00 to 12:00" in steps
    assert "No flex step covers 18:00 to 00:00" in steps
    assert _counts() == before


def test_steps_that_do_not_cover_the_day_are_refused(nurse_client, flex_pump):
    before = _counts()
    data = _flex(flex_pump, ("00:00", "12", "15"), ("13:00", "11", "20"))
    steps = _steps_html(nurse_client.post(_url(flex_pump), data).content.decode())
    assert "The flex steps cover 23 hours; they must cover exactly 24 hours." in steps
    assert "No flex step covers 12:00 to 13:00" in steps
    assert _counts() == before


def test_a_zero_hour_step_is_refused(nurse_client, flex_pump):
    before = _counts()
    data = _flex(flex_pump, ("00:00", "24", "16"), ("12:00", "0", "20"))
    steps = _steps_html(nurse_client.post(_url(flex_pump), data).content.decode())
    assert "each step needs more than 0 hours" in steps
    assert _counts() == before


def test_a_half_filled_row_is_an_error_on_that_row(nurse_client, flex_pump):
    before = _counts()
    data = _flex(flex_pump, ("00:00", "12", "15"), ("12:00", "12", ""))
    html = nurse_client.post(_url(flex_pump), data).content.decode()
    row = html.split('name="steps-1-rate_mcg_per_hour"')[1].split("</td>")[0]
    assert "Enter the rate in mcg/hour." in row
    tag = re.search(r'<input[^>]*name="steps-1-rate_mcg_per_hour"[^>]*>', html).group(0)
    assert "is-invalid" in tag
    assert 'aria-describedby="id_steps-1-rate_mcg_per_hour_error"' in tag
    assert 'id="id_steps-1-rate_mcg_per_hour_error"' in html
    assert _counts() == before


def test_a_step_value_that_does_not_parse_is_an_error_on_its_input(nurse_client, flex_pump):
    before = _counts()
    data = _flex(flex_pump, ("25:00", "24", "1e309"))
    html = nurse_client.post(_url(flex_pump), data).content.decode()
    assert "Enter a valid time." in html.split('name="steps-0-starts_at"')[1].split("</td>")[0]
    rate = html.split('name="steps-0-rate_mcg_per_hour"')[1].split("</td>")[0]
    assert "invalid-feedback" in rate
    assert _counts() == before


def test_flex_without_any_step_is_refused(nurse_client, flex_pump):
    before = _counts()
    data = _flex(flex_pump, blank=3)
    steps = _steps_html(nurse_client.post(_url(flex_pump), data).content.decode())
    assert "Enter at least one step" in steps
    assert _counts() == before


def test_flex_post_without_its_step_rows_is_refused(nurse_client, flex_pump):
    data = {k: v for k, v in _flex(flex_pump, ("00:00", "24", "16")).items() if "steps-" not in k}
    before = _counts()
    steps = _steps_html(nurse_client.post(_url(flex_pump), data).content.decode())
    assert "did not arrive with the form" in steps
    assert _counts() == before


def test_a_tampered_row_count_is_refused(nurse_client, flex_pump):
    data = _flex(flex_pump, ("00:00", "24", "16"), **{"steps-TOTAL_FORMS": "abc"})
    before = _counts()
    steps = _steps_html(nurse_client.post(_url(flex_pump), data).content.decode())
    assert "did not arrive complete" in steps
    assert "Enter at least one step" not in steps
    assert _counts() == before


def test_more_than_13_steps_are_refused(nurse_client, flex_pump):
    rows = [(f"{hour:02d}:00", "1", "16") for hour in range(14)] + [("14:00", "10", "16")]
    data = _flex(flex_pump, *rows, blank=0)
    before = _counts()
    steps = _steps_html(nurse_client.post(_url(flex_pump), data).content.decode())
    assert "at most 13 steps a day" in steps
    assert _counts() == before


def test_errors_keep_what_was_typed_and_the_totals(nurse_client, flex_pump):
    data = _flex(flex_pump, ("00:00", "12", "15"), ("06:00", "12", "20"))
    html = nurse_client.post(_url(flex_pump), data).content.decode()
    assert 'name="steps-1-starts_at" value="06:00"' in html
    assert 'name="steps-TOTAL_FORMS" value="3"' in html
    steps = _steps_html(html)
    assert "18:00" in steps  # the second step's end, computed on the server
    assert "240" in steps  # its dose: 12 h x 20 mcg/h
    assert "420 mcg/day" in _totals_html(html)


# --------------------------------------------------------------------------- pre-fill


def test_an_existing_flex_program_is_prefilled(nurse_client, flex_pump):
    html = nurse_client.get(_url(flex_pump)).content.decode()
    assert '<option value="flex" selected>' in html
    assert 'name="steps-0-starts_at" value="00:00"' in html
    assert 'name="steps-0-hours" value="8"' in html
    assert 'name="steps-0-rate_mcg_per_hour" value="15"' in html
    assert 'name="steps-1-starts_at" value="08:00"' in html
    assert 'name="steps-1-hours" value="16"' in html
    assert 'name="steps-1-rate_mcg_per_hour" value="17.5"' in html
    # Both steps, then blank rows to add more without script.
    assert 'name="steps-TOTAL_FORMS" value="5"' in html
    assert 'name="steps-INITIAL_FORMS" value="2"' in html
    assert 'name="steps-4-starts_at"' in html and 'name="steps-5-starts_at"' not in html
    steps = _steps_html(html)
    assert "16 of 24 hours" not in steps and "24 of 24 hours" in steps
    assert "400 mcg/day" in steps
    assert "no change" in _totals_html(html)


def test_program_initial_carries_the_steps(flex_pump):
    program = DrugProgram.objects.filter(pump=flex_pump).latest()
    initial = program_initial(program, zone=flex_pump.patient.clinic.tz, now=timezone.now())
    assert initial["mode"] == DosingMode.FLEX
    assert initial["flex_steps"] == [
        {"starts_at": dt.time(0), "hours": "8", "rate_mcg_per_hour": "15"},
        {"starts_at": dt.time(8), "hours": "16", "rate_mcg_per_hour": "17.5"},
    ]
    form = ProgramChangeForm(program=program, initial=initial)
    assert form.totals().total_mcg == Decimal(400)
    assert len(form.steps.forms) == 2 + 3


def test_a_prefilled_flex_program_saves_again_with_a_changed_step(nurse_client, flex_pump):
    data = _flex(flex_pump, ("00:00", "8", "15"), ("08:00", "16", "18"), blank=3)
    data["steps-INITIAL_FORMS"] = "2"
    assert nurse_client.post(_url(flex_pump), data).status_code == 302
    program = DrugProgram.objects.filter(pump=flex_pump).latest()
    assert program.daily_dose_mcg == Decimal(408)
    assert program.flex_steps.count() == 2


def test_clearing_a_prefilled_row_removes_that_step(nurse_client, flex_pump):
    data = _flex(flex_pump, ("00:00", "24", "17"), ("", "", ""), blank=3)
    data["steps-INITIAL_FORMS"] = "2"
    assert nurse_client.post(_url(flex_pump), data).status_code == 302
    program = DrugProgram.objects.filter(pump=flex_pump).latest()
    assert [(s.starts_at, s.hours) for s in program.flex_steps.all()] == [(dt.time(0), 24)]


# --------------------------------------------------------------------------- the page


def _labelled_inputs(html: str) -> list[str]:
    ids = re.findall(r'<(?:input|select|textarea)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', html)
    return ids


@pytest.mark.parametrize("fixture", ["filled_pump", "flex_pump"])
def test_the_page_renders_with_labels_and_no_inline_script(nurse_client, request, fixture):
    pump = request.getfixturevalue(fixture)
    response = nurse_client.get(_url(pump))
    assert response.status_code == 200
    html = response.content.decode()
    form = html.split('id="program-form"')[1].split("</form>")[0]
    ids = _labelled_inputs(form)
    assert "id_steps-0-starts_at" in ids and "id_steps-__prefix__-rate_mcg_per_hour" in ids
    for input_id in ids:
        assert f'for="{input_id}"' in form, input_id
    assert "js/program-steps.js" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+\s*=", html)
    assert "style=" not in form
    # Buttons that need the script stay hidden until it runs.
    assert re.search(r"<button[^>]*data-add-step[^>]*hidden", form)


def test_a_simple_program_page_offers_blank_step_rows(nurse_client, filled_pump):
    html = nurse_client.get(_url(filled_pump)).content.decode()
    assert '<option value="simple" selected>' in html
    assert 'name="basal_daily_dose_mcg" value="400"' in html
    assert 'name="steps-TOTAL_FORMS" value="3"' in html
    assert 'name="steps-INITIAL_FORMS" value="0"' in html
    assert "400 mcg/day" in _totals_html(html)


def test_the_step_script_is_a_static_file():
    path = finders.find("js/program-steps.js")
    assert path
    text = Path(path).read_text(encoding="utf-8")
    assert "TOTAL_FORMS" in text and "__prefix__" in text


def test_another_clinics_patient_is_a_404(nurse_client, clinic):
    other = PumpFactory(patient=PatientFactory(clinic=ClinicFactory(name="Far away")))
    assert nurse_client.get(_url(other)).status_code == 404
