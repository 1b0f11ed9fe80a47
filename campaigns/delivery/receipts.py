"""Receipts: the platform says, after we sent it, that a message was delivered, read,
failed, or held for the person (WhatsApp 131049: sent again later, never failed)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from channels.models import EarlyReceipt

from .. import fatigue
from ..models import Campaign, Delivery, SendList
from .states import S, sources_of

_ORDER = {S.DELIVERED: 0, S.READ: 1, S.HELD: 2, S.FAILED: 3}


def lock_message_ids(platform: str, message_ids: list[str]) -> None:
    """Serialise a receipt with the worker that records the same message: whichever comes
    second sees the other's commit (a receipt can beat the worker's commit by milliseconds)."""
    if connection.vendor != "postgresql" or not message_ids:
        return
    keys = sorted({int.from_bytes(hashlib.blake2b(f"{platform}:{m}".encode(), digest_size=8).digest(), "big",
                                  signed=True) for m in message_ids})
    with connection.cursor() as cursor:  # one round trip for a chunk's ids, taken in key order
        cursor.execute("SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT k FROM unnest(%s::bigint[]) AS k "
                       "ORDER BY k) AS ordered", [keys])


@transaction.atomic
def delivery_receipt(platform: str, message_id: str, status: str, *, at: datetime, address: str | None = None,
                     reason: str = "") -> int:
    """Move the ledger rows of one platform message to delivered / read / failed / held.

    A receipt for a message id the ledger does not have yet is kept and applied when the
    worker records it (`apply_early_receipts`)."""
    lock_message_ids(platform, [message_id])
    known = Delivery.objects.filter(platform=platform, platform_message_id=message_id)
    if address is not None:
        known = known.filter(subscription__address=address)
    if not known.exists():
        EarlyReceipt.objects.create(platform=platform, message_id=message_id, address=address or "",
                                    status=status, reason=reason, at=at)
        return 0
    rows = known.filter(status__in=sources_of(status))
    if status == S.HELD:
        return _hold(rows, reason=reason, at=at)
    fields: dict = {"status": status, "updated_at": timezone.now()}
    if status == S.DELIVERED:
        fields["delivered_at"] = at
    elif status == S.READ:
        fields["read_at"] = at
    else:
        fields["reason"] = reason or "the platform reported a failure after sending"
    updated = rows.update(**fields)
    if status == S.READ and updated:  # the fatigue guard: they read it, their count starts again
        fatigue.people_answered(known.values("subscriber_id"))
    if status == S.READ:
        known.filter(status=S.READ, delivered_at__isnull=True).update(delivered_at=at)
    return updated


def _hold(rows, *, reason: str, at: datetime) -> int:
    """The platform took the message, then held it for the person: the row waits and is
    sent again later (its list and campaign reopen), or is skipped past the deadline."""
    retry = at + timedelta(hours=settings.TACT_RECIPIENT_LIMIT_RETRY_HOURS)
    held = 0
    for row in rows.select_for_update().select_related("campaign"):
        campaign: Campaign = row.campaign
        if row.status == S.SENT:  # counted by the fatigue guard; the platform did not deliver it after all
            fatigue.people_not_reached([row.subscriber_id])
        row.platform_message_id, row.sent_at, row.updated_at = "", None, timezone.now()
        if campaign.status == Campaign.Status.CANCELLED or (campaign.expires_at and retry >= campaign.expires_at):
            row.status, row.reason = S.SKIPPED, f"{reason}; retry at {retry:%Y-%m-%d %H:%M} UTC would be too late"
        else:
            row.status, row.send_after = S.HELD, retry
            row.reason = f"{reason}; sent again after {retry:%Y-%m-%d %H:%M} UTC"
            send_list = SendList.objects.select_for_update().get(pk=row.send_list_id)
            send_list.next_due = min(send_list.next_due or retry, retry)
            if send_list.state == SendList.State.DONE:
                send_list.state = SendList.State.WAITING
            send_list.save(update_fields=["state", "next_due"])
            Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.COMPLETED).update(
                status=Campaign.Status.RUNNING, finished_at=None)
            held += 1
        row.save(update_fields=["status", "reason", "send_after", "sent_at", "platform_message_id", "updated_at"])
    return held


def apply_early_receipts(platform: str, message_ids: list[str]) -> int:
    """Receipts that came before their message was recorded, applied in their order.
    Call inside the transaction that records the messages, after `lock_message_ids`."""
    early = list(EarlyReceipt.objects.filter(platform=platform, message_id__in=message_ids))
    applied = 0
    for receipt in sorted(early, key=lambda r: (r.at, _ORDER.get(r.status, 9))):
        applied += delivery_receipt(platform, receipt.message_id, receipt.status, at=receipt.at,
                                    address=receipt.address or None, reason=receipt.reason)
    EarlyReceipt.objects.filter(pk__in=[r.pk for r in early]).delete()
    return applied
