"""A report as a PDF a manager files (reportlab, as the emergency card): title, clinic,
period, who printed it and when, the key figures, the chart, the tables, the notes."""

from __future__ import annotations

import datetime as dt
import io
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.shapes import Drawing, Line, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from pumptrack.dates import WEEKDAY_DATE, date_text
from reports.charts import BarChart, axis_top, describe, split_label, tick_count
from reports.metrics import Report

PAGE = landscape(A4)
# The page's series colours (static css/pumptrack.css bar-s1 ... bar-s7).
SERIES = {
    "s1": "#2f6f9f",
    "s2": "#5fa8d3",
    "s3": "#e0a33a",
    "s4": "#b02a37",
    "s5": "#6c757d",
    "s6": "#7a5ea8",
    "s7": "#a3c9a8",
}


def _chart(chart: BarChart, width: float) -> Drawing:
    height = 70 * mm
    drawing = Drawing(width, height)
    bars = VerticalBarChart()
    bars.x, bars.y, bars.width, bars.height = 30, 40, width - 50, height - 60
    bars.data = [list(s.values) or [0] for s in chart.series] or [[0]]
    bars.categoryAxis.categoryNames = list(chart.labels) or [""]
    many = len(chart.labels) > 8
    bars.categoryAxis.labels.angle = 40 if many else 0
    if not many:
        # Few bars: each label level, cut to its bar's width.
        room = max(int((width - 50) / max(len(chart.labels), 1) / 4.2), 4)
        bars.categoryAxis.categoryNames = [
            "\n".join(
                line if len(line) <= room else line[: room - 1] + "…"
                for line in (split_label(name) if len(name) > room else [name])
            )
            for name in chart.labels
        ] or [""]
    bars.categoryAxis.labels.boxAnchor = "ne" if len(chart.labels) > 8 else "n"
    bars.categoryAxis.labels.fontSize = 7
    bars.valueAxis.valueMin = 0
    top = axis_top(chart)
    bars.valueAxis.valueMax = top
    bars.valueAxis.valueStep = top / tick_count(top)
    bars.valueAxis.labels.fontSize = 7
    if chart.stacked:
        bars.categoryAxis.style = "stacked"
    for i, series in enumerate(chart.series):
        bars.bars[i].fillColor = colors.HexColor(SERIES.get(series.css, "#2f6f9f"))
        bars.bars[i].strokeColor = None
    drawing.add(bars)
    x = 30
    for series in chart.series:
        drawing.add(
            String(
                x,
                height - 10,
                "■ " + series.name,
                fontSize=8,
                fillColor=colors.HexColor(SERIES.get(series.css, "#2f6f9f")),
            )
        )
        x += 20 + 4.5 * len(series.name)
    if chart.limits and any(v is not None for v in chart.limits):
        drawing.add(
            String(
                x,
                height - 10,
                f"— {chart.limit_name}: " + ", ".join(str(v) for v in chart.limits),
                fontSize=7,
            )
        )
        drawing.add(Line(x, height - 14, x + 10, height - 14, strokeColor=colors.black))
    return drawing


def _table(table, style) -> list:
    head = [Paragraph(f"<b>{escape(h)}</b>", style) for h in table.header]
    body = [[Paragraph(escape(str(v)), style) for v in row] for row in table.rows]
    grid = Table([head, *body] if body else [head], repeatRows=1, hAlign="LEFT")
    commands = [
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e9ecef")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    for i in table.marked:
        commands.append(("BACKGROUND", (0, i + 1), (-1, i + 1), colors.HexColor("#f8d7da")))
    grid.setStyle(TableStyle(commands))
    return [grid]


def report_pdf(
    report: Report,
    *,
    clinic_names: list[str],
    zone_name: str,
    printed_at: dt.datetime,
    by: str,
) -> bytes:
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontSize=9, leading=11)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=colors.grey)
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=PAGE,
        leftMargin=14 * mm,
        rightMargin=14 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=f"{report.title} — pumptrack",
    )
    first, last = report.covers
    period = f"{date_text(first)} to {date_text(last)}"
    if report.ahead:
        period = f"{report.ahead_name}: {period} (the period filter does not apply)"
    story = [
        Paragraph(escape(report.title), styles["Heading1"]),
        Paragraph(escape(f"{', '.join(clinic_names)} · {period} · days in {zone_name}"), body),
        Paragraph(
            escape(f"Printed {date_text(printed_at, WEEKDAY_DATE + ' H:i')} ({zone_name}) by {by}"),
            small,
        ),
        Spacer(1, 4 * mm),
    ]
    figures = Table(
        [
            [Paragraph(escape(label), body), Paragraph(f"<b>{escape(str(v))}</b>", body)]
            for label, v in report.figures
        ],
        colWidths=[110 * mm, 40 * mm],
        hAlign="LEFT",
    )
    figures.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.lightgrey)]))
    story += [figures, Spacer(1, 4 * mm)]
    if report.chart is not None:
        story += [
            Paragraph(f"<b>{escape(report.chart.title)}</b>", body),
            _chart(report.chart, PAGE[0] - 28 * mm),
            Paragraph(escape(describe(report.chart)), small),
            Spacer(1, 4 * mm),
        ]
    for table in report.tables:
        story += [Paragraph(f"<b>{escape(table.title)}</b>", body), *_table(table, body)]
        if table.note:
            story.append(Paragraph(escape(table.note), small))
        story.append(Spacer(1, 4 * mm))
    for note in report.notes:
        story.append(Paragraph(escape(note), small))
    doc.build(story, onFirstPage=_footer, onLaterPages=_footer)
    return buffer.getvalue()


def _footer(canvas, doc) -> None:
    canvas.saveState()
    canvas.setFont("Helvetica", 7)
    canvas.drawRightString(PAGE[0] - 14 * mm, 7 * mm, f"pumptrack · page {doc.page}")
    canvas.restoreState()
