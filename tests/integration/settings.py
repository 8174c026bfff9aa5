"""Settings for the processes the integration tests start (worker, beat, driver).

The test process passes everything through the environment: DATABASE_URL (a
SQLite file or a PostgreSQL database of its own), REDIS_URL, the queue name, the
ledger and fault-plan paths and short timings. Texts and emails go to JSON-lines
ledgers so the test counts what was actually delivered, across processes.
"""

from pumptrack.settings.test import *  # noqa: F403
from pumptrack.settings.test import CELERY_BEAT_SCHEDULE, LOGGING, REMINDERS, env

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
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
EMAIL_BACKEND = "tests.support.backends.LedgerEmailBackend"
REMINDERS = {
    **REMINDERS,
    "SMS_BACKEND": env("REMINDERS_SMS_BACKEND", default="tests.support.backends.FlakySmsBackend"),
    "SMS_ECHO": False,
}
CELERY_BEAT_SCHEDULE["reminders-sweep"]["schedule"] = REMINDERS["SWEEP_INTERVAL_SECONDS"]
CELERY_BEAT_SCHEDULE["reminders-sweep"]["options"] = {
    "expires": max(REMINDERS["SWEEP_INTERVAL_SECONDS"] * 5, 5)
}
LOGGING["root"]["level"] = env("LOG_LEVEL", default="WARNING")
