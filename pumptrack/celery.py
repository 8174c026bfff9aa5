"""The Celery app: worker and beat run the reminders' sweep and send tasks.

Redis is the broker when REDIS_URL is set; otherwise kombu's filesystem transport
under var/broker/ lets `make run` start web, worker and beat without a server.
Delivery guarantees come from the database (the outbox), not from the broker:
see reminders/sweep.py.
"""

import os
from pathlib import Path

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pumptrack.settings.local")

app = Celery("pumptrack")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _make_broker_folders(sender, **kwargs) -> None:
    """The filesystem transport expects its folders to exist."""
    if str(sender.conf.broker_url).startswith("filesystem"):
        options = sender.conf.broker_transport_options or {}
        for key in ("data_folder_in", "data_folder_out", "control_folder"):
            if options.get(key):
                Path(options[key]).mkdir(parents=True, exist_ok=True)
