"""The sandbox's receipts: a platform without credentials reports its messages delivered and
read a few seconds after "sending" them (channels.sandbox.sandbox_receipts decides which and
when, from the message id), through the same receipts service as the platforms' webhooks.

Safe to run as often as wanted: receipts only move a row forward, and a row already where its
receipts put it is not touched again."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import OuterRef, Subquery

from channels.models import OutboxMessage
from channels.registry import missing_credentials
from channels.sandbox import RECEIPT_PLATFORMS, sandbox_receipts

from ..models import Delivery
from .receipts import delivery_receipt
from .states import S

# Every sandbox receipt is due within 10 s of sending; messages older than this are left as they are.
WINDOW = timedelta(minutes=5)


def sandbox_receipts_apply(*, now: datetime) -> int:
    """Apply the sandbox receipts due by `now` on the platforms that run in the sandbox (never
    on a platform with credentials); the number of rows moved."""
    platforms = [p for p in RECEIPT_PLATFORMS if missing_credentials(p)]
    if not platforms:
        return 0
    sent_into_outbox = OutboxMessage.objects.filter(delivery_id=OuterRef("pk")).values("created_at")[:1]
    rows = (
        Delivery.objects.filter(platform__in=platforms, status__in=(S.SENT, S.DELIVERED),
                                sent_at__gte=now - WINDOW, platform_message_id__startswith="sandbox-")
        .annotate(outbox_at=Subquery(sent_into_outbox))
        .filter(outbox_at__isnull=False)
        .values_list("platform", "platform_message_id", "status", "outbox_at")
    )
    moved = 0
    for platform, message_id, status, sent in rows.iterator():
        due = sandbox_receipts(message_id)
        if status == S.SENT and due.delivered_after is not None and sent + due.delivered_after <= now:
            moved += delivery_receipt(platform, message_id, S.DELIVERED, at=sent + due.delivered_after)
        if due.read_after is not None and sent + due.read_after <= now:
            moved += delivery_receipt(platform, message_id, S.READ, at=sent + due.read_after)
    return moved
