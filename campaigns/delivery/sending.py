"""Send one list chunk by chunk: take a rate-limiter slot, claim (campaign state, consent,
expiry, caps), call the platform, record each outcome.

Nothing is `sending` while we wait for the limiter; the campaign's state is checked again
under a share lock held through the platform call, so nothing goes out after a pause or
cancel commits. Only failures that provably happened before the platform took a message
are retried; anything ambiguous is `uncertain`. A refusal of our account (revoked token,
no balance) fails nobody: the rows wait and the campaign says why.
"""

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

from channels.base import (
    AccountRefused,
    OutboundMessage,
    Outcome,
    RateLimited,
    RecipientGone,
    RecipientLimited,
    TemporaryFailure,
    Uncertain,
    WindowClosed,
)
from channels.ratelimit import DEFAULT_WINDOW, burst_cap, limiter_from_settings

from .. import accounts, fatigue, metrics, rules, services
from ..models import Campaign, Delivery, SendList, Subscriber, Subscription
from . import timing
from .bulk import deliveries_update
from .common import COUNTED, PENDING, WHATSAPP_WINDOW, S, current_policy, db_now, zone
from .outbound import outbound_message, same_for_everyone
from .paid import as_paid, is_paid, paid_key, paid_rate
from .receipts import apply_early_receipts, lock_message_ids
from .states import allowed
from .variants import claimable, list_content, row_contents

log = logging.getLogger(__name__)

# A burst leaves at most this long after its reserved slot; the limiter's 1.05 s window
# keeps the rest of the 50 ms slack for the network.
LATE_SEND = 0.025
# A fresh slot after a slow claim may be waited for with rows `sending` only this long
# (see short_wait); a longer wait (the platform asked us to pause) puts the rows back in line.
SHORT_WAIT = 1.0
# The rows are claimed this long at most before their slot (1.5 times the last claim's
# duration): a claim slowed by a loaded database still lets its burst leave on time.
MAX_CLAIM_LEAD = 0.5
# A list's task says it is alive (SendList.heartbeat_at, which the sweeper reads against
# TACT_LIST_LEASE_SECONDS) this often, or three times a lease if that is shorter: not once per chunk.
HEARTBEAT_SECONDS = 5.0
_claim_lead = 0.0  # this process's last (one task at a time: prefork)


def short_wait(rate: float, units: int) -> float:
    """How long rows may stay `sending` while a fresh slot comes: a second, or at a low
    ceiling two and a half bursts' spacing. At 1/s with another list on the same account
    the next free slot is about 2 s away; refusing to wait that long put the rows back and
    burnt a slot each round, so on a loaded machine (every claim later than LATE_SEND)
    nothing was ever sent."""
    window = DEFAULT_WINDOW / rate if rate < 1 else DEFAULT_WINDOW
    spacing = window * units / burst_cap(rate)
    return max(SHORT_WAIT, 2.5 * spacing)


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
    send_list = SendList.objects.select_related("campaign", "account").get(pk=list_id)
    counts: dict[str, int] = defaultdict(int)
    if send_list.state == SendList.State.DONE or send_list.campaign.manual:  # manual: sent by hand from the app
        return counts
    campaign = send_list.campaign
    platform = send_list.platform
    account = send_list.account  # None: the platform's default account (the environment's credentials)
    try:
        channel = accounts.channel(platform, account, max_in_flight=settings.TACT_MAX_IN_FLIGHT)
    except accounts.AccountUnavailable as exc:
        _wait_for_platform(list_id, campaign.pk, str(exc), settings.TACT_PLATFORM_RETRY_SECONDS)
        return counts
    rate = None if channel.sandbox else accounts.rate(platform, account)
    paid = is_paid(campaign, platform)  # Telegram's paid broadcast: its own ceiling and limiter key (paid.py)
    if paid:
        rate = None if channel.sandbox else paid_rate()
    # The ceiling counts requests; one request carries `per_request` messages (a Viber
    # broadcast: 300 people), but only when they all receive the same message.
    per_request = channel.per_request if same_for_everyone(list_content(campaign, send_list)) else 1
    size = min(chunk_size(rate) * per_request, send_list.size)
    units = math.ceil(size / per_request)
    limiter = limiter_from_settings() if rate else None
    limiter_key = accounts.limiter_key(platform, account)  # each account's ceiling, shared by all workers
    if paid:
        limiter_key = paid_key(limiter_key)
    policy, quiet = current_policy()
    session = None
    heartbeat, heartbeat_every = -math.inf, min(HEARTBEAT_SECONDS, settings.TACT_LIST_LEASE_SECONDS / 3)
    global _claim_lead
    try:
        while True:
            if systime.monotonic() - heartbeat >= heartbeat_every:
                SendList.objects.filter(pk=list_id).update(heartbeat_at=timezone.now())
                heartbeat = systime.monotonic()
            if session is None:
                # Before connecting: is the campaign running, is anything due? Once sending,
                # the claim tells (it finds the campaign not running, or no row due).
                if not Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.RUNNING).exists():
                    break
                if not Delivery.objects.filter(send_list_id=list_id, status__in=PENDING,
                                               send_after__lte=db_now()).exists():
                    break
                try:
                    session = metrics.timed_session(channel.open(), platform, accounts.label(account))
                except Exception as exc:  # the platform is down or refuses our credentials
                    _wait_for_platform(list_id, campaign.pk, f"cannot connect to {platform}: {exc!r}",
                                       settings.TACT_PLATFORM_RETRY_SECONDS)
                    return counts
            slot = _reserve(limiter, limiter_key, units, rate, lead=_claim_lead)
            claim_started = systime.monotonic()
            claimed, batch, rows = _claim(send_list, campaign, size, policy, quiet, counts)
            _claim_lead = min(MAX_CLAIM_LEAD, 1.5 * (systime.monotonic() - claim_started))
            if not claimed:
                break  # paused, cancelled, or what is due is being handled by another task
            if not batch:
                continue
            if paid:
                batch = as_paid(batch)  # sent with allow_paid_broadcast
            if limiter is not None and (early := slot - systime.monotonic()) > 0:
                systime.sleep(early)  # claimed ahead of the slot: the burst leaves on time
            if limiter is not None and systime.monotonic() - slot > LATE_SEND:
                # The claim took long: sending now could bunch with the next slot's burst.
                wait = limiter.reserve(limiter_key, math.ceil(len(batch) / per_request), rate)
                if wait > short_wait(rate, math.ceil(len(batch) / per_request)):
                    _unclaim(batch)
                    continue
                systime.sleep(max(0.0, wait))
            outcomes = _send_locked(session, campaign.pk, batch, counts)
            retry_after, refused = _record(outcomes, campaign.pk, platform, counts, account=accounts.label(account),
                                           claimed=rows)
            if retry_after and limiter is not None:
                limiter.block(limiter_key, retry_after)
            if refused is not None:
                _wait_for_platform(list_id, campaign.pk, refused.reason,
                                   refused.retry_after or settings.TACT_PLATFORM_RETRY_SECONDS)
                break
    finally:
        if session is not None:
            session.close()
        list_settle(list_id=list_id)
    return counts


def _reserve(limiter, key: str, n: int, rate: float | None, *, lead: float = 0.0) -> float:
    """Reserve a slot to send n at once and wait until `lead` seconds before it (time to
    claim the rows, so that the burst leaves on time); returns the slot's time (monotonic)."""
    if limiter is None:
        return systime.monotonic()
    reserved_at = systime.monotonic()
    wait = limiter.reserve(key, n, rate)
    metrics.limiter_waited(key, wait)
    if wait > lead:
        systime.sleep(wait - lead)
    return reserved_at + wait


def _campaign_state(campaign_id: int) -> tuple[str, datetime | None]:
    """The campaign's status and deadline, share-locked until the transaction ends (on
    PostgreSQL): a pause or cancel waits for it, and we see any that committed before."""
    if connection.vendor != "postgresql":
        return Campaign.objects.values_list("status", "expires_at").get(pk=campaign_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT status, expires_at FROM campaigns_campaign WHERE id = %s FOR SHARE", [campaign_id])
        return cursor.fetchone()


def _campaign_problem(campaign_id: int) -> tuple[str, datetime | None]:
    """The campaign's status and since when it has a problem, share-locked as in _campaign_state."""
    if connection.vendor != "postgresql":
        return Campaign.objects.values_list("status", "problem_since").get(pk=campaign_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT status, problem_since FROM campaigns_campaign WHERE id = %s FOR SHARE", [campaign_id])
        return cursor.fetchone()


def _claim(send_list: SendList, campaign: Campaign, size: int, policy: rules.FrequencyPolicy,
           quiet: rules.QuietHours | None, counts: dict[str, int],
           ) -> tuple[int, list[OutboundMessage], dict[int, Delivery]]:
    """Take up to `size` due rows, apply consent, expiry, quiet hours and the caps, and
    commit the sendable ones as `sending` (the platform call comes after this commit).
    Returns how many rows were taken, the messages to send and their rows (as committed)."""
    with transaction.atomic():
        status, expires_at = _campaign_state(campaign.pk)
        if status != Campaign.Status.RUNNING:
            return 0, [], {}
        now = db_now()
        rows = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(send_list_id=send_list.pk, status__in=PENDING, send_after__lte=now)
            .filter(claimable(campaign))  # an A/B test's row without a variant never goes
            .select_related("subscription", "subscriber", "coupon")
            .order_by("send_after", "pk")[:size]
        )
        if not rows:
            return 0, [], {}
        # The cap holds across campaigns and workers: whoever checks a person's cap
        # holds that person's row lock until its `sending` rows are committed. NO KEY:
        # a big plan inserting rows that reference these people is not blocked by it.
        people = sorted({r.subscriber_id for r in rows})
        list(Subscriber.objects.select_for_update(no_key=True).filter(pk__in=people).order_by("pk").values_list("pk"))
        # The clock read after the locks: a claim that held them meanwhile committed sends
        # dated up to now, and a cap judged at an earlier instant would not see them.
        now = db_now()
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
            elif expires_at is not None and now >= expires_at:
                row.status, row.reason = S.SKIPPED, "expired before it could be sent"
            else:
                decision = rules.frequency_check(past[row.subscriber_id], policy, now, tz)
                moved = timing.allowed_at(campaign, decision.earliest, row.subscriber.timezone, quiet)
                earliest = moved.at  # out of quiet hours and, if the campaign has one, into its send window
                if earliest == now:
                    row.status, row.reason, row.sent_at = S.SENDING, "", now
                    sendable.append(row)
                    past[row.subscriber_id].append(now)
                    continue
                reason = decision.reason or moved.reason or rules.QUIET_HOURS
                if expires_at is not None and earliest >= expires_at:
                    row.status, row.reason = S.SKIPPED, f"{reason} until {earliest:%Y-%m-%d %H:%M} UTC, after expiry"
                else:
                    row.status, row.send_after = S.HELD, earliest
                    row.reason = f"{reason} until {earliest:%Y-%m-%d %H:%M} UTC"
            counts[row.status] += 1
            changed.append(row)
        deliveries_update(sendable + changed, ["status", "reason", "sent_at", "send_after", "updated_at"])
    window_start = now - WHATSAPP_WINDOW
    content_of = row_contents(campaign)  # each row's variant's content, else the campaign's
    return len(rows), [
        outbound_message(
            content_of(r.variant_id), delivery_id=r.pk, subscription=r.subscription, subscriber=r.subscriber,
            coupon=coupon.code if (coupon := getattr(r, "coupon", None)) else "",
            window_open=r.subscription.last_inbound_at is not None and r.subscription.last_inbound_at >= window_start,
        )
        for r in sendable
    ], {r.pk: r for r in sendable}


def _unclaim(batch: list[OutboundMessage], reason: str = "") -> int:
    """Claimed rows that were not sent go back in line (not an attempt)."""
    return Delivery.objects.filter(pk__in=[m.delivery_id for m in batch], status=S.SENDING).update(
        status=S.PLANNED, sent_at=None, reason=reason, updated_at=timezone.now())


def _send_locked(session, campaign_id: int, batch: list[OutboundMessage], counts: dict[str, int]) -> list[Outcome]:
    """Call the platform while holding the campaign and the people's subscriptions
    share-locked: a pause, cancel or opt-out (which take those rows FOR UPDATE) commits
    either before we look, and nothing is sent, or after the call returned."""
    # On SQLite (the demo) a transaction is the database's only write lock: holding it
    # through the platform call would stall every other writer, so we only look.
    locking = connection.vendor == "postgresql"
    with transaction.atomic() if locking else nullcontext():
        status, expires_at = _campaign_state(campaign_id)
        if status == Campaign.Status.PAUSED:
            _unclaim(batch, "paused before sending")
            return []
        if status != Campaign.Status.RUNNING or (expires_at is not None and db_now() >= expires_at):
            why = "campaign cancelled" if status == Campaign.Status.CANCELLED else "expired before it could be sent"
            counts[S.SKIPPED] += Delivery.objects.filter(
                pk__in=[m.delivery_id for m in batch], status=S.SENDING
            ).update(status=S.SKIPPED, sent_at=None, reason=why, updated_at=timezone.now())
            return []
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
        if not to_send:
            return []
        try:
            return session.send(to_send)
        except Exception as exc:  # noqa: BLE001  we cannot know what the platform took
            log.exception("sending %s messages failed without outcomes", len(to_send))
            return [Outcome(m.delivery_id, error=Uncertain(f"the send failed without an answer: {exc!r}"))
                    for m in to_send]


def _share_locked_opted_in(delivery_ids: list[int]) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT d.id FROM campaigns_delivery d JOIN campaigns_subscription s ON s.id = d.subscription_id "
            "WHERE d.id = ANY(%s) AND s.status = 'opted_in' FOR SHARE OF s",
            [delivery_ids],
        )
        return {row[0] for row in cursor.fetchall()}


def _judge(row: Delivery, outcome: Outcome, now: datetime) -> None:
    """Set the row's new state from the platform's outcome (not yet saved)."""
    row.updated_at = now
    error = outcome.error
    if error is None:
        row.status, row.reason, row.platform_message_id = S.SENT, "", outcome.platform_message_id
        return
    row.sent_at = None  # not sent: it does not count against the person's cap
    if isinstance(error, RateLimited):
        row.status, row.send_after = S.PLANNED, now + timedelta(seconds=error.retry_after)
        row.reason = f"rate limited: {error.reason}"
    elif isinstance(error, AccountRefused):
        retry = error.retry_after or settings.TACT_PLATFORM_RETRY_SECONDS
        row.status, row.send_after = S.PLANNED, now + timedelta(seconds=retry)
        row.reason = f"waiting for the platform: {error.reason}"
    elif isinstance(error, RecipientLimited):
        retry = error.retry_after or settings.TACT_RECIPIENT_LIMIT_RETRY_HOURS * 3600
        row.status, row.send_after = S.HELD, now + timedelta(seconds=retry)
        row.reason = f"{error.reason}; sent again after {row.send_after:%Y-%m-%d %H:%M} UTC"
    elif isinstance(error, WindowClosed):
        row.status, row.send_after = S.PLANNED, now
        row.reason = f"{error.reason}; the approved template follows"
    elif isinstance(error, TemporaryFailure):
        row.attempts += 1
        if row.attempts >= settings.TACT_MAX_ATTEMPTS:
            row.status, row.reason = S.FAILED, f"gave up after {row.attempts} attempts: {error.reason}"
        else:
            row.status, row.reason = S.PLANNED, f"retrying ({row.attempts}): {error.reason}"
            row.send_after = now + timedelta(seconds=settings.TACT_RETRY_BACKOFF_SECONDS * 2 ** (row.attempts - 1))
    elif isinstance(error, Uncertain):
        row.status, row.reason, row.sent_at = S.UNCERTAIN, error.reason, now  # it may have been sent: it counts
    else:  # RecipientGone, PermanentFailure and anything else of ours
        row.status, row.reason = S.FAILED, error.reason


def _record(outcomes: list[Outcome], campaign_id: int, platform: str, counts: dict[str, int], *,
            account: str = metrics.ACCOUNT, claimed: dict[int, Delivery] | None = None,
            ) -> tuple[float, AccountRefused | None]:
    """Commit each outcome; returns the longest retry_after the platform asked of the
    whole account, and the refusal of our account if there was one. `claimed`: the rows as
    the claim committed them (`sending`; with their subscription), else they are read."""
    now = timezone.now()
    retry_after = 0.0
    refused: AccountRefused | None = None
    window_closed: set[int] = set()
    claimed = claimed or {}
    rows = {o.delivery_id: claimed[o.delivery_id] for o in outcomes if o.delivery_id in claimed}
    if len(rows) < len(outcomes):
        rows.update((d.pk, d) for d in Delivery.objects.filter(
            pk__in=[o.delivery_id for o in outcomes if o.delivery_id not in rows]).select_related("subscription"))
    for outcome in outcomes:
        _judge(rows[outcome.delivery_id], outcome, now)
        if isinstance(outcome.error, RateLimited) and not outcome.error.per_recipient:
            retry_after = max(retry_after, outcome.error.retry_after)
        if isinstance(outcome.error, AccountRefused):
            refused = outcome.error
        if isinstance(outcome.error, WindowClosed):
            window_closed.add(outcome.delivery_id)
    changed = list(rows.values())
    sent_ids = sorted({r.platform_message_id for r in changed if r.status == S.SENT})
    with transaction.atomic():
        status, problem_since = _campaign_problem(campaign_id)
        if status == Campaign.Status.CANCELLED:
            for row in changed:  # nothing of a cancelled campaign goes back in line
                if row.status in (S.PLANNED, S.HELD):
                    row.status, row.reason = S.SKIPPED, "campaign cancelled"
        lock_message_ids(platform, sent_ids)
        # Only rows still `sending` (or already judged `uncertain` by a hasty sweeper) are
        # ours to settle, and only as the transition table allows.
        current = dict(
            Delivery.objects.filter(pk__in=list(rows)).select_for_update().values_list("pk", "status")
        )
        mine = [r for r in changed if current.get(r.pk) in (S.SENDING, S.UNCERTAIN) and allowed(current[r.pk], r.status)]
        deliveries_update(
            mine, ["status", "reason", "platform_message_id", "sent_at", "send_after", "attempts", "updated_at"],
        )
        for row in mine:
            counts[row.status] += 1
        # The fatigue guard: one more campaign unanswered (a read among the early receipts resets it).
        fatigue.people_reached(r.subscriber_id for r in mine if r.status == S.SENT)
        closed = [r.subscription_id for r in mine if r.pk in window_closed]
        if closed:  # WhatsApp's word wins over our record of the window
            Subscription.objects.filter(pk__in=closed).update(last_inbound_at=now - WHATSAPP_WINDOW)
        if sent_ids:
            apply_early_receipts(platform, sent_ids)
        if refused is not None:
            Campaign.objects.filter(pk=campaign_id, problem="").update(
                problem=f"{platform.capitalize()} refuses our account since {now:%Y-%m-%d %H:%M} UTC: "
                        f"{refused.reason}; rows wait and are sent once it is fixed"[:2000],
                problem_since=now)
        elif sent_ids and problem_since is not None and status == Campaign.Status.RUNNING:
            Campaign.objects.filter(pk=campaign_id).update(problem="", problem_since=None)
    metrics.outcomes_recorded(platform, mine, account)  # committed: counted once
    mine_ids = {r.pk for r in mine}
    for outcome in outcomes:
        error = outcome.error
        if isinstance(error, RecipientGone) and outcome.delivery_id in mine_ids:
            row = rows[outcome.delivery_id]
            services.subscription_opt_out(
                subscription=row.subscription,
                status=error.status,
                consent=services.Consent(source=f"{platform}:delivery", text=error.reason,
                                         evidence={"error": error.reason},
                                         by_person=error.status in services.WITHDRAWN),
            )
    return retry_after, refused


def _wait_for_platform(list_id: int, campaign_id: int, reason: str, retry_seconds: float) -> None:
    """The platform cannot be reached or refuses our account: every waiting row of the
    list waits a while longer (nobody fails), and the campaign says why."""
    log.error("list %s: %s", list_id, reason)
    now = timezone.now()
    Delivery.objects.filter(send_list_id=list_id, status__in=PENDING).update(
        reason=f"waiting for the platform: {reason}"[:500], send_after=now + timedelta(seconds=retry_seconds),
        updated_at=now,
    )
    Campaign.objects.filter(pk=campaign_id, problem="").update(problem=reason[:2000], problem_since=now)


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
