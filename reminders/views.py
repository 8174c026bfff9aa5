"""/healthz (no login) and the Twilio webhooks (verified by X-Twilio-Signature)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from patients.validators import normalize_phone
from pumptrack.celery import app as celery_app
from reminders import conf
from reminders.delivery import notification_provider_status
from reminders.outbox import clinic_phone_text, phone_text
from reminders.selectors import clinics_of_phone, last_sweep
from reminders.services import sms_keyword_apply, webhook_first_seen

logger = logging.getLogger(__name__)


def _broker_ok() -> tuple[bool, str]:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)
        return True, ""
    except Exception as exc:
        return False, type(exc).__name__


@never_cache
@require_GET
@transaction.non_atomic_requests
def healthz(request: HttpRequest) -> JsonResponse:
    """Database, broker and the last sweep's age. 503 when the DB is down or the sweep stale."""
    now = timezone.now()
    checks: dict = {}
    healthy = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = {"ok": True}
    except Exception as exc:
        checks["database"] = {"ok": False, "error": type(exc).__name__}
        healthy = False
    broker_ok, broker_error = _broker_ok()
    checks["broker"] = {"ok": broker_ok, **({"error": broker_error} if broker_error else {})}
    sweep = {"ok": False, "last_finished_at": None, "age_seconds": None}
    if checks["database"]["ok"]:
        try:
            last = last_sweep()
        except Exception as exc:
            last = None
            sweep["error"] = type(exc).__name__
        stale_after = conf.stale_after().total_seconds()
        if last is not None:
            age = (now - last.finished_at).total_seconds()
            sweep.update(
                last_finished_at=last.finished_at.isoformat(),
                age_seconds=round(age, 1),
                ok=age <= stale_after,
            )
        sweep["stale_after_seconds"] = stale_after
    checks["sweep"] = sweep
    healthy = healthy and sweep["ok"]
    return JsonResponse(
        {"status": "ok" if healthy else "unhealthy", "checks": checks},
        status=200 if healthy else 503,
    )


def _signed_by_twilio(request: HttpRequest) -> bool:
    from twilio.request_validator import RequestValidator

    token = settings.REMINDERS.get("TWILIO_AUTH_TOKEN") or ""
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    base = (settings.REMINDERS.get("PUBLIC_BASE_URL") or "").rstrip("/")
    # Twilio signs the URL it called; behind a proxy that is the public one.
    url = f"{base}{request.get_full_path()}" if base else request.build_absolute_uri()
    return RequestValidator(token).validate(url, request.POST, signature)


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest) -> HttpResponse:
    if not _signed_by_twilio(request):
        logger.warning("twilio status callback with a bad signature refused")
        return HttpResponseForbidden("Bad signature")
    sid = request.POST.get("MessageSid", "")
    status = request.POST.get("MessageStatus", "")
    if sid and not webhook_first_seen(key=f"{sid}:{status}", kind="status"):
        logger.info("twilio status callback replayed; ignored")
        return HttpResponse(status=204)
    notification_provider_status(
        reference=request.GET.get("ref", ""),
        provider_id=request.POST.get("MessageSid", ""),
        status=request.POST.get("MessageStatus", ""),
        error_code=request.POST.get("ErrorCode", ""),
    )
    return HttpResponse(status=204)


TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@csrf_exempt
@require_POST
def twilio_inbound(request: HttpRequest) -> HttpResponse:
    """STOP/START change consent. Anything else gets the clinic's number: nobody reads replies."""
    from twilio.twiml.messaging_response import MessagingResponse

    if not _signed_by_twilio(request):
        logger.warning("twilio inbound message with a bad signature refused")
        return HttpResponseForbidden("Bad signature")
    sid = request.POST.get("MessageSid", "")
    if not sid:
        return HttpResponse("A MessageSid is required.", status=400)
    if not webhook_first_seen(key=sid, kind="inbound"):
        logger.info("twilio inbound message replayed; ignored")
        return HttpResponse(TWIML_EMPTY, content_type="text/xml")
    try:
        phone = normalize_phone(request.POST.get("From", ""))
    except ValidationError:
        phone = ""
    effect = ""
    if phone:
        effect, _ = sms_keyword_apply(
            phone=phone, body=request.POST.get("Body", ""), to=request.POST.get("To", "")
        )
    if effect or not phone:
        # Twilio answers STOP/START itself; we only record the consent.
        return HttpResponse(TWIML_EMPTY, content_type="text/xml")
    clinics = clinics_of_phone(phone)
    reply = MessagingResponse()
    if len(clinics) == 1:
        clinic = clinics.pop()
        urgent = clinic.after_hours_phone or clinic.phone
        reply.message(
            f"This number cannot read replies. Please call {clinic.name} at "
            f"{clinic_phone_text(clinic)}. If you feel unwell, call "
            f"{phone_text(urgent)} or emergency services."
        )
    else:
        reply.message(
            "This number cannot read replies. Please call your clinic. "
            "If you feel unwell, call emergency services."
        )
    return HttpResponse(str(reply), content_type="text/xml")
