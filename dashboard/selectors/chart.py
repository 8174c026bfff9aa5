"""The patient's reservoir chart: the one place the dashboard runs forecast maths at
read time (one pump, for a picture). The stored forecast still supplies every date shown.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from patients.models import Pump
from refills.forecast import conservative_volume_ml, projected_volume_ml
from refills.models import Appointment, PumpForecast, Refill
from refills.policy import flow_accuracy_for
from refills.selectors import current_fill

from ..chart import Marker, ReservoirChart, ResidualMark, centred_window, render_svg

CHART_SAMPLES = 48
CHART_MAX_DAYS = 220
# How many of the pump's latest refills the chart draws (their residual marks and lines).
CHART_REFILLS = 4


def reservoir_chart(
    pump: Pump,
    forecast: PumpForecast | None,
    refills: list[Refill],
    appointments: list[Appointment],
    *,
    now: dt.datetime | None = None,
) -> str | None:
    """The patient's reservoir chart as SVG, or None before the first fill."""
    now = now or timezone.now()
    if forecast is None or forecast.anchor_at is None:
        return None
    fill, _ = current_fill(pump=pump)
    if fill is None:
        return None
    zone = pump.patient.clinic.tz
    own = sorted((r for r in refills if r.pump_id == pump.pk), key=lambda r: r.performed_at)
    own = own[-CHART_REFILLS:]
    refill_by_at = _refill_by_at(forecast, zone)
    end = _chart_end(fill.filled_at, forecast, refill_by_at, appointments, now=now)
    # Today in the middle, the current fill and everything ahead in view; older refills
    # only as far back as that reaches (the refill history table lists them all).
    start, end = centred_window(now, earliest=fill.filled_at - dt.timedelta(days=3), latest=end)
    own = [r for r in own if r.performed_at >= start]
    instants = _sample_instants(fill.filled_at, end, forecast)
    accuracy = flow_accuracy_for(pump.model)
    chart = ReservoirChart(
        start=start,
        end=end,
        capacity_ml=pump.model.reservoir_capacity_ml,
        alarm_ml=pump.alarm_volume_ml,
        empty_ml=pump.model.empty_volume_ml,
        zone=zone,
        projection=tuple((t, projected_volume_ml(fill, t)) for t in instants),
        # The fast-pump allowance over everything since the refill, across program changes.
        conservative=tuple(
            (t, conservative_volume_ml(fill, t, accuracy=accuracy)) for t in instants
        ),
        past_segments=_past_segments(own),
        residuals=_residual_marks(own),
        markers=_markers(now, refill_by_at, appointments),
        alarm_at=forecast.alarm_at,
        conservative_alarm_at=forecast.conservative_alarm_at,
        empty_at=forecast.empty_at,
        conservative_empty_at=forecast.conservative_empty_at,
        title=f"Reservoir volume of the {pump.model.name} (mL)",
    )
    return render_svg(chart)


def _refill_by_at(forecast: PumpForecast, zone) -> dt.datetime | None:
    """The refill-by day drawn at its noon in the clinic's zone."""
    if not forecast.refill_by:
        return None
    return dt.datetime.combine(forecast.refill_by, dt.time(12), tzinfo=zone)


def _chart_end(
    filled_at: dt.datetime,
    forecast: PumpForecast,
    refill_by_at: dt.datetime | None,
    appointments: list[Appointment],
    *,
    now: dt.datetime,
) -> dt.datetime:
    """A week past the last thing worth seeing, within the chart's span, at least 3 days ahead."""
    horizon = [now, *(a.scheduled_start for a in appointments)]
    horizon += [x for x in (forecast.empty_at, forecast.alarm_at, refill_by_at) if x]
    end = max(horizon) + dt.timedelta(days=7)
    end = min(end, filled_at + dt.timedelta(days=CHART_MAX_DAYS))
    return max(end, now + dt.timedelta(days=3))


def _sample_instants(
    filled_at: dt.datetime, end: dt.datetime, forecast: PumpForecast
) -> list[dt.datetime]:
    """Evenly spaced samples from the fill, plus the projected alarm and empty moments so
    the curves pass exactly through the dates the page states."""
    step = (end - filled_at) / CHART_SAMPLES
    exact = {
        x
        for x in (
            forecast.alarm_at,
            forecast.conservative_alarm_at,
            forecast.empty_at,
            forecast.conservative_empty_at,
        )
        if x and filled_at <= x <= end
    }
    return sorted({filled_at + step * i for i in range(CHART_SAMPLES + 1)} | exact)


def _past_segments(own: list[Refill]) -> tuple:
    """From each refill's resulting volume to the residual expected at the next one."""
    return tuple(
        (
            (earlier.performed_at, earlier.resulting_volume_ml),
            (later.performed_at, later.expected_residual_ml),
        )
        for earlier, later in zip(own, own[1:], strict=False)
        if later.expected_residual_ml is not None
    )


def _residual_marks(own: list[Refill]) -> tuple[ResidualMark, ...]:
    """The residual found at each refill against the one expected, flagged discrepancies."""
    return tuple(
        ResidualMark(
            at=refill.performed_at,
            actual_ml=refill.actual_residual_ml + refill.residual_left_ml,
            expected_ml=refill.expected_residual_ml,
            flagged=refill.discrepancy_flagged,
        )
        for refill in own
        if refill.expected_residual_ml is not None
    )


def _markers(
    now: dt.datetime, refill_by_at: dt.datetime | None, appointments: list[Appointment]
) -> tuple[Marker, ...]:
    """Today, the refill-by day and each upcoming appointment."""
    markers = [Marker(at=now, label="today", kind="today")]
    if refill_by_at:
        markers.append(Marker(at=refill_by_at, label="refill by", kind="refill-by"))
    markers += [
        Marker(
            at=appointment.scheduled_start,
            label=appointment.get_kind_display().lower(),
            kind="appointment",
        )
        for appointment in appointments
    ]
    return tuple(markers)
