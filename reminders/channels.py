"""Delivery channels: SMS through a small backend interface, email through Django's backends.

Every backend answers two questions: send this message (with a timeout), and,
after a crash or a timeout, "did message <reference> go out?" (`lookup`). A
backend that cannot tell answers UNKNOWN; the caller then sends again and counts
the possible duplicate (a second copy is better than none).

Errors are sorted into transient (timeouts, 429, 5xx: retried with backoff) and
permanent (a bad number, an opted-out recipient: not retried).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import smtplib
import sys
import threading
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from anymail.backends.base import AnymailBaseBackend
from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.utils import timezone
from django.utils.module_loading import import_string

REFERENCE_HEADER = "X-Pumptrack-Reference"


@dataclass(frozen=True)
class Outgoing:
    """What a channel needs to send one outbox row (built by the send task)."""

    reference: str
    to: str
    body: str
    subject: str = ""
    status_callback: str = ""
    # For lookups: the earliest moment an earlier attempt could have been sent.
    attempted_since: dt.datetime | None = None


@dataclass(frozen=True)
class SendResult:
    provider_id: str
    status: str = "sent"


class LookupState(StrEnum):
    SENT = "sent"
    NOT_SENT = "not-sent"
    UNKNOWN = "unknown"
    # Unknown, but the provider drops a second request with the same idempotency key:
    # sending again is safe and is not a possible duplicate.
    DEDUPLICATED = "deduplicated"


@dataclass(frozen=True)
class Lookup:
    state: LookupState
    provider_id: str = ""
    status: str = ""


UNKNOWN = Lookup(LookupState.UNKNOWN)


class SendError(Exception):
    def __init__(self, code: str, *, detail: str = ""):
        super().__init__(code)
        self.code = code
        self.detail = detail


class TransientSendError(SendError):
    """Worth retrying. `ambiguous`: the provider may have sent it anyway (a timeout)."""

    def __init__(self, code: str, *, ambiguous: bool = False, detail: str = ""):
        super().__init__(code, detail=detail)
        self.ambiguous = ambiguous


class PermanentSendError(SendError):
    """Retrying cannot help. `opted_out`: the recipient or the carrier refused texts."""

    def __init__(self, code: str, *, opted_out: bool = False, detail: str = ""):
        super().__init__(code, detail=detail)
        self.opted_out = opted_out


# --------------------------------------------------------------------------- SMS


class SmsBackend:
    def send(self, message: Outgoing, *, timeout: float) -> SendResult:
        raise NotImplementedError

    def lookup(self, message: Outgoing) -> Lookup:
        return UNKNOWN


def _append_line(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True) + "\n"
    with path.open("a", encoding="utf-8") as handle:
        # One locked write per line: concurrent workers never interleave records.
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.write(line)
            handle.flush()
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_lines(path: str | Path) -> list[dict]:
    """Every complete JSON line of a ledger file (a torn last line is ignored)."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    with path.open(encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        try:
            for line in handle:
                if line.endswith("\n"):
                    try:
                        records.append(json.loads(line))
                    except ValueError:
                        continue
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return records


class FileSmsBackend(SmsBackend):
    """Local development: print the text and append it to a JSON-lines file.

    The file is also the provider's memory, so `lookup` is exact.
    """

    def __init__(self, path: str | None = None, echo: bool | None = None):
        self.path = Path(path or settings.REMINDERS["SMS_OUTBOX_PATH"])
        self.echo = settings.REMINDERS.get("SMS_ECHO", True) if echo is None else echo

    def send(self, message: Outgoing, *, timeout: float) -> SendResult:
        provider_id = f"file-{uuid.uuid4().hex[:16]}"
        _append_line(
            self.path,
            {
                "reference": message.reference,
                "to": message.to,
                "body": message.body,
                "provider_id": provider_id,
                "at": timezone.now().isoformat(),
            },
        )
        if self.echo:
            sys.stdout.write(
                f"----- SMS to {message.to} (ref {message.reference})\n{message.body}\n-----\n"
            )
            sys.stdout.flush()
        return SendResult(provider_id=provider_id, status="sent")

    def lookup(self, message: Outgoing) -> Lookup:
        for record in read_lines(self.path):
            if record.get("reference") == message.reference:
                return Lookup(LookupState.SENT, provider_id=record.get("provider_id", ""))
        return Lookup(LookupState.NOT_SENT)


class LocmemSmsBackend(SmsBackend):
    """Tests: texts are kept in `LocmemSmsBackend.outbox` (like Django's locmem email)."""

    outbox: list[dict] = []
    _lock = threading.Lock()

    def send(self, message: Outgoing, *, timeout: float) -> SendResult:
        provider_id = f"mem-{uuid.uuid4().hex[:12]}"
        with self._lock:
            type(self).outbox.append(
                {
                    "reference": message.reference,
                    "to": message.to,
                    "body": message.body,
                    "provider_id": provider_id,
                }
            )
        return SendResult(provider_id=provider_id)

    def lookup(self, message: Outgoing) -> Lookup:
        for record in type(self).outbox:
            if record["reference"] == message.reference:
                return Lookup(LookupState.SENT, provider_id=record["provider_id"])
        return Lookup(LookupState.NOT_SENT)


# Twilio error codes that mean "this number does not take texts from us".
TWILIO_OPTED_OUT = {21610}
TWILIO_BAD_NUMBER = {21211, 21214, 21217, 21612, 21614, 21408}


class TwilioSmsBackend(SmsBackend):
    """Production SMS through Twilio's REST API (the twilio package)."""

    def __init__(self):
        conf = settings.REMINDERS
        self.account_sid = conf["TWILIO_ACCOUNT_SID"]
        self.auth_token = conf["TWILIO_AUTH_TOKEN"]
        self.from_number = conf["TWILIO_FROM_NUMBER"]
        self.messaging_service_sid = conf["TWILIO_MESSAGING_SERVICE_SID"]

    def _client(self, timeout: float):
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        return Client(
            self.account_sid, self.auth_token, http_client=TwilioHttpClient(timeout=timeout)
        )

    def send(self, message: Outgoing, *, timeout: float) -> SendResult:
        import requests
        from twilio.base.exceptions import TwilioRestException

        if not (self.account_sid and self.auth_token):
            raise PermanentSendError("twilio-not-configured")
        kwargs = {"to": message.to, "body": message.body}
        if self.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.messaging_service_sid
        else:
            kwargs["from_"] = self.from_number
        if message.status_callback:
            kwargs["status_callback"] = message.status_callback
        try:
            sent = self._client(timeout).messages.create(**kwargs)
        except TwilioRestException as exc:
            code = f"twilio-{exc.status}-{exc.code}"
            if exc.status == 429 or exc.status >= 500:
                raise TransientSendError(code) from exc
            if exc.code in TWILIO_OPTED_OUT:
                raise PermanentSendError(code, opted_out=True) from exc
            raise PermanentSendError(code) from exc
        except requests.exceptions.Timeout as exc:
            raise TransientSendError("twilio-timeout", ambiguous=True) from exc
        except requests.exceptions.ConnectionError as exc:
            # The request may have reached Twilio before the connection broke.
            raise TransientSendError("twilio-connection", ambiguous=True) from exc
        return SendResult(provider_id=sent.sid, status=sent.status or "queued")

    def lookup(self, message: Outgoing) -> Lookup:
        """Twilio has no client reference; match recent messages to the number by body."""
        try:
            client = self._client(float(settings.REMINDERS["SEND_TIMEOUT_SECONDS"]))
            kwargs = {"to": message.to, "limit": 50}
            if message.attempted_since:
                kwargs["date_sent_after"] = message.attempted_since - dt.timedelta(minutes=5)
            for sent in client.messages.list(**kwargs):
                if sent.body == message.body:
                    return Lookup(LookupState.SENT, provider_id=sent.sid, status=sent.status)
        except Exception:  # a failed lookup only means "unknown"
            return UNKNOWN
        # Queued messages have no date_sent yet: absence proves nothing.
        return UNKNOWN


def sms_backend() -> SmsBackend:
    return import_string(settings.REMINDERS["SMS_BACKEND"])()


# --------------------------------------------------------------------------- email


def _email_connection(timeout: float):
    try:
        return get_connection(fail_silently=False, timeout=timeout)
    except TypeError:
        # Backends without a timeout argument (custom ones) still work.
        return get_connection(fail_silently=False)


def send_email(message: Outgoing, *, timeout: float) -> SendResult:
    """Hand one email over. The outbox reference travels in a header, and with an API
    provider (django-anymail) as message metadata and, where the provider has one, as its
    idempotency key (reminders/email_backends.py)."""
    connection = _email_connection(timeout)
    email = EmailMessage(
        subject=message.subject,
        body=message.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.to],
        headers={REFERENCE_HEADER: message.reference},
        connection=connection,
    )
    if isinstance(connection, AnymailBaseBackend):
        # Stored by the provider with the message: its logs and event webhooks name it.
        email.metadata = {METADATA_KEY: message.reference}
    try:
        email.send(fail_silently=False)
    except AnymailError as exc:
        raise _api_error(exc) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentSendError("smtp-recipient-refused") from exc
    except smtplib.SMTPResponseException as exc:
        code = f"smtp-{exc.smtp_code}"
        if 400 <= exc.smtp_code < 500:
            raise TransientSendError(code) from exc
        raise PermanentSendError(code) from exc
    except TimeoutError as exc:
        raise TransientSendError("smtp-timeout", ambiguous=True) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise TransientSendError(f"smtp-{type(exc).__name__}") from exc
    return SendResult(provider_id=_email_provider_id(email, message)[:100], status="sent")


METADATA_KEY = "pumptrack_reference"


def _api_error(exc: AnymailError) -> SendError:
    """An API provider's refusal, sorted like Twilio's: 429 and 5xx are worth a retry."""
    if isinstance(exc, AnymailRecipientsRefused):
        return PermanentSendError("api-recipient-refused")
    if not isinstance(exc, AnymailAPIError):
        return PermanentSendError(f"api-{type(exc).__name__}")  # e.g. an invalid address
    status = exc.status_code
    if status is None:
        # No answer (a timeout, a broken connection): the provider may have taken it.
        return TransientSendError("api-no-response", ambiguous=True)
    if status == 429 or status >= 500:
        return TransientSendError(f"api-{status}")
    return PermanentSendError(f"api-{status}")


def _email_provider_id(email: EmailMessage, message: Outgoing) -> str:
    status = getattr(email, "anymail_status", None)
    if status is not None and status.message_id is not None:
        return str(status.message_id)
    return email.extra_headers.get("Message-ID", "") or f"email-{message.reference}"


def lookup_email(message: Outgoing) -> Lookup:
    """SMTP cannot say whether a message went out; a backend may (`lookup_reference`).

    A backend whose provider de-duplicates by the reference (`idempotency_window_seconds`)
    makes a re-send safe while the first attempt is inside that window; the row's
    creation (`attempted_since`) is the earliest that attempt can have been, so the test
    errs towards counting a possible duplicate.
    """
    connection = get_connection()
    lookup = getattr(connection, "lookup_reference", None)
    found = lookup(message.reference) if lookup is not None else None
    if found is not None:
        return Lookup(LookupState.SENT) if found else Lookup(LookupState.NOT_SENT)
    window = getattr(connection, "idempotency_window_seconds", None)
    since = message.attempted_since
    if window and since is not None and timezone.now() - since < dt.timedelta(seconds=window):
        return Lookup(LookupState.DEDUPLICATED)
    return UNKNOWN
