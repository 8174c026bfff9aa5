"""The pure pieces: the SVG chart builder, the proposed date, the date filter."""

import datetime as dt
import subprocess
import sys
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from dashboard.chart import Marker, ReservoirChart, ResidualMark, centred_window, render_svg
from refills.scheduling import ClinicHours, latest_safe_start

NY = ZoneInfo("America/New_York")
OFFICE = ClinicHours(frozenset(range(5)), dt.time(9), dt.time(17))  # Mon–Fri 09:00–17:00


def test_chart_module_does_not_import_django():
    code = "import sys, dashboard.chart, refills.scheduling; print('django' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def _chart(**kwargs):
    start = dt.datetime(2025, 3, 3, 9, tzinfo=NY)
    base = {
        "start": start,
        "end": start + dt.timedelta(days=100),
        "capacity_ml": Decimal("20"),
        "alarm_ml": Decimal("2"),
        "empty_ml": Decimal("0"),
        "zone": NY,
        "projection": ((start, Decimal("20")), (start + dt.timedelta(days=100), Decimal("0"))),
        "alarm_at": start + dt.timedelta(days=90),
    }
    base.update(kwargs)
    return ReservoirChart(**base)


def test_svg_has_accessible_title_lines_and_markers():
    start = dt.datetime(2025, 3, 3, 9, tzinfo=NY)
    svg = render_svg(
        _chart(
            markers=(
                Marker(at=start + dt.timedelta(days=40), label="<refill>", kind="appointment"),
            ),
            residuals=(
                ResidualMark(
                    at=start + dt.timedelta(days=1),
                    actual_ml=Decimal("6"),
                    expected_ml=Decimal("3"),
                    flagged=True,
                ),
            ),
        )
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert '<title id="chart-title">' in svg
    assert "Projected alarm Sun 1 Jun 2025." in svg
    assert 'class="chart-alarm"' in svg
    assert 'class="chart-projection"' in svg
    assert "chart-appointment" in svg
    assert "&lt;refill&gt;" in svg and "<refill>" not in svg
    assert "chart-residual-flagged" in svg
    assert "style=" not in svg


def test_marker_outside_the_window_is_not_drawn():
    late = dt.datetime(2026, 1, 1, tzinfo=NY)
    svg = render_svg(_chart(markers=(Marker(at=late, label="later", kind="appointment"),)))
    assert "chart-appointment" not in svg


def test_proposal_is_the_refill_by_date_on_a_working_day():
    now = dt.datetime(2025, 3, 3, 12, tzinfo=NY)  # a Monday
    proposal = latest_safe_start(refill_by=dt.date(2025, 3, 14), now=now, zone=NY, hours=OFFICE)
    assert proposal.start == dt.datetime(2025, 3, 14, 9, tzinfo=NY)
    assert proposal.on_refill_by and not proposal.late


def test_weekend_refill_by_moves_to_the_friday_before():
    now = dt.datetime(2025, 3, 3, 12, tzinfo=NY)
    sunday = dt.date(2025, 3, 16)
    proposal = latest_safe_start(refill_by=sunday, now=now, zone=NY, hours=OFFICE)
    assert proposal.start.date() == dt.date(2025, 3, 14)
    assert not proposal.on_refill_by
    assert (
        "This is 2 days before the refill-by date: the refill-by date is not a clinic working day."
        in proposal.note
    )


def test_refill_by_today_proposes_the_next_slot():
    now = dt.datetime(2025, 3, 5, 13, 7, tzinfo=NY)
    proposal = latest_safe_start(refill_by=dt.date(2025, 3, 5), now=now, zone=NY, hours=OFFICE)
    assert proposal.start == dt.datetime(2025, 3, 5, 13, 15, tzinfo=NY)
    assert not proposal.late


def test_passed_refill_by_is_late():
    now = dt.datetime(2025, 3, 5, 18, 30, tzinfo=NY)
    proposal = latest_safe_start(refill_by=dt.date(2025, 3, 5), now=now, zone=NY, hours=OFFICE)
    assert proposal.late
    assert "earliest slot" in proposal.note and "without an override" in proposal.note


def test_day_filter_uses_the_clinic_zone_and_weekday():
    from dashboard.templatetags.pumptrack_tags import day, daytime

    instant = dt.datetime(2025, 3, 4, 3, 0, tzinfo=dt.UTC)  # Monday evening in New York
    assert day(instant, NY) == "Mon 3 Mar 2025"
    assert day(instant, "Europe/Paris") == "Tue 4 Mar 2025"
    assert daytime(instant, NY) == "Mon 3 Mar 2025, 22:00"
    assert day(dt.date(2025, 3, 4)) == "Tue 4 Mar 2025"
    assert day(None) == "—"


@given(
    before=st.integers(min_value=0, max_value=400),
    after=st.integers(min_value=0, max_value=400),
)
def test_the_chart_window_is_centred_on_today_and_holds_what_matters(before, after):
    """Invariant (issue 12 #5): today is the middle, the fill and every date ahead inside."""
    now = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC)
    earliest, latest = now - dt.timedelta(days=before), now + dt.timedelta(days=after)
    start, end = centred_window(now, earliest=earliest, latest=latest)
    assert now - start == end - now
    assert start <= earliest and latest <= end
