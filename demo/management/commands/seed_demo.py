"""`manage.py seed_demo`: load the invented demo clinic (see demo/builder.py).

`make run` calls it with --if-empty on every start. It refuses to run unless
settings.DEMO_LOGIN_ENABLED is True, because it creates the login demo/demo.
"""

from __future__ import annotations

import contextlib
import logging
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from demo.builder import DEMO_SEED, DemoDisabled, load_demo

# The services log every alert they raise; loading a clinic raises dozens. The summary
# says what was loaded, and the alerts are on the Alerts page.
QUIET_LOGGERS = ("accounts", "patients", "refills", "reminders")


@contextlib.contextmanager
def _warnings_only(names):
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class Command(BaseCommand):
    help = (
        "Load a deterministic demo clinic with about 50 invented patients and their refill "
        "history. Local settings only (DEMO_LOGIN_ENABLED = True)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Load only when the database has no patients at all (used by `make run`).",
        )
        parser.add_argument(
            "--seed", type=int, default=DEMO_SEED, help="Random seed (default: the demo's own)."
        )
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000/",
            help="Where the web server will answer, printed as the page to open.",
        )

    def handle(self, *args, if_empty: bool = False, seed: int = DEMO_SEED, **options):
        # Whole hours: the same start-up hour gives the same demo.
        now = timezone.now().replace(minute=0, second=0, microsecond=0)
        started = time.monotonic()
        try:
            with _warnings_only(QUIET_LOGGERS):
                result = load_demo(now=now, seed=seed, if_empty=if_empty)
        except DemoDisabled as exc:
            raise CommandError(str(exc)) from exc
        for line in result.lines():
            self.stdout.write(line)
        if result.loaded:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo clinic ready in {time.monotonic() - started:.1f} s. "
                    f"Open {options['url'].rstrip('/')}/accounts/login/ once the server is up."
                )
            )
