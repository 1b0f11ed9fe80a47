"""The delivery engine: start due campaigns, plan the ledger, send lists, sweep.

Every state lives in the database (the ledger and its lists); Celery only carries ids,
and Redis may be lost at any time. The flow (shared/DESIGN.md):

    tick:  scheduled -> running (row lock, SKIP LOCKED), then enqueue due lists
    plan:  segment -> Delivery rows (bulk, unique per person) packed into SendLists
    send:  per list, chunk by chunk: claim rows (caps checked under a per-person lock)
           and commit them `sending`; call the platform with the people's subscriptions
           share-locked (so an opt-out commits only after the call); commit outcomes
    sweep: `sending` rows of a dead worker -> `uncertain`; silent lists re-enqueued
"""

from __future__ import annotations

import logging
import math
import time as systime
from contextlib import nullcontext
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, Min, OuterRef, Q
from django.utils import timezone

from channels.base import (
    OutboundMessage,
    Outcome,
    RateLimited,
    RecipientGone,
    TemporaryFailure,
    Uncertain,
)
from channels.inbound import apply_early_receipts
from channels.limits import platform_limits
from channels.ratelimit import limiter_from_settings
from channels.registry import channel_for

from . import rules, selectors, services
from .models import Campaign, Delivery, FrequencyPolicy, SendList, Subscriber, Subscription

log = logging.getLogger(__name__)

S = Delivery.Status
PENDING = (S.PLANNED, S.HELD)
# Rows that count against a person's frequency cap: sent, or possibly sent.
COUNTED = (S.SENDING, S.SENT, S.DELIVERED, S.READ, S.UNCERTAIN)
# A local-time campaign reaches its earliest zone (UTC+14) up to 26 h before send_at.
LOCAL_TIME_LEAD = timedelta(hours=26)
PAGE = 5000
# WhatsApp: free text only within 24 hours of the person's last message; a template otherwise.
WHATSAPP_WINDOW = timedelta(hours=24)


@cache
def _zone(name: str) -> ZoneInfo:
    try:
        return rules.parse_timezone(name)
    except ValueError:
        return ZoneInfo("UTC")


def _policy() -> tuple[rules.FrequencyPolicy, rules.QuietHours | None]:
    policy = FrequencyPolicy.current()
    return policy.as_rule(), policy.quiet_hours()


# --- start --------------------------------------------------------------------------


def campaigns_start_due(*, now: datetime, enqueue_plan: Callable[[int], None]) -> list[int]:
    """Move due scheduled campaigns to running and plan them (after commit)."""
    with transaction.atomic():
        due = list(
            Campaign.objects.select_for_update(skip_locked=True)
            .filter(status=Campaign.Status.SCHEDULED)
            .filter(Q(send_at__lte=now) | Q(local_time=True, send_at__lte=now + LOCAL_TIME_LEAD))
            .order_by("send_at")[:20]
        )
        for campaign in due:
            campaign.status = Campaign.Status.RUNNING
            campaign.started_at = now
            campaign.save(update_fields=["status", "started_at", "updated_at"])
            transaction.on_commit(lambda pk=campaign.pk: enqueue_plan(pk))
    return [c.pk for c in due]


# --- plan ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """Who in the audience gets the campaign on which platform, or why not."""

    subscriber_id: int
    timezone: str
    subscription_id: int | None = None
    platform: str | None = None
    excluded: str = ""  # "no consent on the chosen platforms" / "WhatsApp number not saved"


NO_CONSENT = "no consent on the chosen platforms"
NOT_SAVED = "WhatsApp number not saved"


def audience_choices(campaign: Campaign) -> Iterator[Choice]:
    """The segment in keyset pages, one platform per person by preference (never whole)."""
    preference = [p for p in settings.TACT_PLATFORM_PREFERENCE if p in campaign.platforms]
    preference += [p for p in campaign.platforms if p not in preference]
    rank = {p: i for i, p in enumerate(preference)}
    audience = selectors.segment_subscribers(campaign.segment).order_by("pk")
    last = 0
    while True:
        page = list(audience.filter(pk__gt=last).values_list("pk", "timezone")[:PAGE])
        if not page:
            return
        last = page[-1][0]
        best: dict[int, tuple[int, int, str]] = {}
        unsaved: set[int] = set()
        for subscriber_id, subscription_id, platform, saved in Subscription.objects.filter(
            subscriber_id__in=[pk for pk, _ in page], platform__in=preference, status=Subscription.Status.OPTED_IN
        ).values_list("subscriber_id", "pk", "platform", "saved_our_number"):
            if platform == "whatsapp" and not saved:
                unsaved.add(subscriber_id)
                continue
            if subscriber_id not in best or rank[platform] < best[subscriber_id][0]:
                best[subscriber_id] = (rank[platform], subscription_id, platform)
        for subscriber_id, tz in page:
            if subscriber_id in best:
                _, subscription_id, platform = best[subscriber_id]
                yield Choice(subscriber_id, tz, subscription_id, platform)
            else:
                yield Choice(subscriber_id, tz, excluded=NOT_SAVED if subscriber_id in unsaved else NO_CONSENT)


def _send_time_for(campaign: Campaign, quiet: rules.QuietHours | None) -> Callable[[str], datetime]:
    campaign_tz = ZoneInfo(settings.TIME_ZONE)

    @cache
    def send_time(tz: str) -> datetime:
        return rules.local_send_time(
            campaign.send_at, _zone(tz), local_time=campaign.local_time, campaign_tz=campaign_tz, quiet=quiet
        )

    return send_time


def campaign_plan(*, campaign_id: int) -> int:
    """Write the campaign's ledger once: rows, their send times and their lists.

    One transaction: a crash leaves nothing half-planned, and a second call (a redelivered
    task) finds `planned_at` set, or waits on the advisory lock and then finds it set.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [7301, campaign_id])
        campaign = Campaign.objects.select_related("segment").get(pk=campaign_id)
        if campaign.planned_at is not None or campaign.status in (Campaign.Status.CANCELLED, Campaign.Status.DRAFT):
            return 0
        _, quiet = _policy()
        send_time = _send_time_for(campaign, quiet)
        times: list[datetime] = []
        time_index: dict[datetime, int] = {}
        # Compact columns: a million rows cost ~30 MB, not a million Python objects.
        by_platform: dict[str, tuple[array, array, array]] = defaultdict(
            lambda: (array("i"), array("q"), array("q"))
        )
        for choice in audience_choices(campaign):
            if choice.platform is None:
                continue
            at = send_time(choice.timezone)
            if at not in time_index:
                time_index[at] = len(times)
                times.append(at)
            columns = by_platform[choice.platform]
            columns[0].append(time_index[at])
            columns[1].append(choice.subscriber_id)
            columns[2].append(choice.subscription_id)
        total = _write_ledger(campaign, by_platform, times)
        campaign.planned_at = timezone.now()
        campaign.save(update_fields=["planned_at", "updated_at"])
    log.info("campaign %s planned: %s deliveries", campaign_id, total)
    return total


def _write_ledger(campaign: Campaign, by_platform: dict[str, tuple[array, array, array]], times: list[datetime]) -> int:
    now = timezone.now()
    order = [p for p in settings.TACT_PLATFORM_PREFERENCE if p in by_platform] + sorted(
        p for p in by_platform if p not in settings.TACT_PLATFORM_PREFERENCE
    )
    list_offset = 0
    rows: list[tuple] = []
    total = 0
    for platform in order:
        time_idx, subscriber_ids, subscription_ids = by_platform[platform]
        count = len(subscriber_ids)
        size = packing_size(platform)
        # People due at the same time share lists: sort by send time, then keyset order.
        positions = sorted(range(count), key=time_idx.__getitem__)
        sizes = rules.list_sizes(count, size)
        lists = SendList.objects.bulk_create(
            SendList(campaign=campaign, platform=platform, number=list_offset + i + 1, size=n)
            for i, n in enumerate(sizes)
        )
        first_due: dict[int, datetime] = {}
        for position, row in enumerate(positions):
            number = rules.list_number(position, count, size)
            at = times[time_idx[row]]
            send_list = lists[number - 1]
            first_due.setdefault(number, at)
            rows.append((campaign.pk, subscriber_ids[row], subscription_ids[row], platform, send_list.pk,
                         send_list.number, S.PLANNED, "", at, 0, "", now, now))
            if len(rows) >= 50_000:
                _insert(rows)
                total += len(rows)
                rows = []
        for number, send_list in enumerate(lists, start=1):
            send_list.next_due = first_due[number]
        SendList.objects.bulk_update(lists, ["next_due"], batch_size=2000)
        list_offset += len(sizes)
    _insert(rows)
    return total + len(rows)


def packing_size(platform: str) -> int:
    """The platform's list size; where it has none (Telegram), a send batch, so that many
    workers can share one audience."""
    return platform_limits(platform).list_size or settings.TACT_SEND_BATCH


DELIVERY_COLUMNS = ("campaign_id", "subscriber_id", "subscription_id", "platform", "send_list_id", "list_number",
                    "status", "reason", "send_after", "attempts", "platform_message_id", "created_at", "updated_at")


def _insert(rows: list[tuple]) -> None:
    if not rows:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY campaigns_delivery ({', '.join(DELIVERY_COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    Delivery.objects.bulk_create(
        [Delivery(**dict(zip(DELIVERY_COLUMNS, row, strict=True))) for row in rows], batch_size=2000
    )


# --- dispatch -----------------------------------------------------------------------


def lists_dispatch(*, now: datetime, enqueue_send: Callable[[int, str], None]) -> int:
    """Enqueue every waiting list of a running campaign whose next row is due."""
    with transaction.atomic():
        due = list(
            SendList.objects.select_for_update(skip_locked=True)
            .filter(state=SendList.State.WAITING, next_due__lte=now, campaign__status=Campaign.Status.RUNNING)
            .order_by("next_due")[:1000]
        )
        SendList.objects.filter(pk__in=[s.pk for s in due]).update(state=SendList.State.QUEUED, heartbeat_at=now)
        for send_list in due:
            transaction.on_commit(lambda pk=send_list.pk, p=send_list.platform: enqueue_send(pk, p))
    return len(due)


# --- send ---------------------------------------------------------------------------


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
    policy, quiet = _policy()
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
            tz = _zone(row.subscriber.timezone)
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


# --- sweep --------------------------------------------------------------------------


def sweep(*, now: datetime, enqueue_send: Callable[[int, str], None], enqueue_plan: Callable[[int], None]) -> dict[str, int]:
    """Repair what dead workers and a lost broker leave behind; nothing is resent silently."""
    report: dict[str, int] = {}
    sending_cutoff = now - timedelta(seconds=settings.TACT_SENDING_LEASE_SECONDS)
    report["uncertain"] = Delivery.objects.filter(status=S.SENDING, updated_at__lt=sending_cutoff).update(
        status=S.UNCERTAIN, reason="the worker stopped during the platform call; not resent", updated_at=now
    )
    # Lists whose task went silent (worker killed, broker flushed): enqueue them again.
    list_cutoff = now - timedelta(seconds=settings.TACT_LIST_LEASE_SECONDS)
    with transaction.atomic():
        silent = list(
            SendList.objects.select_for_update(skip_locked=True).filter(
                state=SendList.State.QUEUED, heartbeat_at__lt=list_cutoff, campaign__status=Campaign.Status.RUNNING
            )[:1000]
        )
        SendList.objects.filter(pk__in=[s.pk for s in silent]).update(heartbeat_at=now)
        for send_list in silent:
            transaction.on_commit(lambda pk=send_list.pk, p=send_list.platform: enqueue_send(pk, p))
    report["requeued_lists"] = len(silent)
    # Running campaigns whose plan task was lost.
    lost_plans = list(
        Campaign.objects.filter(status=Campaign.Status.RUNNING, planned_at__isnull=True, started_at__lt=list_cutoff)
        .values_list("pk", flat=True)
    )
    for pk in lost_plans:
        enqueue_plan(pk)
    report["replanned"] = len(lost_plans)
    # Past their deadline: what is still waiting is skipped.
    expired = Campaign.objects.filter(status=Campaign.Status.RUNNING, expires_at__lte=now)
    report["expired"] = Delivery.objects.filter(campaign__in=expired, status__in=PENDING).update(
        status=S.SKIPPED, reason="expired before it could be sent", updated_at=now
    )
    SendList.objects.filter(campaign__in=expired, state=SendList.State.WAITING).update(state=SendList.State.DONE)
    completed = 0
    for pk in Campaign.objects.filter(status=Campaign.Status.RUNNING, planned_at__isnull=False).values_list("pk", flat=True):
        completed += campaign_complete_if_done(campaign_id=pk)
    report["completed"] = completed
    return report


# --- forecast -----------------------------------------------------------------------


def campaign_forecast(*, campaign: Campaign, now: datetime) -> dict:
    """Before sending: who will receive it per platform, who is held back and why, how many
    lists, and how long it takes at the configured ceilings. Streams the audience."""
    policy, quiet = _policy()
    send_time = _send_time_for(campaign, quiet)
    unquiet_time = _send_time_for(campaign, None)
    receivers: dict[str, int] = defaultdict(int)
    templates_needed = 0
    held = {"cap": 0, "quiet_hours": 0, "no_consent": 0, "whatsapp_not_saved": 0}
    audience = 0
    page: list[Choice] = []

    def judge(choices: list[Choice]) -> None:
        nonlocal templates_needed
        people = [c.subscriber_id for c in choices if c.platform]
        on_whatsapp = [c.subscription_id for c in choices if c.platform == "whatsapp"]
        if on_whatsapp:
            templates_needed += Subscription.objects.filter(pk__in=on_whatsapp).exclude(
                last_inbound_at__gte=max(campaign.send_at, now) - WHATSAPP_WINDOW).count()
        past: dict[int, list[datetime]] = defaultdict(list)
        for subscriber_id, sent_at in Delivery.objects.filter(
            subscriber_id__in=people, status__in=COUNTED, sent_at__gte=now - rules.WEEK - timedelta(days=1)
        ).exclude(campaign=campaign).values_list("subscriber_id", "sent_at"):
            past[subscriber_id].append(sent_at)
        for c in choices:
            if c.platform is None:
                held["whatsapp_not_saved" if c.excluded == NOT_SAVED else "no_consent"] += 1
                continue
            receivers[c.platform] += 1
            at = max(send_time(c.timezone), now)
            if at != max(unquiet_time(c.timezone), now):
                held["quiet_hours"] += 1
            if past[c.subscriber_id] and not rules.frequency_check(past[c.subscriber_id], policy, at, _zone(c.timezone)).allowed:
                held["cap"] += 1

    for choice in audience_choices(campaign):
        audience += 1
        page.append(choice)
        if len(page) >= PAGE:
            judge(page)
            page = []
    judge(page)

    platforms = {}
    for platform in campaign.platforms:
        n = receivers.get(platform, 0)
        size = platform_limits(platform).list_size
        rate = settings.TACT_RATE.get(platform)
        platforms[platform] = {
            "receivers": n,
            "lists": rules.list_count(n, packing_size(platform)),
            "list_size": size,
            "rate_per_second": rate,
            "seconds": round(n / rate, 1) if rate else None,
            "sandbox": channel_for(platform).sandbox,
        }
        if platform == "whatsapp":
            platforms[platform]["templates_needed"] = templates_needed
    timed = [p["seconds"] for p in platforms.values() if p["seconds"] is not None]
    return {
        "audience": audience,
        "receivers": sum(receivers.values()),
        "platforms": platforms,
        "held_back": held,
        "duration_seconds": max(timed) if timed else 0,
        "notes": {
            "cap": "will be held by the frequency cap at their send time (sent later, or skipped after expiry)",
            "quiet_hours": "their send time falls in quiet hours and moves to the end of them",
            "no_consent": "no opted-in subscription on the chosen platforms: not sent",
            "whatsapp_not_saved": "only WhatsApp chosen for them, and they have not saved our number: not sent",
            "templates_needed": "WhatsApp receivers outside the 24-hour window at send time: they get the draft's "
                                "approved template, or nothing if it has none",
        },
    }
