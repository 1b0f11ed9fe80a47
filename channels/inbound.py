"""What people write to our bots, as words: replies in their language, stop and start
keywords, the consent wording shown; and the record of callbacks already handled.

Every webhook handler runs in one transaction that first records the callback's key
(InboundEvent), so a repeated callback changes nothing the second time. What a callback
means for consent and the ledger is decided in campaigns.services and campaigns.delivery.
"""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction

from .models import InboundEvent

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


def first_time(platform: str, key: str) -> bool:
    """Record this callback; False when it was handled before. Call inside the transaction
    that handles it, so a failure un-records it and the platform's retry is handled."""
    try:
        with transaction.atomic():
            InboundEvent.objects.create(platform=platform, key=key[:200])
    except IntegrityError:
        return False
    return True
