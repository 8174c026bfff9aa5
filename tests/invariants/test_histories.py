"""Whole generated histories, checked after every step (issue 8, "The invariants").

The rules and the checks are in machine.py and conftest.py. Besides the families below,
every run checks in its rules: a refused save writes nothing, the oral bridge never
lowers the tier, and time passing without a refill never lowers the tier.

A family that a known defect breaks runs in its own xfail(strict) test, with its own
seed, so the lead removes the marker when the fix is merged.
"""

from __future__ import annotations

from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.invariants.conftest import (
    ALERTS,
    DEVICE,
    END_OF_SERVICE,
    MARGIN,
    MESSAGES,
    OPEN_ITEMS,
    ORDER,
    REASONS,
    REPLACEMENT,
    STABILITY,
    STOPPED,
)
from tests.invariants.machine import ACCEPTED, PumpHistory

NO_SHRINK = [Phase.explicit, Phase.reuse, Phase.generate]


def _run(
    families, *, examples, steps, phases=None, must_accept=("refill", "change_program", "book")
):
    machine = type("History", (PumpHistory,), {"families": frozenset(families)})
    extra = {"phases": phases} if phases else {}
    ACCEPTED.clear()
    run_state_machine_as_test(
        machine,
        settings=settings(max_examples=examples, stateful_step_count=steps, **extra),
    )
    # The histories must really contain refills, program changes and bookings that the
    # services accepted; otherwise the checks above ran over empty histories.
    for rule_name in must_accept:
        assert ACCEPTED[rule_name] > 0, f"no {rule_name} was accepted in {dict(ACCEPTED)}"


def test_histories_keep_the_forecast_tier_and_alert_invariants(db):
    _run(
        {REASONS, ALERTS, REPLACEMENT, STOPPED},
        examples=30,
        steps=20,
        must_accept=("refill", "change_program", "book", "stop_pump"),
    )


def test_histories_explain_the_tier_by_an_open_item(db):
    """Issue 12 #6: after every step (staff resolving alerts among them) the tier shown is
    explained by an open item of the patient page's list, a patient with no open item is
    not held up, every open alert and report is listed, and one problem is one alert."""
    _run(
        {OPEN_ITEMS, ALERTS},
        examples=20,
        steps=20,
        phases=NO_SHRINK,
        must_accept=("refill", "book", "report", "resolve_alert"),
    )


def test_histories_keep_the_forecast_dates_in_order_and_within_their_limits(db):
    _run({ORDER, MARGIN, STABILITY}, examples=30, steps=20, phases=NO_SHRINK)


def test_histories_never_have_a_refill_by_date_after_end_of_service(db):
    _run({END_OF_SERVICE}, examples=10, steps=10, phases=NO_SHRINK, must_accept=("refill",))


def test_histories_keep_end_of_service_critical_without_a_valid_plan(db):
    _run({DEVICE}, examples=20, steps=15, phases=NO_SHRINK)


def test_histories_send_no_message_with_a_past_or_stale_date(db):
    _run({MESSAGES}, examples=30, steps=20, phases=NO_SHRINK)
