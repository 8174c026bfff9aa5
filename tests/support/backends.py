"""Backends for tests and fault drills, controlled from a file so a worker process obeys too.

Test code only (not in the production image): the settings of the fault drills name
them as `tests.support.backends.*`; the worker and beat processes those drills start
run from the repository root, so `tests` imports as a package there too.

The fault plan is JSON at settings.REMINDERS["FAULTS_PATH"]; counters live next to
it (`<plan>.state`) under a file lock, so they survive a worker killed with -9:

    {
      "sms_transient": 40,                       # the first 40 SMS calls fail ...
      "sms_transient_kinds": ["timeout", "429", "503"],   # ... cycling through these
      "sms_permanent_numbers": ["+16175550199"], # these numbers always fail permanently
      "sms_failure_rate": 0.2,                   # or: each SMS call fails with this chance
      "email_failure_rate": 0.2,                 #   (and each email: an SMTP 451)
      "die_after_sms_sends": [120],              # SIGKILL this process right after the
      "die_after_email_sends": [60]              #   Nth send, before the outbox commit
    }

A simulated timeout never reaches the outbox file, like a request that died before
the provider accepted it; the lookup then truthfully says "not sent".
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import signal
import smtplib
from pathlib import Path

from anymail.backends.test import EmailBackend as AnymailTestEmailBackend
from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from reminders.channels import (
    REFERENCE_HEADER,
    FileSmsBackend,
    Outgoing,
    PermanentSendError,
    SendResult,
    TransientSendError,
    _append_line,
)


def _plan() -> dict:
    path = settings.REMINDERS.get("FAULTS_PATH") or ""
    if not path or not Path(path).exists():
        return {}
    return json.loads(Path(path).read_text() or "{}")


def _bump(counter: str) -> int:
    """Increment a counter shared by every process using this plan; return the new value.

    Written to a temporary file and renamed, under a lock: a process killed in the
    middle leaves the old counts, never an empty file.
    """
    path = settings.REMINDERS.get("FAULTS_PATH") or ""
    if not path:
        return 0
    state = Path(f"{path}.state")
    with Path(f"{path}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            counts = json.loads(state.read_text() or "{}") if state.exists() else {}
            counts[counter] = counts.get(counter, 0) + 1
            temporary = Path(f"{path}.state.{os.getpid()}")
            with temporary.open("w") as handle:
                handle.write(json.dumps(counts))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, state)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return counts[counter]


def _maybe_die(counter: str, plan_key: str, plan: dict) -> None:
    if not plan.get(plan_key):
        return
    if _bump(counter) in plan[plan_key]:
        # The provider has the message; our commit never happens. Exactly the window
        # where a duplicate is possible.
        os.kill(os.getpid(), signal.SIGKILL)


def _fail_transiently(kind: str) -> None:
    if kind == "timeout":
        raise TransientSendError("fault-timeout", ambiguous=True)
    raise TransientSendError(f"fault-{kind}")


class FlakySmsBackend(FileSmsBackend):
    """FileSmsBackend that fails as the fault plan says."""

    def send(self, message: Outgoing, *, timeout: float) -> SendResult:
        plan = _plan()
        if message.to in plan.get("sms_permanent_numbers", []):
            raise PermanentSendError("fault-invalid-number")
        budget = int(plan.get("sms_transient", 0))
        kinds = plan.get("sms_transient_kinds") or ["503"]
        if budget:
            call = _bump("sms_calls")
            if call <= budget:
                _fail_transiently(kinds[(call - 1) % len(kinds)])
        # A provider that fails a share of all calls, for as long as the drill runs.
        if random.random() < float(plan.get("sms_failure_rate", 0)):
            _fail_transiently(random.choice(kinds))
        result = super().send(message, timeout=timeout)
        _maybe_die("sms_sent", "die_after_sms_sends", plan)
        return result


class LedgerEmailBackend(BaseEmailBackend):
    """Records every email as a JSON line (REMINDERS["EMAIL_LEDGER_PATH"]).

    Deliberately has no `lookup_reference`: like SMTP, it cannot say afterwards
    whether a message went out, so crash recovery must resend and count it.
    """

    def __init__(self, fail_silently=False, timeout=None, **kwargs):
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.path = Path(settings.REMINDERS["EMAIL_LEDGER_PATH"])

    def send_messages(self, email_messages) -> int:
        plan = _plan()
        for message in email_messages:
            if random.random() < float(plan.get("email_failure_rate", 0)):
                # The server refused it for now (nothing handed over): retried later.
                raise smtplib.SMTPResponseException(451, b"fault: try again later")
            _append_line(
                self.path,
                {
                    "reference": message.extra_headers.get(REFERENCE_HEADER, ""),
                    "to": list(message.to),
                    "subject": message.subject,
                    "body": message.body,
                    "at": timezone.now().isoformat(),
                },
            )
            _maybe_die("email_sent", "die_after_email_sends", plan)
        return len(email_messages)


class IdempotentTestEmailBackend(AnymailTestEmailBackend):
    """anymail's test backend (no network) standing for a provider that de-duplicates by
    the outbox reference for 15 minutes, as reminders.email_backends.BrevoEmailBackend."""

    idempotency_window_seconds = 15 * 60
