from django.apps import AppConfig


class RefillsConfig(AppConfig):
    name = "refills"
    verbose_name = "Drug programs, refills and appointments"
