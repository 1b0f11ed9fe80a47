"""Start due campaigns, plan their ledger (rows, send times, lists) and dispatch due lists."""

from __future__ import annotations

import logging
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from .. import rules, selectors
from ..models import Campaign, Delivery, SendList, Subscription
from .common import LOCAL_TIME_LEAD, PAGE, S, packing_size, current_policy, zone

log = logging.getLogger(__name__)

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
            campaign.send_at, zone(tz), local_time=campaign.local_time, campaign_tz=campaign_tz, quiet=quiet
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
        _, quiet = current_policy()
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

