"""Which adapter serves each platform: the real one when its credentials are set."""

from __future__ import annotations

from django.conf import settings

from .base import Channel
from .sandbox import SandboxChannel


def channel_for(platform: str, *, max_in_flight: int = 100, credentials: dict[str, str] | None = None) -> Channel:
    """The platform's adapter: with `credentials` (a sender account's, decrypted) those;
    without, the environment's (the default account); the sandbox when there are none."""
    if credentials is None:
        credentials = default_credentials(platform)
    api_url = credentials.get("api_url") or {
        "telegram": settings.TELEGRAM_API_URL, "whatsapp": settings.WHATSAPP_API_URL, "viber": settings.VIBER_API_URL,
    }[platform]
    if platform == "telegram" and credentials.get("token"):
        from .telegram import TelegramChannel

        if not api_url.endswith("/bot"):
            api_url = api_url.rstrip("/") + "/bot"
        return TelegramChannel(
            credentials["token"], api_url, max_in_flight=max_in_flight, timeout=settings.TACT_SEND_TIMEOUT,
        )
    if platform == "whatsapp" and credentials.get("access_token") and credentials.get("phone_number_id"):
        from .whatsapp import WhatsAppChannel

        return WhatsAppChannel(
            credentials["access_token"], api_url, credentials["phone_number_id"],
            max_in_flight=max_in_flight, timeout=settings.TACT_SEND_TIMEOUT,
            marketing_messages=settings.WHATSAPP_MARKETING_MESSAGES,
        )
    if platform == "viber" and credentials.get("auth_token"):
        from .viber import ViberChannel

        return ViberChannel(credentials["auth_token"], api_url, credentials.get("sender_name") or settings.VIBER_SENDER_NAME,
                            timeout=settings.TACT_SEND_TIMEOUT)
    return SandboxChannel(platform)


def default_credentials(platform: str) -> dict[str, str]:
    """The default account's credentials: the environment variables."""
    return {
        "telegram": {"token": settings.TELEGRAM_BOT_TOKEN, "webhook_secret": settings.TELEGRAM_WEBHOOK_SECRET},
        "whatsapp": {"access_token": settings.WHATSAPP_ACCESS_TOKEN, "phone_number_id": settings.WHATSAPP_PHONE_NUMBER_ID,
                     "app_secret": settings.WHATSAPP_APP_SECRET, "verify_token": settings.WHATSAPP_VERIFY_TOKEN},
        "viber": {"auth_token": settings.VIBER_AUTH_TOKEN, "sender_name": settings.VIBER_SENDER_NAME},
    }[platform]


def missing_credentials(platform: str) -> str:
    """The settings a platform lacks to send live ("" when it has them)."""
    needed = {
        "telegram": ["TELEGRAM_BOT_TOKEN"],
        "whatsapp": ["WHATSAPP_ACCESS_TOKEN", "WHATSAPP_PHONE_NUMBER_ID"],
        "viber": ["VIBER_AUTH_TOKEN"],
    }[platform]
    return ", ".join(name for name in needed if not getattr(settings, name))
