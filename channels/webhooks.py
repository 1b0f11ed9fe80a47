"""Webhooks called by the platforms (API.md "Webhooks").

A bad or missing signature answers 403 and changes nothing. A genuine callback goes to
channels.pending.receive: handled and answered 200; or, when it cannot be handled now,
kept (PendingUpdate) and answered 200; or, when even keeping it fails, answered 503 so that
the platform sends it again. A payload that is not the platform's format is logged and
answered 200. A repeated callback changes nothing the second time. Nothing is sent to a
platform while a request is handled: replies go out from a Celery task after the commit.

Each sender account of its own has its paths, /webhooks/<platform>/<slug>/, verified with
that account's secret (Telegram's webhook_secret, WhatsApp's app_secret and verify_token,
Viber's auth_token); its callbacks change only that account's subscriptions, and the replies
go out from it. An unknown or inactive slug, or one of another platform, answers 404 and
changes nothing; the default paths (/webhooks/<platform>/) are the default account's, with
the environment's secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Iterator
from functools import partial

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from campaigns import delivery, services
from campaigns.credentials import CredentialsUnreadable
from campaigns.models import Delivery, SenderAccount, Subscription

from . import inbound, pending
from .inbound import Malformed, need
from .registry import default_credentials

log = logging.getLogger(__name__)


def _forbidden(platform: str, why: str) -> HttpResponse:
    log.warning("%s webhook refused: %s", platform, why)
    return HttpResponse(status=403)


def _hmac_hex(key: str, body: bytes) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def _account_of(platform: str, slug: str | None) -> tuple[SenderAccount | None, dict[str, str]] | HttpResponse:
    """(the account a path names, its credentials): the default account's (the environment's)
    without a slug; 404 for a slug that is no active account of this platform; 503 when its
    credentials cannot be decrypted (the key changed: the platform sends it again later)."""
    if slug is None:
        return None, default_credentials(platform)
    account = SenderAccount.objects.filter(platform=platform, slug=slug, active=True).first()
    if account is None:
        log.warning("%s webhook for an unknown or inactive account %r: 404", platform, slug[:50])
        return HttpResponse(status=404)
    try:
        return account, account.credentials
    except CredentialsUnreadable as exc:
        log.error("%s webhook of account %r not verified: %s", platform, slug, exc)
        return HttpResponse(status=503)


def _receive(platform: str, body: bytes, account: SenderAccount | None = None) -> HttpResponse:
    try:
        answer = pending.receive(platform, body, account)
    except pending.NotKept:
        return HttpResponse(status=503)  # neither handled nor kept: the platform retries
    return JsonResponse(answer) if answer is not None else HttpResponse(status=200)


def _string(container: dict, key: str) -> str:
    value = container.get(key)
    return value if isinstance(value, str) else ""


# --- Telegram -----------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["POST"])
def telegram(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    found = _account_of("telegram", slug)
    if isinstance(found, HttpResponse):
        return found
    account, credentials = found
    secret = credentials.get("webhook_secret") or ""
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        return _forbidden("telegram", "secret token missing or wrong")
    # Handled without a call to the Bot API, so also without TELEGRAM_BOT_TOKEN: a genuine
    # /stop is honoured whatever the configuration (replies then go to the sandbox outbox).
    return _receive("telegram", request.body, account)


# --- WhatsApp -----------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "POST"])
def whatsapp(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    found = _account_of("whatsapp", slug)
    if isinstance(found, HttpResponse):
        return found
    account, credentials = found
    if request.method == "GET":
        token = credentials.get("verify_token") or ""
        given = request.GET.get("hub.verify_token", "")
        if request.GET.get("hub.mode") == "subscribe" and token and hmac.compare_digest(given.encode(), token.encode()):
            return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")
        return _forbidden("whatsapp", "verification token missing or wrong")
    secret = credentials.get("app_secret") or ""
    given = request.headers.get("X-Hub-Signature-256", "")
    if not secret or not hmac.compare_digest(given.encode(), f"sha256={_hmac_hex(secret, request.body)}".encode()):
        return _forbidden("whatsapp", "X-Hub-Signature-256 missing or wrong")
    return _receive("whatsapp", request.body, account)


def whatsapp_handle(data: dict, account: SenderAccount | None = None) -> None:
    """One WhatsApp webhook body: its messages, statuses and preferences, each on its own,
    each for the number it names (metadata.phone_number_id) when that is one of ours, else
    for the account whose path it came to (None: the default number)."""
    pending.each_item("whatsapp", list(_whatsapp_items(data, account)))


def _whatsapp_numbers() -> dict[str, SenderAccount | None]:
    """Our WhatsApp numbers by phone_number_id: the default one's (None) and each active
    account's whose credentials can be read."""
    numbers: dict[str, SenderAccount | None] = {}
    for account in SenderAccount.objects.filter(platform="whatsapp", active=True).order_by("pk"):
        try:
            number = account.credentials.get("phone_number_id")
        except CredentialsUnreadable:
            continue
        if number:
            numbers.setdefault(number, account)
    if settings.WHATSAPP_PHONE_NUMBER_ID:
        numbers[settings.WHATSAPP_PHONE_NUMBER_ID] = None
    return numbers


def _whatsapp_account(value: dict, came_to: SenderAccount | None,
                      numbers: dict[str, SenderAccount | None] | None) -> tuple[SenderAccount | None, dict | None]:
    """Which of our numbers a change is about. Meta sends one app's webhooks for all its
    numbers to one URL (unless a number overrides it), naming the number in
    value.metadata.phone_number_id; a number we do not know: the path's account."""
    metadata = value.get("metadata")
    number = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
    if not isinstance(number, str) or not number:
        return came_to, numbers
    if numbers is None:
        numbers = _whatsapp_numbers()
    return (numbers[number] if number in numbers else came_to), numbers


def _broken(why: str) -> Callable[[], None]:
    def refuse() -> None:
        raise Malformed(why)

    return refuse


def _whatsapp_items(data: dict, came_to: SenderAccount | None) -> Iterator[tuple[str, Callable[[], None]]]:
    numbers: dict[str, SenderAccount | None] | None = None  # read once, when a change names its number
    entries = data.get("entry")
    if not isinstance(entries, list):
        raise Malformed(f"'entry' is not a list: {entries!r}")
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            yield "entry", _broken(f"an entry without a list of changes: {entry!r}")
            continue
        for change in changes:
            field = change.get("field") if isinstance(change, dict) else None
            if field not in ("messages", "user_preferences"):
                log.info("whatsapp webhook: field %r ignored", field)
                continue
            value = change.get("value")
            if not isinstance(value, dict):
                yield field, _broken(f"{field} without a value object: {value!r}")
                continue
            account, numbers = _whatsapp_account(value, came_to, numbers)
            listed = value.get("contacts")
            contacts = [c for c in listed if isinstance(c, dict)] if isinstance(listed, list) else []
            handlers = {"messages": partial(_whatsapp_message, contacts=contacts, account=account),
                        "statuses": partial(_whatsapp_status, account=account),
                        "user_preferences": partial(_whatsapp_preference, account=account)}
            for key in (("messages", "statuses") if field == "messages" else ("user_preferences",)):
                items = value.get(key, [])
                if not isinstance(items, list):
                    yield key, _broken(f"{key} is not a list: {items!r}")
                    continue
                for item in items:
                    yield key, partial(handlers[key], item)


def _address(wa_id: str) -> str:
    """WhatsApp's wa_id is the phone's digits without the plus; we store E.164."""
    return "+" + wa_id.lstrip("+")


def _message_text(message: dict) -> str:
    """What the person wrote or pressed: a text, a template's quick reply ("Stop
    promotions"), or an interactive button's title."""
    kind = message.get("type")
    part = message.get(kind) if kind in ("text", "button", "interactive") else None
    if not isinstance(part, dict):
        return ""
    if kind == "text":
        return _string(part, "body")
    if kind == "button":
        return _string(part, "text")
    reply = part.get("button_reply")
    return _string(reply, "title") if isinstance(reply, dict) else ""


def _whatsapp_message(message: object, contacts: list[dict], account: SenderAccount | None = None) -> None:
    message_id, wa_id = need(message, "id"), need(message, "from")
    at = inbound.moment(message.get("timestamp"))
    address = _address(wa_id)
    body = _message_text(message)
    profile = next((c.get("profile") for c in contacts if c.get("wa_id") == wa_id), None)
    name = _string(profile, "name") if isinstance(profile, dict) else ""
    word = inbound.keyword(body)
    with transaction.atomic():
        if not inbound.first_time("whatsapp", f"message:{message_id}", account):
            return
        services.note_inbound("whatsapp", address, at, account=account)
        evidence = {"message_id": message_id, "text": body}
        if word in inbound.STOP_WORDS:
            change = services.person_opt_out("whatsapp", address, account=account, consent=services.Consent(
                source="whatsapp_stop", text=body, evidence=evidence, at=at))
            if change.subscription is not None:
                language = "ru" if word in {"стоп", "отписаться", "отписка"} else change.language
                inbound.reply_later("whatsapp", address, inbound.text("wa_stopped", language), account)
        elif word in inbound.START_WORDS:
            change = services.person_opt_in("whatsapp", address, name=name, account=account, consent=services.Consent(
                source="whatsapp_start", evidence=evidence, at=at,
                text=inbound.consent_text("whatsapp", "ru" if word in {"старт", "подписаться"} else "en")))
            # a new subscription: its window opens too
            services.note_inbound("whatsapp", address, at, account=account)
            if change.opted_in:  # not a stale START that a later STOP overrides
                language = "ru" if word in {"старт", "подписаться"} else change.language
                inbound.reply_later("whatsapp", address, inbound.text("wa_started", language), account)


_WHATSAPP_STATUS = {"delivered": Delivery.Status.DELIVERED, "read": Delivery.Status.READ,
                    "failed": Delivery.Status.FAILED}
RECIPIENT_LIMITED = 131049  # Meta's per-person marketing limit: sent again later, never failed
STOPPED_MARKETING = 131050  # the person stopped marketing messages from us: an opt-out
UNDELIVERABLE = 131026  # a suppression (bounce), not a withdrawal of consent


def _code(error: dict) -> int | None:
    try:
        return int(error.get("code"))
    except (TypeError, ValueError):
        return None


def _whatsapp_status(status: object, account: SenderAccount | None = None) -> None:
    message_id, state = need(status, "id"), need(status, "status")
    at = inbound.moment(status.get("timestamp"))
    errors = status.get("errors", [])
    if not isinstance(errors, list):
        raise Malformed(f"errors is not a list: {errors!r}")
    errors = [e for e in errors if isinstance(e, dict)]
    codes = {_code(e) for e in errors}
    reason = "; ".join(f"WhatsApp {e.get('code')}: {e.get('title') or e.get('message', '')}" for e in errors)
    gone = state == "failed" and codes & {STOPPED_MARKETING, UNDELIVERABLE}
    address = _address(need(status, "recipient_id")) if gone else ""
    with transaction.atomic():
        if not inbound.first_time("whatsapp", f"status:{message_id}:{state}", account):
            return
        if state == "sent":
            return  # our ledger says sent when the API accepted the message
        if state not in _WHATSAPP_STATUS:
            log.info("whatsapp status %r ignored", state)
            return
        if state == "failed" and RECIPIENT_LIMITED in codes:
            delivery.delivery_receipt("whatsapp", message_id, Delivery.Status.HELD, at=at, reason=reason)
            return
        delivery.delivery_receipt("whatsapp", message_id, _WHATSAPP_STATUS[state], at=at, reason=reason)
        if gone and STOPPED_MARKETING in codes:
            services.person_opt_out("whatsapp", address, account=account, consent=services.Consent(
                source="whatsapp_131050", text=reason, evidence={"status": status}, at=at))
        elif gone:
            services.person_opt_out("whatsapp", address, account=account, status=Subscription.Status.UNREACHABLE,
                                    consent=services.Consent(source="whatsapp_undeliverable", text=reason,
                                                             evidence={"status": status}, at=at))


def _whatsapp_preference(preference: object, account: SenderAccount | None = None) -> None:
    """"Stop promotions" pressed in WhatsApp: no more marketing messages."""
    wa_id = need(preference, "wa_id")
    at = inbound.moment(preference.get("timestamp"))
    value = preference.get("value")
    key = f"preference:{wa_id}:{preference.get('timestamp')}:{value}"
    with transaction.atomic():
        if not inbound.first_time("whatsapp", key, account):
            return
        if value == "stop":
            services.person_opt_out("whatsapp", _address(wa_id), account=account, consent=services.Consent(
                source="whatsapp_stop_promotions", text=_string(preference, "detail") or "Stop promotions",
                evidence=preference, at=at))
        else:
            log.info("whatsapp user preference %r noted; a new opt-in needs START", value)


# --- Viber --------------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["POST"])
def viber(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    found = _account_of("viber", slug)
    if isinstance(found, HttpResponse):
        return found
    account, credentials = found
    token = credentials.get("auth_token") or ""
    given = request.headers.get("X-Viber-Content-Signature", "")
    if not token or not hmac.compare_digest(given.encode(), _hmac_hex(token, request.body).encode()):
        return _forbidden("viber", "X-Viber-Content-Signature missing or wrong")
    return _receive("viber", request.body, account)


_VIBER_RECEIPT = {"delivered": Delivery.Status.DELIVERED, "seen": Delivery.Status.READ,
                  "failed": Delivery.Status.FAILED}


def _viber_sender_name(account: SenderAccount | None) -> str:
    """The name the bot writes under: the account's own, else VIBER_SENDER_NAME."""
    try:
        name = account.credentials.get("sender_name") if account is not None else ""
    except CredentialsUnreadable:
        name = ""
    return name or settings.VIBER_SENDER_NAME


def viber_handle(data: dict, account: SenderAccount | None = None) -> dict | None:
    """One Viber callback to `account` (None: the default bot); the answer to
    `conversation_started` is the bot's first message."""
    event = data.get("event")
    if event == "conversation_started":
        # Viber shows the answer to this callback as the bot's first message: ask for consent.
        user = data.get("user") if isinstance(data.get("user"), dict) else {}
        return {"sender": {"name": _viber_sender_name(account)}, "type": "text",
                "text": inbound.consent_text("viber", _string(user, "language"))}
    at = inbound.moment(data.get("timestamp"), per_second=1000)
    if event == "subscribed":
        user = need(data, "user", dict)
        user_id = need(user, "id")
    elif event == "message":
        user_id = need(need(data, "sender", dict), "id")
    elif event == "unsubscribed":
        user_id = need(data, "user_id")
    elif event in _VIBER_RECEIPT:
        user_id = need(data, "user_id")
        message_id = str(need(data, "message_token", (int, str)))
    else:
        log.info("viber event %r ignored", event)
        return None
    token = data.get("message_token")
    with transaction.atomic():
        if not inbound.first_time("viber", f"{event}:{token}:{user_id}", account):
            return None
        if event == "subscribed":
            services.person_opt_in("viber", user_id, name=_string(user, "name"), account=account,
                                   language=_string(user, "language") or None, consent=services.Consent(
                                       source="viber_subscribed",
                                       text=inbound.consent_text("viber", _string(user, "language")),
                                       evidence={"user": user}, at=at))
        elif event == "unsubscribed":
            services.person_opt_out("viber", user_id, account=account, consent=services.Consent(
                source="viber_unsubscribed", text="unsubscribed", evidence={"message_token": token}, at=at))
        elif event == "message":
            services.note_inbound("viber", user_id, at, account=account)
        else:
            delivery.delivery_receipt("viber", message_id, _VIBER_RECEIPT[event], at=at, address=user_id,
                                      reason=_string(data, "desc"))
    return None
