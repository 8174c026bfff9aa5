from django.apps import AppConfig


class RemindersConfig(AppConfig):
    name = "reminders"

    def ready(self) -> None:
        # reminders follows the writes of patients and refills through their signals
        # (both sit below reminders and never import it).
        from reminders import receivers

        receivers.connect()
