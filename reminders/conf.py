"""Typed access to settings.REMINDERS (pumptrack/settings/base.py documents each value)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings


def value(name: str):
    return settings.REMINDERS[name]


def seconds(name: str) -> dt.timedelta:
    return dt.timedelta(seconds=float(settings.REMINDERS[name]))


def minutes(name: str) -> dt.timedelta:
    return dt.timedelta(minutes=float(settings.REMINDERS[name]))


def days(name: str) -> dt.timedelta:
    return dt.timedelta(days=int(settings.REMINDERS[name]))


def sweep_interval() -> dt.timedelta:
    return seconds("SWEEP_INTERVAL_SECONDS")


def stale_after() -> dt.timedelta:
    """The sweep is stale when it missed two intervals (plus slack for a slow one)."""
    return 2 * sweep_interval() + seconds("STALE_SLACK_SECONDS")
