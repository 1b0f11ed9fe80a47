"""Send one list chunk by chunk: claim (consent, expiry, caps), call the platform, record."""

from __future__ import annotations

import logging
import math
import time as systime
from collections import defaultdict
from contextlib import nullcontext
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, Min, OuterRef
from django.utils import timezone

from channels.base import OutboundMessage, Outcome, RateLimited, RecipientGone, TemporaryFailure, Uncertain
from channels.ratelimit import limiter_from_settings
from channels.registry import channel_for

from .. import rules, services
from ..models import Campaign, Delivery, SendList, Subscriber, Subscription
from .common import COUNTED, PENDING, WHATSAPP_WINDOW, S, current_policy, zone
from .receipts import apply_early_receipts

log = logging.getLogger(__name__)

def chunk_size(rate: float | None) -> int:
    """Messages in flight at once: a fifth of a second's worth at the ceiling."""
    if rate is None:
        return settings.TACT_MAX_IN_FLIGHT
    return max(1, min(settings.TACT_MAX_IN_FLIGHT, math.floor(rate * 0.2)))


def list_send(*, list_id: int) -> dict[str, int]:
    """Send what is due in one list, chunk by chunk, until nothing due is left.

    Idempotent: only `planned`/`held` rows that are due are claimed, under SKIP LOCKED,
    so a second task on the same list (a redelivery, the sweeper) takes other rows or none.
    """
    send_list = SendList.objects.select_related("campaign").get(pk=list_id)
    counts: dict[str, int] = defaultdict(int)
    if send_list.state == SendList.State.DONE:
        return counts
    campaign = send_list.campaign
    channel = channel_for(send_list.platform, max_in_flight=settings.TACT_MAX_IN_FLIGHT)
    rate = None if channel.sandbox else settings.TACT_RATE.get(send_list.platform)
    # The ceiling counts requests; one request carries `per_request` messages (Viber: 300).
    size = min(chunk_size(rate) * channel.per_request, send_list.size)
    units = math.ceil(size / channel.per_request)
    limiter = limiter_from_settings() if rate else None
    limiter_key = f"tact:rate:{send_list.platform}"
    policy, quiet = current_policy()
    session = None
    try:
        while Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.RUNNING).exists():
            SendList.objects.filter(pk=list_id).update(heartbeat_at=timezone.now())
            if not Delivery.objects.filter(send_list_id=list_id, status__in=PENDING,
                                           send_after__lte=timezone.now()).exists():
                break
            if session is None:
                try:
                    session = channel.open()
                except Exception as exc:  # the platform is down or refuses our credentials
                    _platform_unavailable(list_id, f"cannot connect to {send_list.platform}: {exc!r}")
                    return counts
            slot = _reserve(limiter, limiter_key, units, rate)
            claimed, batch = _claim(send_list, campaign, size, policy, quiet, counts)
            if not claimed:
                break  # what is due is being handled by another task
            if not batch:
                continue
            if limiter is not None and systime.monotonic() - slot > LATE_SEND:
                # The claim took long: sending now could bunch with the next slot's
                # burst; take a fresh slot (the old one is simply left unused).
                _reserve(limiter, limiter_key, math.ceil(len(batch) / channel.per_request), rate)
            outcomes = _send_locked(session, batch, counts)
            retry_after = _record(outcomes, send_list.platform, counts)
            if retry_after and limiter is not None:
                limiter.block(limiter_key, retry_after)
    finally:
        if session is not None:
            session.close()
        list_settle(list_id=list_id)
    return counts


# A burst leaves at most this long after its reserved slot; the limiter's 1.05 s window
# keeps the rest of the 50 ms slack for the network.
LATE_SEND = 0.025


def _reserve(limiter, key: str, n: int, rate: float | None) -> float:
    """Wait for a slot to send n at once; returns the slot's time (monotonic)."""
    if limiter is None:
        return systime.monotonic()
    wait = limiter.reserve(key, n, rate)
    if wait > 0:
        systime.sleep(wait)
    return systime.monotonic()


def _claim(send_list: SendList, campaign: Campaign, size: int, policy: rules.FrequencyPolicy,
           quiet: rules.QuietHours | None, counts: dict[str, int]) -> tuple[int, list[OutboundMessage]]:
    """Take up to `size` due rows, apply consent, expiry, quiet hours and the caps, and
    commit the sendable ones as `sending` (the platform call comes after this commit)."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(send_list_id=send_list.pk, status__in=PENDING, send_after__lte=now)
            .select_related("subscription", "subscriber")
            .order_by("pk")[:size]
        )
        if not rows:
            return 0, []
        # The cap holds across campaigns and workers: whoever checks a person's cap
        # holds that person's row lock until its `sending` rows are committed.
        people = sorted({r.subscriber_id for r in rows})
        list(Subscriber.objects.select_for_update().filter(pk__in=people).order_by("pk").values_list("pk"))
        past: dict[int, list[datetime]] = defaultdict(list)
        for subscriber_id, sent_at in Delivery.objects.filter(
            subscriber_id__in=people, status__in=COUNTED, sent_at__gte=now - rules.WEEK - timedelta(days=1)
        ).values_list("subscriber_id", "sent_at"):
            past[subscriber_id].append(sent_at)
        sendable: list[Delivery] = []
        changed: list[Delivery] = []
        for row in rows:
            row.updated_at = now  # bulk_update does not touch auto_now fields
            tz = zone(row.subscriber.timezone)
            if row.subscription.status != Subscription.Status.OPTED_IN:
                row.status, row.reason = S.SKIPPED, f"subscription {row.subscription.status}"
            elif campaign.expires_at is not None and now >= campaign.expires_at:
                row.status, row.reason = S.SKIPPED, "expired before it could be sent"
            else:
                decision = rules.frequency_check(past[row.subscriber_id], policy, now, tz)
                earliest = rules.out_of_quiet_hours(decision.earliest, tz, quiet)
                if earliest == now:
                    row.status, row.reason, row.sent_at = S.SENDING, "", now
                    sendable.append(row)
                    past[row.subscriber_id].append(now)
                    continue
                reason = decision.reason or rules.QUIET_HOURS
                if campaign.expires_at is not None and earliest >= campaign.expires_at:
                    row.status, row.reason = S.SKIPPED, f"{reason} until {earliest:%Y-%m-%d %H:%M} UTC, after expiry"
                else:
                    row.status, row.send_after = S.HELD, earliest
                    row.reason = f"{reason} until {earliest:%Y-%m-%d %H:%M} UTC"
            counts[row.status] += 1
            changed.append(row)
        Delivery.objects.bulk_update(sendable + changed, ["status", "reason", "sent_at", "send_after", "updated_at"])
    window_start = now - WHATSAPP_WINDOW
    return len(rows), [
        OutboundMessage(
            delivery_id=r.pk, address=r.subscription.address, text=campaign.content_body,
            buttons=campaign.content_buttons, template=campaign.content_whatsapp_template,
            window_open=r.subscription.last_inbound_at is not None and r.subscription.last_inbound_at >= window_start,
        )
        for r in sendable
    ]


def _send_locked(session, batch: list[OutboundMessage], counts: dict[str, int]) -> list[Outcome]:
    """Call the platform while holding the people's subscriptions share-locked: an opt-out
    (which takes that row FOR UPDATE) commits either before we look, and the message is
    skipped, or after the call returned."""
    # On SQLite (the demo) a transaction is the database's only write lock: holding it
    # through the platform call would stall every other writer, so we only look.
    locking = connection.vendor == "postgresql"
    with transaction.atomic() if locking else nullcontext():
        ids = [m.delivery_id for m in batch]
        if locking:
            still_in = _share_locked_opted_in(ids)
        else:
            still_in = set(
                Delivery.objects.filter(pk__in=ids, subscription__status=Subscription.Status.OPTED_IN)
                .values_list("pk", flat=True)
            )
        gone = [i for i in ids if i not in still_in]
        if gone:
            Delivery.objects.filter(pk__in=gone, status=S.SENDING).update(
                status=S.SKIPPED, reason="opted out just before sending", updated_at=timezone.now()
            )
            counts[S.SKIPPED] += len(gone)
        to_send = [m for m in batch if m.delivery_id in still_in]
        return session.send(to_send) if to_send else []


def _share_locked_opted_in(delivery_ids: list[int]) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT d.id FROM campaigns_delivery d JOIN campaigns_subscription s ON s.id = d.subscription_id "
            "WHERE d.id = ANY(%s) AND s.status = 'opted_in' FOR SHARE OF s",
            [delivery_ids],
        )
        return {row[0] for row in cursor.fetchall()}


def _record(outcomes: list[Outcome], platform: str, counts: dict[str, int]) -> float:
    """Commit each outcome; returns the longest retry_after the platform asked for."""
    now = timezone.now()
    retry_after = 0.0
    rows = {d.pk: d for d in Delivery.objects.filter(pk__in=[o.delivery_id for o in outcomes]).select_related("subscription")}
    changed: list[Delivery] = []
    gone: list[tuple[Subscription, RecipientGone]] = []
    for outcome in outcomes:
        row = rows[outcome.delivery_id]
        row.updated_at = now
        error = outcome.error
        if error is None:
            row.status, row.reason, row.platform_message_id = S.SENT, "", outcome.platform_message_id
        elif isinstance(error, RateLimited):
            # Not sent: back in line, after the platform's pause. Not an attempt.
            if not error.per_recipient:
                retry_after = max(retry_after, error.retry_after)
            row.status, row.sent_at = S.PLANNED, None
            row.send_after = now + timedelta(seconds=error.retry_after)
            row.reason = f"rate limited: {error.reason}"
        elif isinstance(error, TemporaryFailure):
            row.attempts += 1
            row.sent_at = None
            if row.attempts >= settings.TACT_MAX_ATTEMPTS:
                row.status, row.reason = S.FAILED, f"gave up after {row.attempts} attempts: {error.reason}"
            else:
                row.status, row.reason = S.PLANNED, f"retrying ({row.attempts}): {error.reason}"
                row.send_after = now + timedelta(seconds=settings.TACT_RETRY_BACKOFF_SECONDS * 2 ** (row.attempts - 1))
        elif isinstance(error, RecipientGone):
            row.status, row.reason = S.FAILED, error.reason
            gone.append((row.subscription, error))
        elif isinstance(error, Uncertain):
            row.status, row.reason = S.UNCERTAIN, error.reason
        else:  # PermanentFailure and anything else of ours
            row.status, row.reason = S.FAILED, error.reason
        counts[row.status] += 1
        changed.append(row)
    with transaction.atomic():
        # Only rows still `sending` (or already judged `uncertain` by a hasty sweeper) are
        # ours to settle.
        mine = set(
            Delivery.objects.filter(pk__in=[r.pk for r in changed], status__in=[S.SENDING, S.UNCERTAIN])
            .select_for_update().values_list("pk", flat=True)
        )
        Delivery.objects.bulk_update(
            [r for r in changed if r.pk in mine],
            ["status", "reason", "platform_message_id", "sent_at", "send_after", "attempts", "updated_at"],
        )
    sent_ids = sorted({r.platform_message_id for r in changed if r.status == S.SENT and r.pk in mine})
    if sent_ids:
        apply_early_receipts(platform, sent_ids)
    for subscription, error in gone:
        services.subscription_opt_out(
            subscription=subscription,
            status=error.status,
            consent=services.Consent(source=f"{platform}:delivery", text=error.reason, evidence={"error": error.reason}),
        )
    return retry_after


PLATFORM_RETRY = timedelta(seconds=30)


def _platform_unavailable(list_id: int, reason: str) -> None:
    """Say in the ledger why nothing moves, and try the list again in a while."""
    log.error("list %s: %s", list_id, reason)
    Delivery.objects.filter(send_list_id=list_id, status__in=PENDING).update(
        reason=reason[:500], send_after=timezone.now() + PLATFORM_RETRY, updated_at=timezone.now()
    )


def list_settle(*, list_id: int) -> None:
    """After a task: the list waits for its next due row, or is done; so may the campaign be."""
    with transaction.atomic():
        send_list = SendList.objects.select_for_update().get(pk=list_id)
        next_due = Delivery.objects.filter(send_list_id=list_id, status__in=PENDING).aggregate(t=Min("send_after"))["t"]
        if next_due is None:
            still_sending = Delivery.objects.filter(send_list_id=list_id, status=S.SENDING).exists()
            send_list.state = SendList.State.QUEUED if still_sending else SendList.State.DONE
        else:
            send_list.state = SendList.State.WAITING
        send_list.next_due = next_due
        send_list.save(update_fields=["state", "next_due"])
        campaign_id = send_list.campaign_id
    campaign_complete_if_done(campaign_id=campaign_id)


def campaign_complete_if_done(*, campaign_id: int) -> bool:
    unfinished = SendList.objects.filter(campaign_id=OuterRef("pk")).exclude(state=SendList.State.DONE)
    return bool(
        Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.RUNNING, planned_at__isnull=False)
        .exclude(Exists(unfinished))
        .update(status=Campaign.Status.COMPLETED, finished_at=timezone.now())
    )

