"""Finding the dates a message names, in every format the message templates use.

format_date writes 'Wed 12 Mar 2025' (alone, or inside format_when's
'Wed 12 Mar 2025 at 9:30 AM EDT'); an ISO date would be a template bug, so it is
caught too. Relative words ('today', 'tomorrow', 'in 7 days') are checked
against the appointment by the callers.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WRITTEN = re.compile(
    r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),? (\d{1,2}) (" + "|".join(MONTHS) + r")[a-z]*,? (\d{4})\b"
)
ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
DAYS_AHEAD = re.compile(r"\b(?:in (\d+) days|(tomorrow)|(today))\b")


def dates_in(text: str) -> list[dt.date]:
    found = [
        dt.date(int(year), MONTHS.index(month[:3]) + 1, int(day))
        for day, month, year in WRITTEN.findall(text)
    ]
    found += [dt.date(int(y), int(m), int(d)) for y, m, d in ISO.findall(text)]
    return found


def today_in(zone: ZoneInfo, now: dt.datetime) -> dt.date:
    return now.astimezone(zone).date()


def recipient_zone(notification) -> ZoneInfo:
    if notification.caregiver_id and notification.caregiver.timezone:
        return ZoneInfo(str(notification.caregiver.timezone))
    if notification.patient_id:
        return ZoneInfo(notification.patient.timezone_name)
    return notification.clinic.tz


def past_dates(notification, now: dt.datetime) -> list[dt.date]:
    """Dates in the text before today in the recipient's or the clinic's calendar.

    A missed-appointment message names the visit that was missed: that one date is
    in the past by nature and is checked against the appointment instead.
    """
    today = max(today_in(recipient_zone(notification), now), today_in(notification.clinic.tz, now))
    text = notification.subject + "\n" + notification.body
    dates = dates_in(text)
    if notification.kind == "missed-appointment" and notification.appointment_id:
        missed = notification.appointment.scheduled_start.astimezone(
            recipient_zone(notification)
        ).date()
        assert set(dates) <= {missed}, (notification.pk, dates, missed)
        return []
    return [day for day in dates if day < today]
