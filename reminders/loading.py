"""Whether a whole history is being loaded in one go (the demo's years of back-dated
records, see hooks.reviews_paused and hooks.patient_messages_paused).

Its own module so the alert rules (below hooks) can read it: an alert raised while a
history loads is stamped `raised_during_history_load`, and the reports leave it out
(it describes an intermediate state nobody had to act on, at the real "now")."""

from __future__ import annotations

import contextlib
import contextvars

_loading = contextvars.ContextVar("history_loading", default=False)


@contextlib.contextmanager
def history_loading():
    token = _loading.set(True)
    try:
        yield
    finally:
        _loading.reset(token)


def loading_history() -> bool:
    return _loading.get()
