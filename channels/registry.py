"""Which adapter serves each platform: the real one when its credentials are set."""

from __future__ import annotations

from django.conf import settings

from .base import Channel
from .sandbox import SandboxChannel


def channel_for(platform: str, *, max_in_flight: int = 100) -> Channel:
    if platform == "telegram" and settings.TELEGRAM_BOT_TOKEN:
        from .telegram import TelegramChannel

        return TelegramChannel(
            settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_API_URL,
            max_in_flight=max_in_flight, timeout=settings.TACT_SEND_TIMEOUT,
        )
    if platform == "whatsapp" and settings.WHATSAPP_ACCESS_TOKEN and settings.WHATSAPP_PHONE_NUMBER_ID:
        from .whatsapp import WhatsAppChannel

        return WhatsAppChannel(
            settings.WHATSAPP_ACCESS_TOKEN, settings.WHATSAPP_API_URL, settings.WHATSAPP_PHONE_NUMBER_ID,
            max_in_flight=max_in_flight, timeout=settings.TACT_SEND_TIMEOUT,
            marketing_messages=settings.WHATSAPP_MARKETING_MESSAGES,
        )
    if platform == "viber" and settings.VIBER_AUTH_TOKEN:
        from .viber import ViberChannel

        return ViberChannel(settings.VIBER_AUTH_TOKEN, settings.VIBER_API_URL, settings.VIBER_SENDER_NAME,
                            timeout=settings.TACT_SEND_TIMEOUT)
    return SandboxChannel(platform)


def missing_credentials(platform: str) -> str:
    """The settings a platform lacks to send live ("" when it has them)."""
    needed = {
        "telegram": ["TELEGRAM_BOT_TOKEN"],
        "whatsapp": ["WHATSAPP_ACCESS_TOKEN", "WHATSAPP_PHONE_NUMBER_ID"],
        "viber": ["VIBER_AUTH_TOKEN"],
    }[platform]
    return ", ".join(name for name in needed if not getattr(settings, name))
