"""Settings for the processes the integration tests start (worker, beat, driver).

The test process passes everything through the environment: DATABASE_URL (a
SQLite file or a PostgreSQL database of its own), REDIS_URL, the queue name, the
ledger and fault-plan paths and short timings. Texts and emails go to JSON-lines
ledgers so the test counts what was actually delivered, across processes.
"""

import os
import time
from pathlib import Path

from celery.signals import worker_ready

from pumptrack.settings.test import *  # noqa: F403
from pumptrack.settings.test import (
    CELERY_BEAT_SCHEDULE,
    CELERY_TASK_ROUTES,
    LOGGING,
    REMINDERS,
    env,
)

CELERY_BROKER_URL = env("REDIS_URL")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=30),
    "socket_timeout": 5,
    "socket_connect_timeout": 3,
    # Restore a killed worker's unacknowledged messages soon after the visibility timeout.
    "unacked_restore_interval": 2,
    "unacked_restore_throttle": 1,
}
CELERY_TASK_DEFAULT_QUEUE = env("PUMPTRACK_IT_QUEUE", default="celery")
# Sweeps share the drill's one queue (FIFO behind the batch, as before the sweep got its
# own queue): with one solo worker and a sweep every second, serving sweeps first costs
# that worker a third or more of its sending time (measured: 97-153 against 223 sent in
# the first 180 s of the reduced kill drill), which production avoids with its own
# sweep worker and a 60 s interval.
CELERY_SWEEP_QUEUE = CELERY_TASK_DEFAULT_QUEUE
CELERY_TASK_ROUTES = {name: {"queue": CELERY_SWEEP_QUEUE} for name in CELERY_TASK_ROUTES}
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
EMAIL_BACKEND = "tests.support.backends.LedgerEmailBackend"
REMINDERS = {
    **REMINDERS,
    "SMS_BACKEND": env("REMINDERS_SMS_BACKEND", default="tests.support.backends.FlakySmsBackend"),
    "SMS_ECHO": False,
}
CELERY_BEAT_SCHEDULE["reminders-sweep"]["schedule"] = REMINDERS["SWEEP_INTERVAL_SECONDS"]
CELERY_BEAT_SCHEDULE["reminders-sweep"]["options"] = {
    "expire_seconds": max(REMINDERS["SWEEP_INTERVAL_SECONDS"] * 5, 5)
}
LOGGING["root"]["level"] = env("LOG_LEVEL", default="WARNING")


@worker_ready.connect
def _mark_ready(**kwargs) -> None:
    """The full drill kills a worker 30 s after it is ready to work (not after its launch:
    a worker takes many seconds to start on a loaded machine): say when, by pid."""
    directory = os.environ.get("PUMPTRACK_IT_READY_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        Path(directory, str(os.getpid())).write_text(str(time.time()))
