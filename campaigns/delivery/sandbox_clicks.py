"""The sandbox's clicks: on a platform without credentials, a share of the people whose message
has tracked links "click" one a few seconds after it was sent (channels.sandbox.sandbox_click
decides who, which link and when), through the same service as the /r/ redirect.

Safe to run as often as wanted: a delivery already clicked is not looked at again, and a
click is counted once per delivery and link."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.conf import settings

from channels.limits import PLATFORMS
from channels.models import OutboxMessage
from channels.registry import missing_credentials
from channels.sandbox import sandbox_click

from ..models import Delivery
from ..services.clicks import link_click
from .states import S

# Every sandbox click is due within 15 s of sending; messages older than this are left as they are.
WINDOW = timedelta(minutes=5)


def _tokens(buttons: list[dict], text: str) -> list[str]:
    """The tracked-link tokens of a message, as its reader meets them: buttons, then the text."""
    found = re.compile(re.escape(f"{settings.TACT_PUBLIC_URL}/r/") + r"([A-Za-z0-9_-]+)")
    tokens = [m.group(1) for b in buttons or [] if isinstance(b, dict) for m in found.finditer(str(b.get("url", "")))]
    return tokens + found.findall(text or "")


def sandbox_clicks_apply(*, now: datetime) -> int:
    """Record the sandbox clicks due by `now` on the platforms that run in the sandbox (never
    on a platform with credentials); the number of clicks recorded."""
    platforms = [p for p in PLATFORMS if missing_credentials(p)]
    if not platforms:
        return 0
    recent = Delivery.objects.filter(
        platform__in=platforms, status__in=(S.SENT, S.DELIVERED, S.READ), clicked_at__isnull=True,
        sent_at__gte=now - WINDOW, platform_message_id__startswith="sandbox-",
    ).values_list("pk", "platform_message_id")
    message_ids = dict(recent)
    clicked = 0
    for delivery_id, buttons, text, sent in (
        OutboxMessage.objects.filter(delivery_id__in=list(message_ids))
        .values_list("delivery_id", "buttons", "text", "created_at").iterator()
    ):
        tokens = _tokens(buttons, text)
        due = sandbox_click(message_ids[delivery_id], len(tokens))
        if due is None or sent + due.after > now:
            continue
        if link_click(token=tokens[due.link], at=sent + due.after) is not None:
            clicked += 1
    return clicked
