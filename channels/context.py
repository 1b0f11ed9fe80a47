"""Every admin page knows which platforms send live and which go to the sandbox."""

from django.http import HttpRequest

from channels.limits import PLATFORMS

from .registry import missing_credentials

# Brand names, written as each platform writes its own (not "Whatsapp").
NAMES = {"telegram": "Telegram", "whatsapp": "WhatsApp", "viber": "Viber"}


def channel_status(request: HttpRequest) -> dict:
    if not request.path.startswith("/admin"):
        return {}
    return {"tact_channels": [{"platform": p, "name": NAMES.get(p, p.capitalize()), "missing": missing_credentials(p)} for p in PLATFORMS]}
