"""Every report's period: one validation (the audit trail's bounds and words), never a 500.

A day near date.max overflowed "the day after the period"; a day before 1900 was taken.
Whatever pair of days is asked for, each report's page, CSV and PDF answers 200, with the
period asked for or the default and the reason it was not used."""

import datetime as dt

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accounts.models import Role
from reports.audit_forms import AuditFilterForm
from reports.filters import EARLIEST_DAY, LATEST_DAY, OUT_OF_BOUNDS, ReportFilterForm
from reports.metrics import CATALOGUE
from tests.factories import staff

KEYS = [kind.key for kind in CATALOGUE]
FORMATS = ["", "_csv", "_pdf"]
any_day = st.dates(min_value=dt.date.min, max_value=dt.date.max)


@pytest.fixture
def manager_client(client, as_user, clinic):
    return as_user(staff(clinic, Role.MANAGER))


def _body(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


@pytest.mark.parametrize("key", ["refills", "appointments", "safety", "delivery"])
@pytest.mark.parametrize("day", ["9999-12-30", "9999-12-31", "0001-01-01"])
def test_extreme_days_answer_with_the_default_and_say_why(client, as_user, clinic, key, day):
    as_user(staff(clinic, Role.MANAGER))
    query = {"since": day, "until": day}
    page = client.get(reverse(f"reports:{key}"), query)
    assert page.status_code == 200
    assert OUT_OF_BOUNDS.encode() in page.content
    assert b"The default period is shown." in page.content
    csv = client.get(reverse(f"reports:{key}_csv"), query)
    assert csv.status_code == 200
    text = _body(csv).decode()
    assert OUT_OF_BOUNDS in text and "the default is shown" in text
    pdf = client.get(reverse(f"reports:{key}_pdf"), query)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_the_reports_and_the_audit_trail_take_the_same_days():
    for day in (EARLIEST_DAY, LATEST_DAY):
        assert ReportFilterForm({"since": day, "until": day}).is_valid()
    for day in (EARLIEST_DAY - dt.timedelta(days=1), LATEST_DAY + dt.timedelta(days=1)):
        report = ReportFilterForm({"since": day, "until": LATEST_DAY})
        audit = AuditFilterForm({"since": day}, users=[], kinds=[])
        assert not report.is_valid() and not audit.is_valid()
        assert report.errors["since"] == audit.errors["since"] == [OUT_OF_BOUNDS]


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    since=any_day,
    until=any_day,
    key=st.sampled_from(KEYS),
    fmt=st.sampled_from(FORMATS),
)
@example(since=dt.date.max, until=dt.date.max, key="refills", fmt="")
@example(since=dt.date.min, until=dt.date.min, key="appointments", fmt="_pdf")
@example(since=LATEST_DAY, until=LATEST_DAY, key="safety", fmt="_csv")
@example(since=EARLIEST_DAY, until=EARLIEST_DAY, key="delivery", fmt="")
def test_any_pair_of_days_gets_a_report_not_an_error(manager_client, since, until, key, fmt):
    client = manager_client
    form = ReportFilterForm({"since": since.isoformat(), "until": until.isoformat()})
    response = client.get(
        reverse(f"reports:{key}{fmt}"), {"since": since.isoformat(), "until": until.isoformat()}
    )
    assert response.status_code == 200
    body = _body(response)
    uses_period = next(k for k in CATALOGUE if k.key == key).uses_period
    if fmt == "_csv" and uses_period:
        # The period actually reported is the one asked for, or the default with the reason.
        if form.is_valid():
            assert f"Period,{since.isoformat()},{until.isoformat()}" in body.decode()
        else:
            assert "the default is shown" in body.decode()
    if fmt == "" and uses_period and not form.is_valid():
        assert b"The default period is shown." in body


@pytest.mark.parametrize("key", ["capacity", "devices"])
def test_look_ahead_reports_say_what_they_cover_not_the_period(manager_client, clinic, key):
    """Capacity and devices count from today: the CSV, PDF and file names say so, and never
    carry the period filter's dates."""
    from django.utils import timezone

    from reports.metrics.devices import add_months

    today = timezone.localtime(timezone.now(), clinic.tz).date()
    if key == "capacity":  # to the Sunday ending the 12th week (this one is the first)
        name = "the 12 weeks from today"
        last = today - dt.timedelta(days=today.weekday()) + dt.timedelta(days=83)
    else:
        name, last = "the 12 months from today", add_months(today, 12)
    query = {"since": "2020-01-01", "until": "2020-02-01"}
    csv = manager_client.get(reverse(f"reports:{key}_csv"), query)
    text = _body(csv).decode()
    assert f"Covers {name},{today.isoformat()},{last.isoformat()}" in text
    assert "2020-01-01" not in text and "Period," not in text
    assert f"-{today}-{last}.csv" in csv["Content-Disposition"]
    pdf = manager_client.get(reverse(f"reports:{key}_pdf"), query)
    assert f"-{today}-{last}.pdf" in pdf["Content-Disposition"]
