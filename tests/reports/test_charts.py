"""The reports' bar chart: pure (no Django), escaped, and the axis covers every bar."""

import subprocess
import sys
import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from reports.charts import BarChart, Series, axis_top, bar_chart_svg, tick_count


def test_the_chart_module_imports_no_django():
    code = "import sys, reports.charts; assert 'django' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_names_are_escaped_and_the_svg_parses():
    chart = BarChart(
        title="<script>alert(1)</script>",
        labels=("a&b", "<c>"),
        series=(Series("x<y", (1, 2)),),
        limits=(1, 1),
        limit_name="slots",
        flagged=frozenset({1}),
    )
    svg = bar_chart_svg(chart)
    assert "<script>" not in svg
    root = ET.fromstring(svg)  # noqa: S314 - our own markup
    assert root.tag.endswith("svg")
    assert "over capacity" in svg


@settings(max_examples=50, deadline=None)
@given(
    values=st.lists(st.integers(min_value=0, max_value=100_000), min_size=1, max_size=30),
    limit=st.integers(min_value=0, max_value=100_000),
)
def test_the_axis_covers_every_bar_and_limit_with_whole_ticks(values, limit):
    chart = BarChart(
        title="t",
        labels=tuple(str(i) for i in range(len(values))),
        series=(Series("s", tuple(values)),),
        limits=(limit,) * len(values),
    )
    top = axis_top(chart)
    assert top >= max(values) and top >= limit
    step = top / tick_count(top)
    assert step == int(step)
    ET.fromstring(bar_chart_svg(chart))  # noqa: S314 - our own markup


def test_a_partial_period_mark_is_never_cut_off_a_few_bars_label():
    from reports.charts import BarChart, Series, bar_chart_svg

    months = ("Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Jan")
    labels = ("Jun 2026 (from 3 Jun)", *(f"{m} 2026" for m in months))
    chart = BarChart("Per month", labels, (Series("n", tuple(range(8))),))
    svg = bar_chart_svg(chart)
    assert ">(from 3 Jun)</tspan>" in svg
    assert ">Jun 2026</tspan>" in svg
