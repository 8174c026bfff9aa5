"""Every due reminder is delivered once, through killed workers, a dying Redis and late beats.

Real parts: Redis, `celery worker` and `celery beat` processes, the database they
share with this test, and backends that record each hand-over in a ledger. The
reduced sizes run in every `make test`; `make test-faults` sets
PUMPTRACK_FAULTS_FULL=1 for the full ones (5,000 reminders).

What each run must end with: every due message delivered, no row left pending or
sending, a second copy only where a kill fell between the provider call and the
commit (counted in `possible_duplicates`, at most one per kill), and a staff alert
for the recipient whose number fails for good.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict

import pytest

from tests.integration.conftest import FULL, settle

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def duplicate_check(report: dict, deliveries: Counter, *, kills: int) -> dict:
    """Extra copies exist only for rows flagged as possible duplicates, at most one per kill."""
    flagged = {row[0]: row[3] for row in report["rows"]}
    extra = {ref: count - 1 for ref, count in deliveries.items() if count > 1}
    for reference, copies in extra.items():
        assert flagged.get(reference, 0) >= copies, f"unflagged duplicate {reference}"
    assert sum(extra.values()) <= report["possible_duplicates"] <= kills
    assert set(deliveries) <= set(flagged), "a delivery that no outbox row explains"
    return {"extra_copies": sum(extra.values()), "flagged": report["possible_duplicates"]}


def test_a_batch_is_delivered_once_through_worker_kills_and_provider_failures(
    redis_url, stack_factory
):
    n = 5000 if FULL else 500
    kill_points = [0.15, 0.3, 0.45, 0.6, 0.75] if FULL else [0.3, 0.55, 0.8]
    stack = stack_factory(redis_url)
    setup = stack.driver("populate", "--n", str(n), "--permanent-index", "1")
    assert setup["plans"] == n
    stack.faults(
        # The provider times out, rate-limits and errors for a while ...
        sms_transient=n // 10,
        sms_transient_kinds=["timeout", "429", "503"],
        # ... refuses one number for good ...
        sms_permanent_numbers=[setup["permanent_phone"]],
        # ... and the worker dies right after handing a message over, before its commit.
        die_after_email_sends=[max(2, n // 40)],
        die_after_sms_sends=[n // 4],
    )
    started = time.monotonic()
    stack.start_worker()
    stack.start_beat()
    thresholds = [int(n * point) for point in kill_points]
    external_kills = 0

    def kill_mid_batch():
        nonlocal external_kills
        if thresholds and sum(stack.deliveries().values()) >= thresholds[0]:
            thresholds.pop(0)
            stack.kill_worker()  # kill -9, wherever it is
            external_kills += 1
            stack.start_worker()
        return bool(thresholds)

    counts = settle(stack, expected=n, timeout=900 if FULL else 180, on_tick=kill_mid_batch)
    elapsed = time.monotonic() - started
    report = stack.driver("report")
    deliveries = stack.deliveries()
    kills = stack.worker_starts - 1
    self_kills = kills - external_kills

    assert external_kills == len(kill_points) and self_kills == 2
    assert counts == {"sent": n - 1, "failed": 1}
    failed = [row for row in report["rows"] if row[1] == "failed"]
    assert failed[0][7] == "fault-invalid-number" and deliveries[failed[0][0]] == 0
    sent = [row[0] for row in report["rows"] if row[1] == "sent"]
    assert all(deliveries[ref] >= 1 for ref in sent), "a sent row that nobody received"
    duplicates = duplicate_check(report, deliveries, kills=kills)
    # The kill after an email hand-over cannot be checked with SMTP: resent and counted.
    assert duplicates["extra_copies"] >= 1
    alerts = [a for a in report["alerts"] if a["kind"] == "delivery-failed"]
    assert len(alerts) == 1 and alerts[0]["state"] == "open"
    retried = sum(1 for row in report["rows"] if row[4] > 1)
    extra_attempts = sum(row[4] - 1 for row in report["rows"])
    assert extra_attempts >= n // 10  # every transient failure was retried, none dropped
    print(
        f"\n[faults] n={n} elapsed={elapsed:.1f}s kills={kills} (external {external_kills}, "
        f"in the commit window {self_kills}) retried_rows={retried} {duplicates} "
        f"heartbeats={report['heartbeats']}"
    )


@pytest.mark.parametrize("persistent", [True, False], ids=["appendonly", "no-persistence"])
def test_a_batch_survives_redis_being_killed_and_restarted(own_redis, stack_factory, persistent):
    n = 2000 if FULL else 300
    server = own_redis(persistent=persistent)
    stack = stack_factory(server.url)
    stack.driver("populate", "--n", str(n))
    started = time.monotonic()
    stack.start_worker()
    stack.start_beat()
    restarted = False
    delivered_at_kill = 0

    def kill_redis_mid_batch():
        nonlocal restarted, delivered_at_kill
        delivered = sum(stack.deliveries().values())
        if not restarted and delivered >= n * 0.3:
            delivered_at_kill = delivered
            server.kill()
            time.sleep(1.5)
            server.start()
            restarted = True
        return not restarted

    counts = settle(stack, expected=n, timeout=600 if FULL else 180, on_tick=kill_redis_mid_batch)
    elapsed = time.monotonic() - started
    report = stack.driver("report")
    deliveries = stack.deliveries()
    assert restarted and delivered_at_kill < n  # killed in the middle of the batch
    assert counts == {"sent": n}
    assert all(deliveries[row[0]] >= 1 for row in report["rows"])
    duplicates = duplicate_check(report, deliveries, kills=0)
    assert duplicates["extra_copies"] == 0
    print(
        f"\n[redis {'appendonly' if persistent else 'no persistence'}] n={n} "
        f"elapsed={elapsed:.1f}s killed after {delivered_at_kill} deliveries {duplicates} "
        f"heartbeats={report['heartbeats']}"
    )


def test_an_hour_without_beat_then_two_beats_and_two_sweeps_at_once(redis_url, stack_factory):
    n = 1200 if FULL else 300
    stack = stack_factory(redis_url)
    stack.start_worker("w1")
    stack.start_worker("w2")
    # Beat was down for an hour: reminders at every stage came due meanwhile.
    setup = stack.driver("populate-downtime", "--n", str(n))
    started = time.monotonic()
    beats = [stack.start_beat(), stack.start_beat()]
    sweeps = [stack.driver_async("sweep"), stack.driver_async("sweep")]
    counts = settle(stack, expected=n, timeout=600 if FULL else 180)
    elapsed = time.monotonic() - started
    for process in sweeps:
        assert process.wait(timeout=60) == 0
    assert [beat.poll() for beat in beats] == [None, None]  # both beats ran side by side
    report = stack.driver("report")
    deliveries = stack.deliveries()

    assert counts == {"sent": n}
    by_appointment = defaultdict(list)
    for row in report["rows"]:
        by_appointment[str(row[6])].append(row[5])
    # Nothing skipped, nothing twice, and only the stage that was due.
    assert dict(by_appointment) == {a: [stage] for a, stage in setup["expected"].items()}
    assert sorted(deliveries.values()) == [1] * n
    assert report["heartbeats"] >= 2
    print(f"\n[beats] n={n} elapsed={elapsed:.1f}s heartbeats={report['heartbeats']}")
