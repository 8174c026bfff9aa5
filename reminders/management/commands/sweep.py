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
            "(for clinics that run the sweep from cron without a worker).",
        )

    def handle(self, *args, reconcile=False, send=False, **options):
        publish = None
        if send:
            from reminders.tasks import send_notification

            def publish(pk: int) -> None:
                send_notification(pk)

        report = sweep_run(reconcile=reconcile, publish=publish)
        for line in report.lines():
            self.stdout.write(line)
        if not report.ok:
            self.stderr.write(self.style.ERROR("Some steps failed; see the log."))
            raise SystemExit(1)
