"""Real Redis, real Celery worker and beat processes, a database they share with the test.

Each test gets its own database (a copy of a migrated SQLite file, or a PostgreSQL
database cloned from a migrated template when DATABASE_URL points at PostgreSQL),
its own queue name on Redis, and its own ledgers: the SMS backend and the email
backend append one JSON line per message actually handed over, so the test counts
deliveries independently of the outbox rows.

Without Redis the tests skip, unless PUMPTRACK_REQUIRE_SERVICES is set (CI).
Only processes these fixtures started are ever stopped, by their pid.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
FULL = bool(os.environ.get("PUMPTRACK_FAULTS_FULL"))

# Short timings so a run recovers in seconds, not minutes (production: settings/base.py).
TIMINGS = {
    "REMINDERS_SWEEP_INTERVAL_SECONDS": "1",
    "REMINDERS_STALE_SLACK_SECONDS": "30",
    "REMINDERS_STUCK_SENDING_SECONDS": "4",
    "REMINDERS_REDISPATCH_AFTER_SECONDS": "8",
    "REMINDERS_BACKOFF_BASE_SECONDS": "0.5",
    "REMINDERS_BACKOFF_MAX_SECONDS": "4",
    "REMINDERS_MAX_ATTEMPTS": "8",
    "REMINDERS_SEND_TIMEOUT_SECONDS": "5",
    "REMINDERS_SWEEP_BATCH": "1000",
    "CELERY_VISIBILITY_TIMEOUT": "20",
}


def unavailable(reason: str):
    if os.environ.get("PUMPTRACK_REQUIRE_SERVICES"):
        pytest.fail(f"{reason} (PUMPTRACK_REQUIRE_SERVICES is set)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def redis_ping(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2).ping())
    except Exception:
        return False


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
    if not redis_ping(url):
        unavailable(f"Redis is not reachable at {url}; start it or set REDIS_TEST_URL")
    return url


class OwnRedis:
    """A redis-server of our own (never the system one), to kill and restart."""

    def __init__(self, directory: Path, *, persistent: bool):
        self.directory = directory
        self.persistent = persistent
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server"),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes" if self.persistent else "no",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",
                "--logfile",
                str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            if redis_ping(self.url):
                return
            time.sleep(0.05)
        raise RuntimeError("our redis-server did not start")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def own_redis(tmp_path):
    if not shutil.which("redis-server"):
        unavailable("redis-server is not installed")
    servers = []

    def start(*, persistent: bool) -> OwnRedis:
        directory = tmp_path / f"redis-{len(servers)}"
        directory.mkdir()
        server = OwnRedis(directory, persistent=persistent)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.kill()


# --------------------------------------------------------------------------- databases


class SqliteDatabases:
    def __init__(self, directory: Path):
        self.directory = directory
        self.template = directory / "template.sqlite3"

    def template_url(self) -> str:
        return f"sqlite:///{self.template}"

    def new(self, name: str) -> str:
        path = self.directory / f"{name}.sqlite3"
        shutil.copy(self.template, path)
        return f"sqlite:///{path}"

    def drop(self, url: str) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(urlparse(url).path + suffix).unlink(missing_ok=True)

    def counts(self, url: str) -> dict[str, int]:
        connection = sqlite3.connect(urlparse(url).path, timeout=30)
        try:
            rows = connection.execute(
                "SELECT status, COUNT(*) FROM reminders_notification GROUP BY status"
            ).fetchall()
        finally:
            connection.close()
        return dict(rows)


class PostgresDatabases:
    def __init__(self, url: str):
        self.url = urlparse(url)
        self.prefix = f"pt_it_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.template = f"{self.prefix}_template"

    def _url_for(self, name: str) -> str:
        return urlunparse(self.url._replace(path=f"/{name}"))

    def _admin(self):
        import psycopg

        return psycopg.connect(self._url_for("postgres"), autocommit=True)

    def template_url(self) -> str:
        with self._admin() as admin:
            admin.execute(f'CREATE DATABASE "{self.template}"')
        return self._url_for(self.template)

    def new(self, name: str) -> str:
        database = f"{self.prefix}_{name}"
        with self._admin() as admin:
            admin.execute(f'CREATE DATABASE "{database}" TEMPLATE "{self.template}"')
        return self._url_for(database)

    def drop(self, url: str) -> None:
        with self._admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{urlparse(url).path[1:]}" WITH (FORCE)')

    def outage(self, url: str, *, seconds: float) -> None:
        """The database goes away for `seconds`, as in a restart, for this database only.

        Every connection to it is terminated and new ones are refused (ALLOW_CONNECTIONS
        false) until the end; the clients see what a restart shows them (OperationalError
        on open connections and on connecting). The shared server itself is never
        restarted: other people's databases on it stay up.
        """
        database = urlparse(url).path[1:]
        with self._admin() as admin:
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
            try:
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    # Again and again: a connection opened in the instant before the
                    # ALTER took effect is terminated too.
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()",
                        [database],
                    )
                    time.sleep(0.5)
            finally:
                admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')

    def counts(self, url: str) -> dict[str, int]:
        import psycopg

        with psycopg.connect(url) as connection:
            rows = connection.execute(
                "SELECT status, COUNT(*) FROM reminders_notification GROUP BY status"
            ).fetchall()
        return dict(rows)


@pytest.fixture(scope="session")
def databases(tmp_path_factory):
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres", "postgresql")):
        kind = PostgresDatabases(url)
    else:
        kind = SqliteDatabases(tmp_path_factory.mktemp("integration-db"))
    template = kind.template_url()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.integration.settings",
        "DATABASE_URL": template,
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    yield kind
    if isinstance(kind, PostgresDatabases):
        kind.drop(template)


# --------------------------------------------------------------------------- the stack


class Stack:
    """Worker and beat processes, the driver, and the ledgers, for one test."""

    def __init__(self, *, databases, database_url: str, redis_url: str, directory: Path):
        self.databases = databases
        self.database_url = database_url
        self.redis_url = redis_url
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.queue = f"it-{uuid.uuid4().hex[:10]}"
        self.sms_path = directory / "sms.jsonl"
        self.email_path = directory / "email.jsonl"
        self.faults_path = directory / "faults.json"
        self.faults_path.write_text("{}")
        self.ready_dir = directory / "ready"
        self.launched_at: dict[int, float] = {}  # worker pid -> time.time() of its launch
        self.workers: dict[str, subprocess.Popen] = {}
        self.beats: list[subprocess.Popen] = []
        self.watchdogs: list[subprocess.Popen] = []
        self.log = (directory / "processes.log").open("ab")
        self.worker_starts = 0

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REMINDERS_", "CELERY_"))}
        env.update(TIMINGS)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "tests.integration.settings",
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis_url,
                "PUMPTRACK_IT_QUEUE": self.queue,
                "REMINDERS_SMS_OUTBOX_PATH": str(self.sms_path),
                "REMINDERS_EMAIL_LEDGER_PATH": str(self.email_path),
                "REMINDERS_FAULTS_PATH": str(self.faults_path),
                "PUMPTRACK_IT_READY_DIR": str(self.ready_dir),
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def faults(self, **plan) -> None:
        self.faults_path.write_text(json.dumps(plan))

    def driver(self, *args: str) -> dict:
        result = subprocess.run(
            [PYTHON, "tests/integration/driver.py", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(result.stdout)

    def driver_async(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [PYTHON, "tests/integration/driver.py", *args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )

    def start_worker(self, name: str = "w1") -> None:
        self.worker_starts += 1
        self.workers[name] = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "pumptrack",
                "worker",
                "--pool=solo",
                "-Q",
                self.queue,
                "-n",
                f"{name}-{self.queue}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "WARNING",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=self.log,
        )
        self.launched_at[self.workers[name].pid] = time.time()

    def ready_since(self, name: str) -> float | None:
        """When the worker's current process was ready to work (time.time()), if it is."""
        marker = self.ready_dir / str(self.workers[name].pid)
        try:
            return float(marker.read_text())
        except (OSError, ValueError):
            return None

    def stop_processes(self) -> None:
        self.stop_beats()
        for name in list(self.workers):
            self.kill_worker(name)

    def kill_worker(self, name: str = "w1") -> None:
        process = self.workers[name]
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait()

    def worker_died(self, name: str = "w1") -> bool:
        return self.workers[name].poll() is not None

    def start_beat(self) -> subprocess.Popen:
        beat = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "pumptrack",
                "beat",
                "-l",
                "WARNING",
                "--scheduler",
                "django_celery_beat.schedulers:DatabaseScheduler",
                "--max-interval",
                "1",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=self.log,
        )
        self.beats.append(beat)
        return beat

    def stop_beats(self) -> None:
        for beat in self.beats:
            if beat.poll() is None:
                beat.terminate()
        for beat in self.beats:
            try:
                beat.wait(timeout=10)
            except subprocess.TimeoutExpired:
                beat.kill()
                beat.wait()
        self.beats.clear()

    def start_watchdog(self) -> subprocess.Popen:
        watchdog = subprocess.Popen(
            [PYTHON, "manage.py", "watchdog"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=self.log,
        )
        self.watchdogs.append(watchdog)
        return watchdog

    def stop(self) -> None:
        for watchdog in self.watchdogs:
            if watchdog.poll() is None:
                watchdog.kill()
                watchdog.wait()
        self.stop_beats()
        for name in list(self.workers):
            self.kill_worker(name)
        self.log.close()

    def counts(self) -> dict[str, int]:
        return self.databases.counts(self.database_url)

    def deliveries(self) -> Counter:
        from reminders.channels import read_lines

        return Counter(
            record["reference"]
            for path in (self.sms_path, self.email_path)
            for record in read_lines(path)
        )

    def logs(self) -> str:
        self.log.flush()
        return (self.directory / "processes.log").read_text(errors="replace")[-6000:]


@pytest.fixture
def stack_factory(databases, tmp_path):
    stacks = []

    def make(redis_url: str) -> Stack:
        name = f"t{len(stacks)}_{uuid.uuid4().hex[:6]}"
        url = databases.new(name)
        stack = Stack(
            databases=databases,
            database_url=url,
            redis_url=redis_url,
            directory=tmp_path / name,
        )
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.stop()
        databases.drop(stack.database_url)
        try:
            import redis

            client = redis.Redis.from_url(stack.redis_url, socket_connect_timeout=1)
            client.delete(stack.queue)
        except Exception as exc:  # the server may be one we already stopped
            print(f"could not clean queue {stack.queue}: {exc}")


def settle(stack: Stack, *, expected: int, timeout: float, on_tick=None) -> dict[str, int]:
    """Wait until every expected row reached a final state; restart a worker that died."""
    deadline = time.monotonic() + timeout
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        for name in list(stack.workers):
            if stack.worker_died(name):
                stack.start_worker(name)
        # on_tick returns True while it still has faults to inject: not done before those.
        faults_left = bool(on_tick()) if on_tick else False
        counts = stack.counts()
        unsettled = counts.get("pending", 0) + counts.get("sending", 0)
        if sum(counts.values()) >= expected and unsettled == 0 and not faults_left:
            return counts
        time.sleep(0.25)
    raise AssertionError(f"not settled after {timeout}s: {counts}\n--- logs ---\n{stack.logs()}")
