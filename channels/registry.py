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
    return SandboxChannel(platform)


def is_sandbox(platform: str) -> bool:
    return channel_for(platform).sandbox
