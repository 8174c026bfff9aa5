from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The invented demo clinic (`manage.py seed_demo`). Above every domain app: it
    writes through their services and nothing imports it."""

    name = "demo"
    verbose_name = "Demo data"
