"""The patient's emergency card as a PDF (reportlab), from the same data as the HTML card."""

from __future__ import annotations

import io
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


def emergency_card_pdf(card: EmergencyCard) -> bytes:
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=f"Emergency card — {card.patient_name}",
        author=card.clinic_name,
    )
    styles = getSampleStyleSheet()
    heading = ParagraphStyle("heading", parent=styles["Heading1"], fontSize=18, spaceAfter=4)
    body = ParagraphStyle("body", parent=styles["BodyText"], fontSize=11, leading=14)
    alert = ParagraphStyle(
        "alert",
        parent=body,
        textColor=colors.white,
        backColor=colors.HexColor("#b02a37"),
        borderPadding=(6, 6, 6, 6),
        fontName="Helvetica-Bold",
        fontSize=12,
        leading=16,
        alignment=TA_LEFT,
    )
    small = ParagraphStyle("small", parent=body, fontSize=8.5, textColor=colors.HexColor("#555"))

    story = [
        Paragraph("Intrathecal baclofen pump — emergency card", heading),
        Paragraph(
            f"<b>{escape(card.patient_name)}</b>, born {day_text(card.date_of_birth)}, "
            f"MRN {escape(card.mrn)}",
            body,
        ),
        Spacer(1, 6),
        Paragraph(
            "DO NOT STOP intrathecal baclofen suddenly. Withdrawal can be life-threatening. "
            "If any sign below appears, CALL THE CLINIC NOW or GO TO THE EMERGENCY DEPARTMENT.",
            alert,
        ),
        Spacer(1, 10),
    ]
    if card.pump_stopped:
        story += [
            Paragraph("The pump is stopped: it is not delivering baclofen.", alert),
            Spacer(1, 10),
        ]
    dates = card.dates
    if dates is not None and dates.stopped_line:
        story += [Paragraph(escape(dates.stopped_line), alert), Spacer(1, 10)]
    if dates is not None and dates.empty is not None and dates.empty.passed:
        story += [
            Paragraph(
                f"The reservoir may be empty: its projected empty date if the pump runs fast, "
                f"{_when(dates.empty.when, card)}, has passed.",
                alert,
            ),
            Spacer(1, 10),
        ]
    flag = {
        kind: _flag(getattr(dates, kind, None))
        for kind in ("conservative_alarm", "alarm", "refill_by", "next_refill")
    }
    device_rows = []
    if dates is not None and dates.eri is not None:
        device_rows.append(
            ["ERI (elective replacement indicator)", _when(dates.eri.when, card) + _flag(dates.eri)]
        )
    if dates is not None and dates.end_of_service is not None:
        eos = dates.end_of_service
        device_rows.append(
            [
                "End of service",
                f"{_when(eos.when, card)} ({dates.end_of_service_basis}){_flag(eos)}",
            ]
        )
    if dates is not None and dates.shutdown is not None:
        device_rows.append(
            ["Automatic shut-down", _when(dates.shutdown.when, card) + _flag(dates.shutdown)]
        )
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
        *device_rows,
        ["MRI precautions", card.mri_precautions or "—"],
        ["Clinic", card.clinic_name],
        ["Clinic phone", _phone(card.clinic_phone)],
    ]
    if card.after_hours_phone:
        rows.append(["After hours / pump team", _phone(card.after_hours_phone)])
    table = Table(
        [[Paragraph(f"<b>{escape(k)}</b>", body), Paragraph(escape(v), body)] for k, v in rows],
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
    story += [table, Spacer(1, 12)]
    signs = ListFlowable(
        [ListItem(Paragraph(escape(sign), body), leftIndent=12) for sign in card.signs],
        bulletType="bullet",
        start="•",
    )
    story.append(
        KeepTogether(
            [
                Paragraph("<b>Warning signs of baclofen withdrawal</b>", body),
                Spacer(1, 4),
                signs,
                Spacer(1, 8),
                Paragraph("<b>Signs of overdose (too much baclofen)</b>", body),
                Spacer(1, 4),
                ListFlowable(
                    [
                        ListItem(Paragraph(escape(sign), body), leftIndent=12)
                        for sign in card.overdose_signs
                    ],
                    bulletType="bullet",
                    start="•",
                ),
                Paragraph(
                    "Overdose needs immediate care in a monitored setting: go to the emergency "
                    "department.",
                    body,
                ),
                Spacer(1, 8),
                Paragraph(
                    "Also call if the pump alarm sounds, or if a refill appointment is missed: "
                    "rebook before the pump runs out.",
                    body,
                ),
                Paragraph(
                    "For emergency staff: confirm the date of the last and next pump refill and "
                    "check for pump alarms. Contact the pump team above.",
                    body,
                ),
            ]
        )
    )
    story += [
        Spacer(1, 12),
        Paragraph(
            f"Printed {_printed(card)}. Dates change after each refill: carry the latest card.",
            small,
        ),
    ]
    doc.build(story)
    return buffer.getvalue()
