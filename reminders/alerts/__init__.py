"""Staff alerts, by area.

- rules: which alerts hold for a pump (a table of rules walked by `alert_findings`)
- raising: raise, update and clear alerts from the rules' findings; delivery failures
- escalate: send unacknowledged HIGH/CRITICAL alerts to the escalation contacts
- actions: staff acknowledge, assign and resolve alerts

The public names stay importable from `reminders.alerts`; new code imports them from
the submodule that holds them.
"""

from reminders.alerts.actions import alert_acknowledge, alert_assign, alert_resolve
from reminders.alerts.escalate import (
    alert_escalate,
    alert_url,
    alerts_escalate_due,
    escalation_contacts,
)
from reminders.alerts.raising import (
    alert_raise,
    alert_raise_delivery_failed,
    alerts_clear_for_inactive,
    alerts_close_for_pump,
    alerts_sync,
)
from reminders.alerts.rules import (
    ALERT_RULES,
    DEVICE_CODES,
    MISSED_CODES,
    REPORTED_CODES,
    UNBOOKED_CODES,
    AlertRule,
    Evaluation,
    Finding,
    alert_findings,
    start_of_day,
)

__all__ = [
    "ALERT_RULES",
    "DEVICE_CODES",
    "MISSED_CODES",
    "REPORTED_CODES",
    "UNBOOKED_CODES",
    "AlertRule",
    "Evaluation",
    "Finding",
    "alert_acknowledge",
    "alert_assign",
    "alert_escalate",
    "alert_findings",
    "alert_raise",
    "alert_raise_delivery_failed",
    "alert_resolve",
    "alert_url",
    "alerts_clear_for_inactive",
    "alerts_close_for_pump",
    "alerts_escalate_due",
    "alerts_sync",
    "escalation_contacts",
    "start_of_day",
]
