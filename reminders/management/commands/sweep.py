"""Run one reminders sweep in the foreground and print what it did (or use it from cron)."""

from django.core.management.base import BaseCommand

from reminders.sweep import sweep_run


class Command(BaseCommand):
    help = (
        "Run one sweep now: reassess forecasts, mark missed appointments, create due "
        "reminders and alerts, escalate, recover crashed sends and publish send tasks."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reconcile",
            action="store_true",
            help="Also repair reminder plans of appointments written around the services.",
        )
        parser.add_argument(
            "--send",
            action="store_true",
            help="Send the due messages in this process instead of publishing tasks "
            "(for clinics that run the sweep from cron without a worker); retries are "
            "sent by the next run, nothing is published to the broker.",
        )

    def handle(self, *args, reconcile=False, send=False, **options):
        # --send is cron mode: messages go out from this process, a failed attempt stays a
        # due row that the next `sweep --send` retries, and nothing is put on the broker.
        report = sweep_run(reconcile=reconcile, cron=send)
        for line in report.lines():
            self.stdout.write(line)
        if not report.ok:
            self.stderr.write(self.style.ERROR("Some steps failed; see the log."))
            raise SystemExit(1)
