"""Webhooks called by the platforms (API.md). A bad or missing signature answers 403 and
changes nothing; an unknown or malformed payload answers 200 (so the platform stops
retrying) and is logged; a repeated callback changes nothing the second time."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from campaigns import delivery, services
from campaigns.models import Delivery, Subscription

from . import inbound
from .registry import channel_for

log = logging.getLogger(__name__)
OK = HttpResponse(status=200)


def _forbidden(platform: str, why: str) -> HttpResponse:
    log.warning("%s webhook refused: %s", platform, why)
    return HttpResponse(status=403)


def _hmac_hex(key: str, body: bytes) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def _json(request: HttpRequest, platform: str) -> dict | None:
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        log.warning("%s webhook: malformed JSON ignored: %r", platform, request.body[:200])
        return None
    if not isinstance(data, dict):
        log.warning("%s webhook: unexpected payload ignored: %r", platform, request.body[:200])
        return None
    return data


def _reply(platform: str, address: str, message: str) -> None:
    """A confirmation to a person who just wrote to us (the sandbox outbox without credentials)."""
    session = channel_for(platform).open()
    try:
        outcome = session.reply(address, message)
    finally:
        session.close()
    if outcome.error is not None:
        log.warning("%s confirmation to %s not sent: %s", platform, address, outcome.error.reason)


# --- Telegram -----------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["POST"])
def telegram(request: HttpRequest) -> HttpResponse:
    secret = settings.TELEGRAM_WEBHOOK_SECRET
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        return _forbidden("telegram", "secret token missing or wrong")
    if not settings.TELEGRAM_BOT_TOKEN:
        log.warning("telegram webhook called but TELEGRAM_BOT_TOKEN is not set (sandbox): update ignored")
        return OK
    data = _json(request, "telegram")
    if data is None or not isinstance(data.get("update_id"), int):
        return OK
    from .telegram_bot import webhook_runner

    try:
        webhook_runner().process(data)
    except Exception:  # the platform would retry forever; we log and answer 200
        log.exception("telegram update %s could not be handled", data.get("update_id"))
    return OK


# --- WhatsApp -----------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "POST"])
def whatsapp(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        token = settings.WHATSAPP_VERIFY_TOKEN
        given = request.GET.get("hub.verify_token", "")
        if request.GET.get("hub.mode") == "subscribe" and token and hmac.compare_digest(given.encode(), token.encode()):
            return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")
        return _forbidden("whatsapp", "verification token missing or wrong")
    secret = settings.WHATSAPP_APP_SECRET
    given = request.headers.get("X-Hub-Signature-256", "")
    if not secret or not hmac.compare_digest(given.encode(), f"sha256={_hmac_hex(secret, request.body)}".encode()):
        return _forbidden("whatsapp", "X-Hub-Signature-256 missing or wrong")
    data = _json(request, "whatsapp")
    if data is None:
        return OK
    try:
        for entry in data.get("entry") or []:
            for change in entry.get("changes") or []:
                value = change.get("value") or {}
                if change.get("field") == "messages":
                    for message in value.get("messages") or []:
                        _whatsapp_message(message, value.get("contacts") or [])
                    for status in value.get("statuses") or []:
                        _whatsapp_status(status)
                elif change.get("field") == "user_preferences":
                    for preference in value.get("user_preferences") or []:
                        _whatsapp_preference(preference)
                else:
                    log.info("whatsapp webhook: field %r ignored", change.get("field"))
    except (AttributeError, KeyError, TypeError, ValueError):
        log.exception("whatsapp webhook: malformed payload ignored")
    return OK


def _address(wa_id: str) -> str:
    """WhatsApp's wa_id is the phone's digits without the plus; we store E.164."""
    return "+" + str(wa_id).lstrip("+")


def _at(timestamp) -> datetime:
    try:
        return datetime.fromtimestamp(int(timestamp), tz=UTC)
    except (TypeError, ValueError):
        return datetime.now(UTC)


def _whatsapp_message(message: dict, contacts: list[dict]) -> None:
    address = _address(message["from"])
    at = _at(message.get("timestamp"))
    body = ""
    if message.get("type") == "text":
        body = (message.get("text") or {}).get("body", "")
    elif message.get("type") == "button":  # a template's quick reply, e.g. "Stop promotions"
        body = (message.get("button") or {}).get("text", "")
    elif message.get("type") == "interactive":
        reply = (message.get("interactive") or {}).get("button_reply") or {}
        body = reply.get("title", "")
    name = next(((c.get("profile") or {}).get("name", "") for c in contacts if c.get("wa_id") == message["from"]), "")
    word = inbound.keyword(body)
    confirmation = None
    with transaction.atomic():
        if not inbound.first_time("whatsapp", f"message:{message['id']}"):
            return
        services.note_inbound("whatsapp", address, at)
        evidence = {"message_id": message["id"], "text": body}
        if word in inbound.STOP_WORDS:
            change = services.person_opt_out("whatsapp", address, consent=services.Consent(
                source="whatsapp_stop", text=body, evidence=evidence, at=at))
            if change.subscription is not None:
                confirmation = inbound.text("wa_stopped", "ru" if word in {"стоп", "отписаться", "отписка"}
                                            else change.language)
        elif word in inbound.START_WORDS:
            change = services.person_opt_in("whatsapp", address, name=name, consent=services.Consent(
                source="whatsapp_start", text=inbound.CONSENT_TEXT["whatsapp"], evidence=evidence, at=at))
            services.note_inbound("whatsapp", address, at)
            if change.subscription.status == Subscription.Status.OPTED_IN:  # not a stale, overridden START
                confirmation = inbound.text("wa_started", "ru" if word in {"старт", "подписаться"} else change.language)
    if confirmation:
        _reply("whatsapp", address, confirmation)


_WHATSAPP_STATUS = {"delivered": Delivery.Status.DELIVERED, "read": Delivery.Status.READ,
                    "failed": Delivery.Status.FAILED}


def _whatsapp_status(status: dict) -> None:
    state = status.get("status")
    with transaction.atomic():
        if not inbound.first_time("whatsapp", f"status:{status['id']}:{state}"):
            return
        if state == "sent":
            return  # our ledger says sent when the API accepted the message
        if state not in _WHATSAPP_STATUS:
            log.info("whatsapp status %r ignored", state)
            return
        errors = status.get("errors") or []
        reason = "; ".join(f"WhatsApp {e.get('code')}: {e.get('title') or e.get('message', '')}" for e in errors)
        delivery.delivery_receipt("whatsapp", status["id"], _WHATSAPP_STATUS[state], at=_at(status.get("timestamp")),
                                 reason=reason)
        if state == "failed" and any(e.get("code") == 131026 for e in errors):
            services.person_opt_out("whatsapp", _address(status["recipient_id"]), status=Subscription.Status.UNREACHABLE,
                                    consent=services.Consent(source="whatsapp_undeliverable", text=reason,
                                                             evidence={"status": status}, at=_at(status.get("timestamp"))))


def _whatsapp_preference(preference: dict) -> None:
    """"Stop promotions" pressed in WhatsApp: no more marketing messages."""
    value = preference.get("value")
    key = f"preference:{preference['wa_id']}:{preference.get('timestamp')}:{value}"
    with transaction.atomic():
        if not inbound.first_time("whatsapp", key):
            return
        if value == "stop":
            services.person_opt_out("whatsapp", _address(preference["wa_id"]), consent=services.Consent(
                source="whatsapp_stop_promotions", text=preference.get("detail", "Stop promotions"),
                evidence=preference, at=_at(preference.get("timestamp"))))
        else:
            log.info("whatsapp user preference %r noted; a new opt-in needs START", value)


# --- Viber --------------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["POST"])
def viber(request: HttpRequest) -> HttpResponse:
    token = settings.VIBER_AUTH_TOKEN
    given = request.headers.get("X-Viber-Content-Signature", "")
    if not token or not hmac.compare_digest(given.encode(), _hmac_hex(token, request.body).encode()):
        return _forbidden("viber", "X-Viber-Content-Signature missing or wrong")
    data = _json(request, "viber")
    if data is None:
        return OK
    try:
        return _viber_event(data)
    except (AttributeError, KeyError, TypeError, ValueError):
        log.exception("viber webhook: malformed payload ignored")
        return OK


_VIBER_RECEIPT = {"delivered": Delivery.Status.DELIVERED, "seen": Delivery.Status.READ,
                  "failed": Delivery.Status.FAILED}


def _viber_event(data: dict) -> HttpResponse:
    event = data.get("event")
    at = datetime.fromtimestamp(int(data.get("timestamp", 0)) / 1000, tz=UTC) if data.get("timestamp") else None
    key = f"{event}:{data.get('message_token')}:{data.get('user_id') or (data.get('user') or {}).get('id')}"
    if event == "conversation_started":
        # Viber shows the answer to this callback as the bot's first message: ask for consent.
        user = data.get("user") or {}
        return JsonResponse({"sender": {"name": settings.VIBER_SENDER_NAME}, "type": "text",
                             "text": inbound.text("viber_welcome", user.get("language"))})
    with transaction.atomic():
        if not inbound.first_time("viber", key):
            return OK
        if event == "subscribed":
            user = data["user"]
            services.person_opt_in("viber", user["id"], name=user.get("name", ""), language=user.get("language"),
                                    consent=services.Consent(source="viber_subscribed", text=inbound.CONSENT_TEXT["viber"],
                                                             evidence={"user": user}, at=at))
        elif event == "unsubscribed":
            services.person_opt_out("viber", data["user_id"], consent=services.Consent(
                source="viber_unsubscribed", text="unsubscribed", evidence={"message_token": data.get("message_token")},
                at=at))
        elif event in _VIBER_RECEIPT:
            delivery.delivery_receipt("viber", str(data["message_token"]), _VIBER_RECEIPT[event],
                                     at=at or datetime.now(UTC), address=data["user_id"],
                                     reason=data.get("desc", ""))
        elif event == "message":
            services.note_inbound("viber", (data.get("sender") or {}).get("id", ""), at or datetime.now(UTC))
        else:
            log.info("viber event %r ignored", event)
    return OK
