"""What subscribers tell us through the platforms: opt-ins, opt-outs, receipts.

Every handler runs in one transaction that first records the callback's key
(InboundEvent), so a repeated callback changes nothing the second time.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from campaigns import rules, services
from campaigns.models import Delivery, Subscriber, Subscription

from .models import EarlyReceipt, InboundEvent

log = logging.getLogger(__name__)

TEXTS = {
    "welcome": {
        "en": "You are subscribed to our offers. Send /stop at any time to unsubscribe.",
        "ru": "Вы подписались на наши предложения. Чтобы отписаться, отправьте /stop в любой момент.",
    },
    "already": {
        "en": "You are already subscribed. Send /stop to unsubscribe.",
        "ru": "Вы уже подписаны. Чтобы отписаться, отправьте /stop.",
    },
    "stopped": {
        "en": "You are unsubscribed and will get no more messages from us. Send /start to subscribe again.",
        "ru": "Вы отписались и больше не будете получать от нас сообщений. Чтобы подписаться снова, отправьте /start.",
    },
    "help": {
        "en": "We send offers to people who asked for them. /start subscribes, /stop unsubscribes.",
        "ru": "Мы присылаем предложения тем, кто на них подписался. /start — подписаться, /stop — отписаться.",
    },
    "wa_stopped": {
        "en": "You are unsubscribed and will get no more offers. Reply START to subscribe again.",
        "ru": "Вы отписались и больше не будете получать предложения. Чтобы подписаться снова, ответьте СТАРТ.",
    },
    "wa_started": {
        "en": "You are subscribed to our offers. Reply STOP at any time to unsubscribe.",
        "ru": "Вы подписались на наши предложения. Чтобы отписаться, ответьте СТОП в любой момент.",
    },
    "viber_welcome": {
        "en": "Welcome! Press Subscribe to get our offers. You can unsubscribe at any time.",
        "ru": "Добро пожаловать! Нажмите «Подписаться», чтобы получать наши предложения. Отписаться можно в любой момент.",
    },
}
# The wording a person agrees to when they subscribe through a platform: kept as proof.
CONSENT_TEXT = {
    "telegram": "Pressed Start in the bot: 'You are subscribed to our offers. Send /stop at any time to unsubscribe.'",
    "whatsapp": "Wrote START to our WhatsApp number: 'Reply STOP at any time to unsubscribe.'",
    "viber": "Pressed Subscribe in our Viber bot after: 'Press Subscribe to get our offers.'",
}


def language_of(code: str | None) -> str:
    return "ru" if (code or "").lower().startswith(("ru", "uk", "be", "kk")) else "en"


def text(key: str, language: str | None) -> str:
    return TEXTS[key][language_of(language)]


STOP_WORDS = {"stop", "стоп", "отписаться", "unsubscribe", "stop promotions", "отписка"}
START_WORDS = {"start", "старт", "подписаться", "subscribe"}
_NOT_WORD = re.compile(r"[^\w\s]+")


def keyword(body: str) -> str:
    """An inbound text reduced to its command: case, spaces and punctuation dropped."""
    return " ".join(_NOT_WORD.sub(" ", body.casefold()).split())


@dataclass(frozen=True)
class Change:
    subscription: Subscription | None
    changed: bool
    language: str = "en"


def first_time(platform: str, key: str) -> bool:
    """Record this callback; False when it was handled before. Call inside the transaction
    that handles it, so a failure un-records it and the platform's retry is handled."""
    try:
        with transaction.atomic():
            InboundEvent.objects.create(platform=platform, key=key[:200])
    except IntegrityError:
        return False
    return True


def subscribe(
    platform: str, address: str, *, name: str = "", language: str | None = None, source: str,
    evidence: dict, at: datetime | None = None, saved_our_number: bool = False,
) -> Change:
    """Opt a person in because they asked, creating them if they are new."""
    now = at or timezone.now()
    consent = services.Consent(source=source, text=CONSENT_TEXT[platform], at=now, evidence=evidence)
    subscription = Subscription.objects.filter(platform=platform, address=address).select_related("subscriber").first()
    if subscription is None:
        try:
            lang = rules.normalize_language(language or "en")
        except ValueError:
            lang = "en"
        subscriber = Subscriber.objects.create(name=name[:200], language=lang, timezone=settings.TIME_ZONE)
        subscription = services.subscription_add(
            subscriber=subscriber, platform=platform, address=address, consent=consent,
            saved_our_number=saved_our_number,
        )
        return Change(subscription, True, lang)
    try:
        event = services.subscription_opt_in(subscription=subscription, consent=consent)
    except services.ServiceError as exc:
        # A callback older than the person's later "stop" (platforms deliver out of order
        # and retry for hours) never overrides it.
        log.info("%s opt-in of %s not applied: %s", platform, address, exc)
        event = None
    subscription.refresh_from_db()
    return Change(subscription, event is not None, subscription.subscriber.language)


def unsubscribe(platform: str, address: str, *, source: str, evidence: dict, wording: str = "",
                status: str = Subscription.Status.OPTED_OUT, at: datetime | None = None) -> Change:
    """Opt a person out at once; queued messages to them are skipped in the same commit."""
    subscription, changed = services.opt_out_address(
        platform=platform, address=address, status=status,
        consent=services.Consent(source=source, text=wording, at=at or timezone.now(), evidence=evidence),
    )
    if subscription is None:
        log.info("%s opt-out from unknown address %s ignored", platform, address)
        return Change(None, False)
    return Change(subscription, changed, subscription.subscriber.language)


def note_inbound(platform: str, address: str, at: datetime) -> None:
    """The person wrote to us: WhatsApp's 24-hour window opens."""
    Subscription.objects.filter(platform=platform, address=address).filter(
        Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=at)
    ).update(last_inbound_at=at)


# Receipts only move a row forward: sent -> delivered -> read; a late "delivered" after
# "read" changes nothing.
_FORWARD = {
    Delivery.Status.DELIVERED: [Delivery.Status.SENT, Delivery.Status.UNCERTAIN],
    Delivery.Status.READ: [Delivery.Status.SENT, Delivery.Status.DELIVERED, Delivery.Status.UNCERTAIN],
    Delivery.Status.FAILED: [Delivery.Status.SENT, Delivery.Status.UNCERTAIN],
}


def delivery_receipt(platform: str, message_id: str, status: str, *, at: datetime, address: str | None = None,
                     reason: str = "") -> int:
    """Move the ledger rows of one platform message to delivered / read / failed.

    A receipt for a message id the ledger does not have yet is kept and applied when the
    worker records it (`apply_early_receipts`)."""
    known = Delivery.objects.filter(platform=platform, platform_message_id=message_id)
    if address is not None:
        known = known.filter(subscription__address=address)
    if not known.exists():
        EarlyReceipt.objects.create(platform=platform, message_id=message_id, address=address or "",
                                    status=status, reason=reason, at=at)
        return 0
    rows = known.filter(status__in=_FORWARD[status])
    fields: dict = {"status": status, "updated_at": timezone.now()}
    if status == Delivery.Status.DELIVERED:
        fields["delivered_at"] = at
    elif status == Delivery.Status.READ:
        fields["read_at"] = at
    else:
        fields["reason"] = reason or "the platform reported a failure after sending"
    updated = rows.update(**fields)
    if status == Delivery.Status.READ:
        Delivery.objects.filter(platform=platform, platform_message_id=message_id, status=Delivery.Status.READ,
                                delivered_at__isnull=True).update(delivered_at=at)
    return updated


_ORDER = {Delivery.Status.DELIVERED: 0, Delivery.Status.READ: 1, Delivery.Status.FAILED: 2}


def apply_early_receipts(platform: str, message_ids: list[str]) -> int:
    """Receipts that came before their message was recorded, applied in their order."""
    early = list(EarlyReceipt.objects.filter(platform=platform, message_id__in=message_ids))
    applied = 0
    for receipt in sorted(early, key=lambda r: (r.at, _ORDER.get(r.status, 9))):
        applied += delivery_receipt(platform, receipt.message_id, receipt.status, at=receipt.at,
                                    address=receipt.address or None, reason=receipt.reason)
    EarlyReceipt.objects.filter(pk__in=[r.pk for r in early]).delete()
    return applied
