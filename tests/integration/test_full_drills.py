"""Issue 11's full-size drills, in `make test-faults` only (PUMPTRACK_FAULTS_FULL=1).

1. 2,000 due reminders on PostgreSQL, two workers and beat: once without faults, then
   again with a `kill -9` of each worker every 30 s, 20 % provider failures (texts and
   emails), a 15 s database outage and a Redis restart without persistence. 0 lost,
   0 texts twice, every extra email copy counted, and 99 % delivered within 2x the time
   the run without faults took.
2. Beat down for more than an interval (60 s): the first sweep within 10 s of its return.
3. Sweeps stopped (beat and worker gone), the real watchdog process running with the
   production timings (check every 30 s, alert after two 60 s intervals): its email and
   text reach the escalation contact within 3 minutes of the last sweep.

The database outage: the machine's PostgreSQL is shared with other people's databases,
so the server is not restarted; the drill's own database refuses connections for 15 s
and every connection to it is terminated (PostgresDatabases.outage), which is what a
restart looks like from the application (OperationalError on every query and connect).
Redis is a redis-server of the drill's own, started without persistence and restarted.

Figures go to stdout and to var/fault-drills/*.json (quoted in the README).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import threading
import time
from collections import Counter

import pytest

from reminders.channels import read_lines
from tests.integration.conftest import FULL, ROOT, TIMINGS, PostgresDatabases
from tests.integration.test_delivery_under_faults import duplicate_check

pytestmark = [
    pytest.mark.integration,
    pytest.mark.faults,
    pytest.mark.skipif(not FULL, reason="full-size drills: make test-faults"),
]

N = int(os.environ.get("PUMPTRACK_DRILL_N", "2000"))  # smaller only to try the drill out
KILL_EVERY = 30.0
FIGURES = ROOT / "var" / "fault-drills"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def save_figures(name: str, figures: dict) -> None:
    FIGURES.mkdir(parents=True, exist_ok=True)
    figures = {
        **figures,
        "date": utcnow().isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
    }
    (FIGURES / f"{name}.json").write_text(json.dumps(figures, indent=2, default=str))
    print(f"\n[{name}] {json.dumps(figures, default=str)}")


@pytest.fixture
def postgres(databases):
    if not isinstance(databases, PostgresDatabases):
        pytest.skip("the full drill runs on PostgreSQL: set DATABASE_URL=postgres://...")
    return databases


def first_deliveries(stack) -> dict[str, dt.datetime]:
    """Each reference's first hand-over moment, from both ledgers."""
    first: dict[str, dt.datetime] = {}
    for path in (stack.sms_path, stack.email_path):
        for record in read_lines(path):
            at = dt.datetime.fromisoformat(record["at"])
            reference = record["reference"]
            if reference not in first or at < first[reference]:
                first[reference] = at
    return first


def seconds_to_share(first: dict[str, dt.datetime], started: dt.datetime, share: float) -> float:
    moments = sorted(first.values())
    index = max(int(len(moments) * share + 0.999999) - 1, 0)
    return (moments[index] - started).total_seconds()


def summary(values: list[float]) -> dict:
    values = sorted(values) or [0.0]
    return {
        "min": round(values[0], 1),
        "median": round(values[len(values) // 2], 1),
        "max": round(values[-1], 1),
    }


class Loads:
    """The machine's 1-minute load average, sampled while a run goes on."""

    def __init__(self):
        self.samples: list[float] = []

    def sample(self) -> None:
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> dict:
        s = self.samples or [0.0]
        return {**summary(s), "mean": round(sum(s) / len(s), 1)}


class Faults:
    """The fault schedule of the faulted run, driven from the test's polling loop."""

    def __init__(self, stack, server, databases, n: int):
        self.stack, self.server, self.databases, self.n = stack, server, databases, n
        self.started = time.monotonic()
        self.kills = 0
        self.boot_seconds: list[float] = []
        self.redis_restarted_at = self.outage_at = None
        self.outage: threading.Thread | None = None

    def tick(self, delivered: int) -> bool:
        """Inject what is due now. True while a fault is still to come or under way."""
        now = time.monotonic()
        for name in list(self.stack.workers):
            ready = self.stack.ready_since(name)
            if ready is not None and time.time() - ready >= KILL_EVERY:
                pid = self.stack.workers[name].pid
                self.boot_seconds.append(ready - self.stack.launched_at[pid])
                self.stack.kill_worker(name)  # kill -9, wherever it is
                self.kills += 1
                self.stack.start_worker(name)
        if self.redis_restarted_at is None and delivered >= self.n * 0.25:
            self.server.kill()  # no persistence: every queued task is gone
            time.sleep(1.5)
            self.server.start()
            self.redis_restarted_at = round(now - self.started, 1)
        if self.redis_restarted_at is not None and self.outage is None and delivered >= self.n / 2:
            self.outage = threading.Thread(
                target=self.databases.outage,
                args=(self.stack.database_url,),
                kwargs={"seconds": 15},
            )
            self.outage.start()
            self.outage_at = round(now - self.started, 1)
        return self.outage is None or self.outage.is_alive()


def drive(stack, *, n: int, timeout: float, faults: Faults | None, loads: Loads) -> dict:
    """Run until every row is final; restart what died. Returns the final counts."""
    deadline = time.monotonic() + timeout
    counts: dict = {}
    while time.monotonic() < deadline:
        loads.sample()
        for name in list(stack.workers):
            if stack.worker_died(name):
                stack.start_worker(name)
        if any(beat.poll() is not None for beat in stack.beats):
            stack.beats[:] = [beat for beat in stack.beats if beat.poll() is None]
            stack.start_beat()
        busy = faults.tick(len(first_deliveries(stack))) if faults else False
        try:
            counts = stack.counts()
        except Exception:  # the database is away (the outage): look again
            time.sleep(0.5)
            continue
        unsettled = counts.get("pending", 0) + counts.get("sending", 0)
        if sum(counts.values()) >= n and unsettled == 0 and not busy:
            return counts
        time.sleep(0.5)
    raise AssertionError(f"not settled after {timeout}s: {counts}\n{stack.logs()}")


def batch_run(stack, server, postgres, *, faulted: bool) -> dict:
    setup = stack.driver("populate", "--n", str(N))
    assert setup["plans"] == N
    loads = Loads()
    faults = Faults(stack, server, postgres, N) if faulted else None
    if faulted:
        stack.faults(sms_failure_rate=0.2, email_failure_rate=0.2)
    started = utcnow()
    clock = time.monotonic()
    stack.start_worker("w1")
    stack.start_worker("w2")
    stack.start_beat()
    counts = drive(stack, n=N, timeout=2400 if faulted else 1200, faults=faults, loads=loads)
    elapsed = time.monotonic() - clock
    first = first_deliveries(stack)
    result = {
        "counts": counts,
        "elapsed_s": round(elapsed, 1),
        "delivered_99_s": round(seconds_to_share(first, started, 0.99), 1),
        "delivered_100_s": round(seconds_to_share(first, started, 1.0), 1),
        "load_1min": loads.summary(),
        "first": first,
    }
    if faults:
        result.update(
            kills=faults.kills,
            worker_boot_s=summary(faults.boot_seconds),
            worker_starts=stack.worker_starts,
            redis_restarted_at_s=faults.redis_restarted_at,
            db_outage_at_s=faults.outage_at,
        )
    return result


def test_two_thousand_reminders_through_kills_provider_failures_and_restarts(
    own_redis, stack_factory, postgres
):
    plain_server = own_redis(persistent=False)
    plain_stack = stack_factory(plain_server.url)
    plain = batch_run(plain_stack, plain_server, postgres, faulted=False)
    plain_stack.stop_processes()  # its sweeps would only load the machine from now on
    server = own_redis(persistent=False)
    stack = stack_factory(server.url)
    faulted = batch_run(stack, server, postgres, faulted=True)
    report = stack.driver("report")
    sms = Counter(record["reference"] for record in read_lines(stack.sms_path))
    deliveries = stack.deliveries()
    duplicates = duplicate_check(report, deliveries, kills=stack.worker_starts - 2)
    ratio = faulted["delivered_99_s"] / plain["delivered_100_s"]
    plain.pop("first"), faulted.pop("first")
    figures = {
        "n": N,
        "without_faults": plain,
        "with_faults": faulted,
        "retried_rows": sum(1 for row in report["rows"] if row[4] > 1),
        "sms_sent_twice": sum(1 for count in sms.values() if count > 1),
        "email_duplicates": duplicates,
        "ratio_99_to_plain": round(ratio, 2),
    }
    save_figures("batch", figures)
    assert plain["counts"] == {"sent": N} and faulted["counts"] == {"sent": N}  # 0 lost
    assert all(deliveries[row[0]] >= 1 for row in report["rows"])
    assert figures["sms_sent_twice"] == 0
    assert faulted["kills"] >= 4 and faulted["db_outage_at_s"] and faulted["redis_restarted_at_s"]
    # The target: 99 % delivered within twice the time of the run without faults.
    assert ratio <= 2, f"99 % delivered after {ratio:.2f}x the plain run's time"


def beat_ready_at(stack) -> dt.datetime:
    """When beat was up (its banner, in the machine's local time), as UTC."""
    found = re.findall(r"LocalTime -> (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", stack.logs())
    return dt.datetime.fromisoformat(found[-1]).astimezone(dt.UTC)


def test_after_beat_was_down_the_first_sweep_runs_within_ten_seconds(
    redis_url, stack_factory, monkeypatch
):
    monkeypatch.setitem(TIMINGS, "REMINDERS_SWEEP_INTERVAL_SECONDS", "60")
    stack = stack_factory(redis_url)
    stack.driver("populate-downtime", "--n", "20")
    stack.start_worker()
    stack.driver("sweep")  # the last sweep before beat went down
    before = stack.driver("last-sweep")["finished_at"]
    time.sleep(65)  # beat down for more than one interval
    stack.start_beat()
    deadline = time.monotonic() + 120
    while stack.driver("last-sweep")["finished_at"] == before:
        assert time.monotonic() < deadline, stack.logs()
        time.sleep(0.5)
    swept = stack.driver("last-sweep")
    started = dt.datetime.fromisoformat(swept["started_at"])
    after = (started - beat_ready_at(stack)).total_seconds()
    save_figures(
        "beat_return",
        {"first_sweep_started_after_beat_up_s": round(after, 1), "load_1min": os.getloadavg()[0]},
    )
    assert after <= 10


def test_the_watchdog_alert_reaches_the_contact_within_three_minutes(
    redis_url, stack_factory, monkeypatch
):
    # Production timings: sweeps every 60 s, the watchdog checks every 30 s and alerts
    # once the last sweep is older than two intervals.
    monkeypatch.setitem(TIMINGS, "REMINDERS_SWEEP_INTERVAL_SECONDS", "60")
    monkeypatch.setitem(TIMINGS, "PUMPTRACK_WATCHDOG_CHECK_SECONDS", "30")
    stack = stack_factory(redis_url)
    contact = stack.driver("contact")
    stack.start_worker()
    stack.start_beat()
    stack.start_watchdog()
    deadline = time.monotonic() + 120
    while stack.driver("last-sweep")["finished_at"] is None:
        assert time.monotonic() < deadline, stack.logs()
        time.sleep(1)
    # The sweeps stop: beat and the worker are gone (the watchdog sends by itself).
    stack.stop_beats()
    stack.kill_worker()
    last = dt.datetime.fromisoformat(stack.driver("last-sweep")["finished_at"])
    deadline = time.monotonic() + 400
    while True:
        texts = [r for r in read_lines(stack.sms_path) if r["to"] == contact["phone"]]
        emails = [r for r in read_lines(stack.email_path) if contact["email"] in r["to"]]
        if texts and emails:
            break
        assert time.monotonic() < deadline, stack.logs()
        time.sleep(1)
    time.sleep(35)  # one more check of the same outage: nothing more
    texts = [r for r in read_lines(stack.sms_path) if r["to"] == contact["phone"]]
    emails = [r for r in read_lines(stack.email_path) if contact["email"] in r["to"]]
    reached = {
        "email_s": (dt.datetime.fromisoformat(emails[0]["at"]) - last).total_seconds(),
        "text_s": (dt.datetime.fromisoformat(texts[0]["at"]) - last).total_seconds(),
    }
    save_figures("watchdog", {**reached, "load_1min": os.getloadavg()[0]})
    assert len(texts) == 1 and len(emails) == 1
    assert "reminders have stopped" in emails[0]["subject"]
    assert max(reached.values()) <= 180
