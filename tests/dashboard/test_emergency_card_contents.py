"""The emergency card, HTML and PDF (issue 8 #10, domain.md §4.3): the last refill date
with its own "confirm it" text, the conservative alarm date beside the nominal one, a
plain "the pump is stopped" line, the pump model's MRI precautions and overdose signs."""

import base64
import contextlib
import dataclasses
import re
import zlib

import pytest
from django.urls import reverse
from django.utils import timezone

from refills import services
from refills.models import DosingMode
from tests.conftest import program_input
from tests.factories import PatientFactory, PumpFactory, pump_model


def _day(when, zone) -> str:
    local = timezone.localtime(when, zone) if hasattr(when, "tzinfo") else when
    return f"{local:%a} {local.day} {local:%b %Y}"


def pdf_text(content: bytes) -> str:
    """The text a reportlab PDF draws, in order, with whitespace collapsed."""
    chunks = []
    for stream in re.findall(rb"(?<!end)stream\r?\n(.*?)endstream", content, re.S):
        data = stream
        if data.rstrip().endswith(b"~>"):  # reportlab: ASCII85, then Flate
            body = re.sub(rb"\s", b"", data).removeprefix(b"<~").removesuffix(b"~>")
            data = base64.a85decode(body)
        with contextlib.suppress(zlib.error):
            data = zlib.decompress(data)
        for literal in re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", data):
            text = re.sub(rb"\\([()\\])", rb"\1", literal).decode("latin-1")
            chunks.append(text)
    return re.sub(r"\s+", " ", " ".join(chunks))


def _both(client, patient) -> tuple[str, str]:
    html = client.get(reverse("dashboard:emergency_card", args=[patient.pk])).content.decode()
    html = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    pdf = client.get(reverse("dashboard:emergency_card_pdf", args=[patient.pk])).content
    return html, pdf_text(pdf)


def test_the_pdf_text_helper_reads_the_card(nurse_client, filled_pump):
    _, pdf = _both(nurse_client, filled_pump.patient)
    assert "DO NOT STOP intrathecal baclofen suddenly" in pdf


def test_last_refill_and_both_alarm_dates(nurse_client, filled_pump):
    zone = filled_pump.patient.clinic.tz
    forecast = filled_pump.forecast
    last = filled_pump.refills.latest("performed_at").performed_at
    assert forecast.conservative_alarm_at < forecast.alarm_at
    for text in _both(nurse_client, filled_pump.patient):
        assert f"Last refill {_day(last, zone)}" in text
        assert "confirm the date of the last refill with the pump team" in text
        assert (
            f"{_day(forecast.conservative_alarm_at, zone)} if the pump runs fast (conservative); "
            f"{_day(forecast.alarm_at, zone)} as programmed (nominal)"
        ) in text
        assert "The pump is stopped" not in text


def test_overdose_signs(nurse_client, filled_pump):
    for text in _both(nurse_client, filled_pump.patient):
        assert "Signs of overdose" in text
        for sign in ("Drowsiness", "dizziness", "respiratory depression", "Seizures", "coma"):
            assert sign in text, sign
        assert "immediate care in a monitored setting" in text


def test_a_stopped_pump_says_so_plainly(nurse_client, filled_pump, physician):
    stopped = dataclasses.replace(program_input(0, 2000), mode=DosingMode.STOPPED)
    services.drug_program_change(
        pump=filled_pump,
        by=physician,
        program=stopped,
        reason="Suspected overdose",
        override_reason="Physician ordered a stop pending review",
    )
    for text in _both(nurse_client, filled_pump.patient):
        assert "The pump is stopped: it is not delivering baclofen." in text


@pytest.mark.parametrize(
    ("model_number", "words"),
    [
        ("8637-20", ["MRI precautions", "MRI can stall the pump motor", "stops the drug"]),
        (
            "16827",
            [
                "MRI precautions",
                "must be emptied before MRI",
                "risk of overdose",
                "stays closed until it is reset",
            ],
        ),
    ],
)
def test_mri_precautions_of_the_pump_model(nurse_client, clinic, model_number, words):
    patient = PatientFactory(clinic=clinic)
    PumpFactory(patient=patient, model=pump_model(model_number))
    for text in _both(nurse_client, patient):
        for word in words:
            assert word in text, (model_number, word)


def test_a_model_without_mri_notes_says_ask_the_pump_team(nurse_client, clinic):
    model = pump_model("8637-20")
    model.mri_notes = ""
    model.save(update_fields=["mri_notes"])
    patient = PatientFactory(clinic=clinic)
    PumpFactory(patient=patient, model=model)
    for text in _both(nurse_client, patient):
        assert "No MRI precautions are recorded for this pump model" in text
