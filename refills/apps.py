from django.apps import AppConfig


class RefillsConfig(AppConfig):
    name = "refills"
    verbose_name = "Drug programs, refills and appointments"

    def ready(self) -> None:
        # refills follows the patients app's writes through its signals (patients sits
        # below refills and never imports it).
        from refills import receivers

        receivers.connect()
