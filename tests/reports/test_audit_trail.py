"""The audit trail page an inspector reads: old and new values by field label in the
clinic's zone, filters, pages, the CSV of the same rows, access by role, another clinic
never shown, and a cost that follows the page (hand-built histories)."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from patients import services as patient_services
from reports.audit import AuditFilter, audit_page
from tests.factories import ClinicFactory, PatientFactory, PumpFactory, pump_model, staff

URL = reverse("reports:audit")
SINCE = {"since": "2000-01-01"}


@pytest.fixture
def auditor(clinic):
    return staff(clinic, Role.AUDITOR)


def _entries(response):
    return response.context["result"].entries


def _changes(entry) -> dict[str, tuple[str, str]]:
    return {c.label: (c.old, c.new) for c in entry.changes}


def test_a_change_shows_labels_old_and_new_values_choices_and_foreign_keys(
    client, as_user, auditor, pump, nurse
):
    patient = pump.patient
    patient.history.update(history_user=nurse)
    pump._history_user = nurse
    pump.model = pump_model("8637-40")
    pump.alarm_volume_ml = Decimal("4.0")
    pump.save()
    patient_services.patient_update(
        patient=patient, spasticity_origin="cerebral", transport_barrier=True
    )
    as_user(auditor)

    # The pump has no fill on record, so re-tiering raised the no-fill alert: not this
    # test's subject.
    entries = [e for e in _entries(client.get(URL, SINCE)) if e.model != "Alert"]

    patient_change, pump_change = entries[0], entries[1]
    assert (patient_change.model, patient_change.change) == ("Patient", "changed")
    assert _changes(patient_change) == {
        "Spasticity origin": ("Spinal origin", "Cerebral origin"),
        "Transport, weather or travel barrier": ("no", "yes"),
    }
    assert patient_change.patient_id == patient.pk
    assert patient_change.patient == f"Testpatient, {patient.given_name} (MRN {patient.mrn})"
    assert (pump_change.model, pump_change.username) == ("Pump", nurse.username)
    old_model, new_model = pump_model("8637-20"), pump_model("8637-40")
    assert _changes(pump_change) == {
        "Model": (str(old_model), str(new_model)),
        "Low-reservoir alarm volume (mL)": ("2", "4"),
    }
    assert pump_change.record == f"Pump #{pump.pk} (SN {pump.serial_number})"


def test_times_are_the_clinic_s_and_the_zone_is_named(client, as_user, auditor, patient):
    """New York: 02:30 UTC on 10 March 2026 is 22:30 (EDT, two days after the change to
    summer time) on 9 March at the clinic."""
    at = dt.datetime(2026, 3, 10, 2, 30, tzinfo=dt.UTC)
    with time_machine.travel(at, tick=False):
        patient_services.patient_update(patient=patient, hearing_impairment=True)
    as_user(auditor)

    response = client.get(URL, {**SINCE, "kind": "patients.Patient"})

    assert str(patient.clinic.timezone) == "America/New_York"
    html = response.content.decode()
    assert "America/New_York" in html
    assert "Mon 9 Mar 2026<br>22:30:00" in html
    csv_rows = _csv(client, {**SINCE, "kind": "patients.Patient"})
    changed = [r for r in csv_rows if r["change"] == "changed"]
    assert changed[0]["when (clinic time)"] == "2026-03-09T22:30:00-04:00"


def _csv(client, query) -> list[dict]:
    response = client.get(URL, {**query, "format": "csv"})
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_filters_by_patient_user_kind_and_dates(client, as_user, auditor, clinic, nurse):
    anna, bert = PatientFactory(clinic=clinic, mrn="ANNA1"), PatientFactory(clinic=clinic)
    day = dt.datetime(2026, 5, 4, 18, 0, tzinfo=dt.UTC)  # 11:00 in Los Angeles
    with time_machine.travel(day, tick=False):
        anna._history_user = nurse
        patient_services.patient_update(patient=anna, hearing_impairment=True)
        PumpFactory(patient=bert)
    with time_machine.travel(day + dt.timedelta(days=3), tick=False):
        patient_services.patient_update(patient=bert, transport_barrier=True)
    as_user(auditor)

    def seen(**query):
        entries = _entries(client.get(URL, {**SINCE, **query}))
        return sorted((e.model, e.change, e.patient_id) for e in entries)

    assert ("Patient", "changed", anna.pk) in seen(mrn="ANNA1")
    assert {p for *_, p in seen(mrn="ANNA1")} == {anna.pk}
    assert {p for *_, p in seen(patient=bert.pk)} == {bert.pk}
    assert seen(kind="patients.Pump") == [("Pump", "created", bert.pk)]
    assert seen(since="2026-05-04", until="2026-05-04") == [
        ("Patient", "changed", anna.pk),
        ("Pump", "created", bert.pk),
    ]
    # Bert's pump has no fill on record: re-tiering him raises the no-fill alert, and the
    # trail shows that too.
    assert seen(since="2026-05-05", until="2026-05-07") == [
        ("Alert", "created", bert.pk),
        ("Patient", "changed", bert.pk),
    ]
    by_system = seen(user="0", since="2026-05-04")
    assert ("Patient", "changed", bert.pk) in by_system
    # The CSV holds the same changes as the page, filter for filter.
    rows = _csv(client, {"since": "2026-05-04", "until": "2026-05-04"})
    assert sorted({(r["record type"], r["change"], r["patient id"]) for r in rows}) == [
        ("Patient", "changed", str(anna.pk)),
        ("Pump", "created", str(bert.pk)),
    ]


def test_another_clinic_never_appears_not_even_by_its_patient_id(
    client, as_user, auditor, clinic, patient
):
    other = ClinicFactory(name="Elsewhere")
    stranger = PatientFactory(clinic=other, family_name="Farclinicson", mrn="FAR1")
    PumpFactory(patient=stranger)
    as_user(auditor)

    everything = client.get(URL, SINCE)
    assert b"Farclinicson" not in everything.content
    assert {e.patient_id for e in _entries(everything)} - {None} == {patient.pk}
    by_id = client.get(URL, {**SINCE, "patient": stranger.pk})
    assert _entries(by_id) == [] and b"Farclinicson" not in by_id.content
    by_mrn = client.get(URL, {**SINCE, "mrn": "FAR1"})
    assert "No patient of" in by_mrn.content.decode() and _entries(by_mrn) == []
    # The CSV of another clinic's patient is refused with the page's message (no file
    # that reads as "no changes"), and names nobody.
    refused = client.get(URL, {**SINCE, "patient": stranger.pk, "format": "csv"})
    assert refused.status_code == 400 and b"Farclinicson" not in refused.content
    assert "No patient of" in refused.content.decode()
    assert client.get(URL, {"clinic": other.pk}).status_code == 404


def test_pages_of_fifty_newest_first(client, as_user, auditor, patient):
    start = timezone.now() + dt.timedelta(minutes=1)  # after the patient's creation
    for n in range(60):
        with time_machine.travel(start + dt.timedelta(minutes=n), tick=False):
            patient_services.patient_update(patient=patient, notes=f"note {n}")
    as_user(auditor)

    first = client.get(URL, {"kind": "patients.Patient"})
    second = client.get(URL, {"kind": "patients.Patient", "page": "2"})

    assert first.context["result"].total == 61  # created, then 60 changes
    assert len(_entries(first)) == 50 and len(_entries(second)) == 11
    assert _changes(_entries(first)[0]) == {"Notes": ("note 58", "note 59")}, _entries(first)[0]
    assert _entries(second)[-1].change == "created"
    times = [e.at for e in _entries(first) + _entries(second)]
    assert times == sorted(times, reverse=True)


def test_the_cost_follows_the_page_not_the_history(patient, clinic, django_assert_max_num_queries):
    def page_queries(changes: int) -> int:
        for n in range(changes):
            patient_services.patient_update(patient=patient, notes=f"{changes} {n}")
        flt = AuditFilter(clinic_ids=(clinic.pk,))
        with django_assert_max_num_queries(20) as captured:
            page = audit_page(flt=flt, tz=clinic.tz, per_page=5)
        assert len(page.entries) == 5
        return len(captured.captured_queries)

    short = page_queries(6)
    long = page_queries(80)
    assert short == long
    # And only the page's rows and their previous versions are read from the history.
    flt = AuditFilter(clinic_ids=(clinic.pk,), kinds=("patients.Patient",))
    with django_assert_max_num_queries(20) as captured:
        audit_page(flt=flt, tz=clinic.tz, per_page=5)
    reads = [q["sql"] for q in captured.captured_queries if "historicalpatient" in q["sql"]]
    assert any("LIMIT 5" in sql for sql in reads)


@pytest.mark.parametrize(
    ("role", "page", "export"),
    [
        (Role.MANAGER, 200, 200),
        (Role.AUDITOR, 200, 200),
        (Role.PHYSICIAN, 200, 403),
        (Role.NURSE, 403, 403),
        (Role.SCHEDULER, 403, 403),
    ],
)
def test_who_may_read_and_export(client, as_user, clinic, role, page, export):
    as_user(staff(clinic, role))
    assert client.get(URL).status_code == page
    assert client.get(URL, {"format": "csv"}).status_code == export


def test_a_bad_filter_is_explained_not_guessed(client, as_user, auditor, patient):
    as_user(auditor)
    response = client.get(URL, {"since": "2026-05-05", "until": "2026-05-01"})
    assert response.status_code == 200
    assert "The end date is before the start date." in response.content.decode()
    assert _entries(response) == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "2026-05-05", "until": "2026-05-01"}, "The end date is before the start date."),
        ({"mrn": "NOBODY-HERE"}, "has this MRN."),
        ({"kind": "foo"}, "the audit trail has no such kind."),
        ({"user": "999999"}, "this user has never been a member of this clinic."),
    ],
)
def test_a_csv_with_a_bad_filter_is_refused_with_the_message_not_an_empty_file(
    client, as_user, auditor, patient, query, message
):
    as_user(auditor)

    response = client.get(URL, {**query, "format": "csv"})

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert message in response.content.decode()


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"kind": "foo"}, "kind", "the audit trail has no such kind."),
        ({"user": "999999"}, "user", "this user has never been a member of this clinic."),
    ],
)
def test_an_unknown_kind_or_user_is_named_on_its_field(
    client, as_user, auditor, patient, query, field, message
):
    as_user(auditor)

    response = client.get(URL, query)

    assert response.status_code == 200
    assert message in response.context["form"].errors[field][0]
    assert f'<div class="invalid-feedback">{response.context["form"].errors[field][0]}' in (
        response.content.decode()
    )


@pytest.mark.parametrize("page", ["0", "-1", "abc", None])
def test_a_page_that_is_not_a_page_shows_the_newest_changes(patient, page):
    for n in range(4):
        patient_services.patient_update(patient=patient, hearing_impairment=bool(n % 2))
    flt = AuditFilter(clinic_ids=(patient.clinic_id,))

    result = audit_page(flt=flt, tz=patient.clinic.tz, page_number=page, per_page=2)

    assert result.page.paginator.num_pages >= 2
    assert result.page.number == 1
    assert result.entries == audit_page(flt=flt, tz=patient.clinic.tz, per_page=2).entries
