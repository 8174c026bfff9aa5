"""Watch the reminder sweep from outside beat and the worker; tell people when it stops."""

import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection
from django.utils import timezone

from reminders import conf
from reminders.watchdog import watchdog_check


class Command(BaseCommand):
    help = (
        "Check the last sweep every WATCHDOG_CHECK_SECONDS; when it is older than two "
        "intervals, email and text the clinics' escalation contacts once, and again when "
        "the sweeps are back. Runs as its own process (Procfile, docker-compose.yml)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Check once and exit.")
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="Seconds between checks (default: PUMPTRACK_WATCHDOG_CHECK_SECONDS).",
        )

    def handle(self, *args, once=False, interval=None, **options):
        interval = interval or float(conf.value("WATCHDOG_CHECK_SECONDS"))
        while True:
            if not once:
                # Between checks of the long-running loop only: a one-off check uses the
                # connection it was given (in a test, the test's own transaction).
                close_old_connections()
            checked = self.check()
            if once:
                if not checked:
                    raise SystemExit(1)
                return
            time.sleep(interval)

    def check(self) -> bool:
        # A database outage must not end the watchdog: report it and look again later.
        try:
            now = timezone.now()
            self.stdout.write(watchdog_check(now=now).line(now))
        except Exception as exc:
            self.stderr.write(f"watchdog check failed: {type(exc).__name__}")
            connection.close()
            return False
        return True
