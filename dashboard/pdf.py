"""The patient's emergency card as a PDF (reportlab), from the same data as the HTML card."""

from __future__ import annotations

import io
from dataclasses import dataclass
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    KeepTogether,
    ListFlowable,
    ListItem,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from patients.phones import phone_text

from .chart import day_text
from .selectors import EmergencyCard


def _phone(value) -> str:
    # The one phone formatter (patients.phones), as the pages' template filter uses.
    return phone_text(value)


def _number(value) -> str:
    return "—" if value is None else f"{value.normalize():f}"


def _when(value, card: EmergencyCard) -> str:
    return "—" if value is None else day_text(value, card.tz)


def _flag(shown) -> str:
    """' (passed — refill overdue)' beside a date, as the selector decided."""
    return f" ({shown.note})" if shown is not None and shown.note else ""


def _printed(card: EmergencyCard) -> str:
    if card.printed_at is None:
        return day_text(card.printed_on)
    local = card.printed_at.astimezone(card.tz)
    return f"{day_text(local)}, {local:%H:%M} ({card.timezone_name})"


@dataclass(frozen=True)
class _Styles:
    heading: ParagraphStyle
    body: ParagraphStyle
    alert: ParagraphStyle  # white on red: what must not be missed
    small: ParagraphStyle


def _styles() -> _Styles:
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontSize=11, leading=14)
    return _Styles(
        heading=ParagraphStyle("heading", parent=styles["Heading1"], fontSize=18, spaceAfter=4),
        body=body,
        alert=ParagraphStyle(
            "alert",
            parent=body,
            textColor=colors.white,
            backColor=colors.HexColor("#b02a37"),
            borderPadding=(6, 6, 6, 6),
            fontName="Helvetica-Bold",
            fontSize=12,
            leading=16,
            alignment=TA_LEFT,
        ),
        small=ParagraphStyle("small", parent=body, fontSize=8.5, textColor=colors.HexColor("#555")),
    )


def _document(buffer: io.BytesIO, card: EmergencyCard) -> SimpleDocTemplate:
    return SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=f"Emergency card — {card.patient_name}",
        author=card.clinic_name,
    )


def _heading(card: EmergencyCard, style: _Styles) -> list:
    """Who the card is for, and never to stop baclofen suddenly."""
    return [
        Paragraph("Intrathecal baclofen pump — emergency card", style.heading),
        Paragraph(
            f"<b>{escape(card.patient_name)}</b>, born {day_text(card.date_of_birth)}, "
            f"MRN {escape(card.mrn)}",
            style.body,
        ),
        Spacer(1, 6),
        Paragraph(
            "DO NOT STOP intrathecal baclofen suddenly. Withdrawal can be life-threatening. "
            "If any sign below appears, CALL THE CLINIC NOW or GO TO THE EMERGENCY DEPARTMENT.",
            style.alert,
        ),
        Spacer(1, 10),
    ]


def _stopped_and_empty_warnings(card: EmergencyCard, style: _Styles) -> list:
    """The pump stopped (by its program or at end of service), or its reservoir empty."""
    story = []
    if card.pump_stopped:
        story += [
            Paragraph("The pump is stopped: it is not delivering baclofen.", style.alert),
            Spacer(1, 10),
        ]
    dates = card.dates
    if dates is not None and dates.stopped_line:
        story += [Paragraph(escape(dates.stopped_line), style.alert), Spacer(1, 10)]
    if dates is not None and dates.empty is not None and dates.empty.passed:
        story += [
            Paragraph(
                f"The reservoir may be empty: its projected empty date if the pump runs fast, "
                f"{_when(dates.empty.when, card)}, has passed.",
                style.alert,
            ),
            Spacer(1, 10),
        ]
    return story


def _device_rows(card: EmergencyCard) -> list[list[str]]:
    """ERI, end of service and the automatic shut-down, each with what today says of it."""
    dates = card.dates
    if dates is None:
        return []
    rows = []
    if dates.eri is not None:
        rows.append(
            ["ERI (elective replacement indicator)", _when(dates.eri.when, card) + _flag(dates.eri)]
        )
    if dates.end_of_service is not None:
        eos = dates.end_of_service
        rows.append(
            [
                "End of service",
                f"{_when(eos.when, card)} ({dates.end_of_service_basis}){_flag(eos)}",
            ]
        )
    if dates.shutdown is not None:
        rows.append(
            ["Automatic shut-down", _when(dates.shutdown.when, card) + _flag(dates.shutdown)]
        )
    return rows


def _card_rows(card: EmergencyCard) -> list[list[str]]:
    """The pump, drug, dose and dates table: label, value."""
    flag = {
        kind: _flag(getattr(card.dates, kind, None))
        for kind in ("conservative_alarm", "alarm", "refill_by", "next_refill")
    }
    rows = [
        ["Pump", card.pump_description],
        ["Serial number", card.pump_serial or "—"],
        ["Drug", card.drug],
        ["Concentration", f"{_number(card.concentration_mcg_per_ml)} mcg/mL"],
        ["Daily dose", f"{_number(card.daily_dose_mcg)} mcg/day"],
        *([["Given as", card.dose_schedule]] if card.dose_schedule else []),
        [
            "Last refill",
            f"{_when(card.last_refill_at, card)}. Emergency team: confirm the date of the last "
            "refill with the pump team; a later refill may not be on this card.",
        ],
        [
            "Low-reservoir alarm date",
            f"{_when(card.conservative_alarm_at, card)}{flag['conservative_alarm']} if the pump "
            f"runs fast (conservative); {_when(card.alarm_at, card)}{flag['alarm']} as "
            "programmed (nominal)",
        ],
        ["Refill by", _when(card.refill_by, card) + flag["refill_by"]],
        ["Next refill appointment", _when(card.next_refill_at, card) + flag["next_refill"]],
        *_device_rows(card),
        ["MRI precautions", card.mri_precautions or "—"],
        ["Clinic", card.clinic_name],
        ["Clinic phone", _phone(card.clinic_phone)],
    ]
    if card.after_hours_phone:
        rows.append(["After hours / pump team", _phone(card.after_hours_phone)])
    return rows


def _card_table(rows: list[list[str]], style: _Styles) -> Table:
    table = Table(
        [
            [Paragraph(f"<b>{escape(k)}</b>", style.body), Paragraph(escape(v), style.body)]
            for k, v in rows
        ],
        colWidths=[55 * mm, None],
    )
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#999999")),
                ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f1f3f5")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _bullets(items, style: _Styles) -> ListFlowable:
    return ListFlowable(
        [ListItem(Paragraph(escape(item), style.body), leftIndent=12) for item in items],
        bulletType="bullet",
        start="•",
    )


def _signs(card: EmergencyCard, style: _Styles) -> KeepTogether:
    """Withdrawal and overdose signs and when to call, kept on one page."""
    return KeepTogether(
        [
            Paragraph("<b>Warning signs of baclofen withdrawal</b>", style.body),
            Spacer(1, 4),
            _bullets(card.signs, style),
            Spacer(1, 8),
            Paragraph("<b>Signs of overdose (too much baclofen)</b>", style.body),
            Spacer(1, 4),
            _bullets(card.overdose_signs, style),
            Paragraph(
                "Overdose needs immediate care in a monitored setting: go to the emergency "
                "department.",
                style.body,
            ),
            Spacer(1, 8),
            Paragraph(
                "Also call if the pump alarm sounds, or if a refill appointment is missed: "
                "rebook before the pump runs out.",
                style.body,
            ),
            Paragraph(
                "For emergency staff: confirm the date of the last and next pump refill and "
                "check for pump alarms. Contact the pump team above.",
                style.body,
            ),
        ]
    )


def _footer(card: EmergencyCard, style: _Styles) -> list:
    return [
        Spacer(1, 12),
        Paragraph(
            f"Printed {_printed(card)}. Dates change after each refill: carry the latest card.",
            style.small,
        ),
    ]


def emergency_card_pdf(card: EmergencyCard) -> bytes:
    """The card, top to bottom: heading, warnings, the table, the signs, when printed."""
    buffer = io.BytesIO()
    style = _styles()
    story = [
        *_heading(card, style),
        *_stopped_and_empty_warnings(card, style),
        _card_table(_card_rows(card), style),
        Spacer(1, 12),
        _signs(card, style),
        *_footer(card, style),
    ]
    _document(buffer, card).build(story)
    return buffer.getvalue()
