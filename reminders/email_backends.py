"""Email through a provider's HTTP API (django-anymail), with the outbox reference as the
provider's idempotency key where the provider has one.

A worker killed after the provider took an email and before "sent" was committed sends
it again on recovery (email cannot be asked "did reference X go out?"). With SMTP that
second copy reaches the patient and is counted in `possible_duplicates`. A provider that
de-duplicates by a key we choose drops the second request instead, within its window:

- Resend: the `Idempotency-Key` HTTP header of `POST /emails`, kept 24 hours.
- Brevo: `idempotencyKey` in the JSON `headers` of `POST /v3/smtp/email`, kept 15 minutes.

anymail has no setting for either (it sends custom headers as email headers, and
`esp_extra` only reaches the JSON body), so each backend below is anymail's with the
key added to the request it builds; everything else is anymail's. Every anymail
backend (these and the plain ones: Postmark, SendGrid, Mailgun, Amazon SES, ...) also
gets the reference as message metadata (reminders.channels.send_email), which the
provider stores with the message and returns in its event webhooks.

`idempotency_window_seconds` tells reminders.channels.lookup_email how long a re-send
is safe; after that, a re-send is counted like SMTP's.
"""

from __future__ import annotations

from anymail.backends.brevo import EmailBackend as AnymailBrevoBackend
from anymail.backends.resend import EmailBackend as AnymailResendBackend

from reminders.channels import REFERENCE_HEADER


def _reference(message) -> str:
    return (getattr(message, "extra_headers", None) or {}).get(REFERENCE_HEADER, "")


class ResendEmailBackend(AnymailResendBackend):
    """anymail's Resend backend, with the outbox reference as the `Idempotency-Key`."""

    idempotency_window_seconds = 24 * 3600

    def build_message_payload(self, message, defaults):
        payload = super().build_message_payload(message, defaults)
        reference = _reference(message)
        if reference:
            # An HTTP header of the API call, not an email header: `payload.headers`.
            payload.headers["Idempotency-Key"] = reference
        return payload


class BrevoEmailBackend(AnymailBrevoBackend):
    """anymail's Brevo backend, with the outbox reference as its `idempotencyKey`."""

    idempotency_window_seconds = 15 * 60

    def build_message_payload(self, message, defaults):
        payload = super().build_message_payload(message, defaults)
        reference = _reference(message)
        if reference:
            # Brevo reads the key from the request's `headers` object (its API docs).
            payload.data["headers"]["idempotencyKey"] = reference
        return payload
