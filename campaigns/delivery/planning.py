"""Start due campaigns, plan their ledger (rows, send times, lists) and dispatch due lists.

A plain campaign is planned once, at its send time. A local-time campaign is planned zone
by zone, a few minutes before each zone's wall clock reaches the send time, so its
audience is read near each person's own send time: people who join the segment or opt in
before their time get it, people who left do not.
"""

from __future__ import annotations

import logging
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from .. import accounts, fatigue, rules, selectors
from ..models import Campaign, Delivery, Segment, SendList, Subscription
from . import manual, plan_sql, timing, variants
from .common import PAGE, S, current_policy, db_now, packing_size, zone

log = logging.getLogger(__name__)

# A local-time campaign reaches its earliest zone (UTC+14) up to 26 h before send_at.
LOCAL_TIME_LEAD = timedelta(hours=26)
PLAN_LOCK = 7301  # pg_advisory_xact_lock(PLAN_LOCK, campaign id): one plan pass at a time


def plan_ahead() -> timedelta:
    return timedelta(seconds=settings.TACT_PLAN_AHEAD_SECONDS)


# --- start --------------------------------------------------------------------------


def campaigns_start_due(*, now: datetime, enqueue_plan: Callable[[int], None]) -> list[int]:
    """Move due scheduled campaigns to running and plan them (after commit); enqueue the
    next zone's pass of running local-time campaigns."""
    with transaction.atomic():
        due = list(
            Campaign.objects.select_for_update(skip_locked=True)
            .filter(status=Campaign.Status.SCHEDULED, recurrence="")  # a series never sends: its runs do
            .filter(Q(send_at__lte=now) | Q(local_time=True, send_at__lte=now + LOCAL_TIME_LEAD))
            .order_by("send_at")[:20]
        )
        for campaign in due:
            campaign.status = Campaign.Status.RUNNING
            campaign.started_at = now
            campaign.save(update_fields=["status", "started_at", "updated_at"])
        waves = list(
            Campaign.objects.select_for_update(skip_locked=True)
            .filter(status=Campaign.Status.RUNNING, planned_at__isnull=True, next_plan_at__lte=now)[:20]
        )
        # Cleared until the pass sets it again: one enqueue per wave, not one per tick.
        Campaign.objects.filter(pk__in=[c.pk for c in waves]).update(next_plan_at=None, updated_at=now)
        for campaign in [*due, *waves]:
            transaction.on_commit(lambda pk=campaign.pk: enqueue_plan(pk))
    return [c.pk for c in due]


# --- audience -----------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """Who in the audience gets the campaign on which platform, or why not."""

    subscriber_id: int
    timezone: str
    subscription_id: int | None = None
    platform: str | None = None
    excluded: str = ""  # why not: "no consent on the chosen platforms"


NO_CONSENT = "no consent on the chosen platforms"


def audience_choices(campaign: Campaign, *, unplanned_only: bool = False) -> Iterator[Choice]:
    """The segment in keyset pages, one platform per person by preference (never whole).

    WhatsApp goes one to one through the Cloud API, so whether a person saved our number
    (which only the Business app's broadcast lists need) does not matter here."""
    preference = [p for p in settings.TACT_PLATFORM_PREFERENCE if p in campaign.platforms]
    preference += [p for p in campaign.platforms if p not in preference]
    rank = {p: i for i, p in enumerate(preference)}
    audience = variants.campaign_audience(campaign).order_by("pk")  # VIP offers: the union of the groups
    if unplanned_only:
        audience = audience.exclude(Exists(Delivery.objects.filter(campaign=campaign, subscriber_id=OuterRef("pk"))))
    tired_at = fatigue.threshold()
    last = 0
    while True:
        page = list(audience.filter(pk__gt=last).values_list("pk", "timezone")[:PAGE])
        if not page:
            return
        last = page[-1][0]
        best: dict[int, tuple[int, int, str]] = {}
        found = Subscription.objects.filter(
            accounts.subscriptions_of(campaign),  # each platform's subscriptions of the account it sends from
            subscriber_id__in=[pk for pk, _ in page], platform__in=preference, status=Subscription.Status.OPTED_IN,
        ).values_list("subscriber_id", "pk", "platform")
        unreachable: dict[int, str] = {}
        if campaign.manual:  # the phone apps' lists reach fewer (saved number, a phone for Viber)
            found, unreachable = manual.reachable(found)
        for subscriber_id, subscription_id, platform in found:
            if subscriber_id not in best or rank[platform] < best[subscriber_id][0]:
                best[subscriber_id] = (rank[platform], subscription_id, platform)
        tired = fatigue.tired_among(list(best), tired_at)  # held out until they read, click or reply
        for subscriber_id, tz in page:
            if subscriber_id in tired:  # no platform: not sent; its subscription: the ledger says why
                yield Choice(subscriber_id, tz, best[subscriber_id][1], excluded=fatigue.reason(tired[subscriber_id]))
            elif subscriber_id in best:
                _, subscription_id, platform = best[subscriber_id]
                yield Choice(subscriber_id, tz, subscription_id, platform)
            else:
                yield Choice(subscriber_id, tz, excluded=unreachable.get(subscriber_id, NO_CONSENT))


# --- send times ---------------------------------------------------------------------


class SendTimes:
    """Per zone: when its people get the campaign, and why that is later than send_at."""

    def __init__(self, campaign: Campaign, quiet: rules.QuietHours | None):
        self.campaign = campaign
        self.quiet = quiet
        self.campaign_tz = ZoneInfo(campaign.timezone or settings.TIME_ZONE)  # the zone send_at is read in
        # Memoised per instance (one plan pass): a few hundred zones at most.
        self.base, self.at, self.reason = cache(self._base), cache(self._at), cache(self._reason)

    def _base(self, tz: str) -> datetime:
        """The send time before quiet hours: send_at, or its wall clock in the zone."""
        return rules.local_send_time(self.campaign.send_at, zone(tz), local_time=self.campaign.local_time,
                                     campaign_tz=self.campaign_tz, quiet=None)

    def _at(self, tz: str) -> datetime:
        return timing.allowed_at(self.campaign, self.base(tz), tz, self.quiet).at  # send window, quiet hours

    def _reason(self, tz: str) -> str:
        parts = []
        local = zone(tz)
        if self.campaign.local_time and self.base(tz) != self.campaign.send_at:
            parts.append(f"local time: {self.base(tz).astimezone(local):%H:%M} in {tz}")
        if self.at(tz) != self.base(tz):
            parts.append(timing.moved_text(timing.allowed_at(self.campaign, self.base(tz), tz, self.quiet), tz))
        return "; ".join(parts)

    def next_wave_after(self, moment: datetime) -> datetime | None:
        """The earliest zone time after `moment` over every zone on Earth (a person may
        join in a zone nobody is in yet), or None when every zone's time has come."""
        later = [t for t in _zone_times(self.campaign.send_at, self.campaign_tz.key) if t > moment]
        return min(later) if later else None


@cache
def _zone_times(send_at: datetime, campaign_tz: str) -> tuple[datetime, ...]:
    wall = send_at.astimezone(ZoneInfo(campaign_tz))
    times = set()
    for name in available_timezones():
        try:
            times.add(rules.wall_clock(wall.date(), wall.time(), ZoneInfo(name)))
        except (ValueError, OSError):
            continue
    return tuple(sorted(times))


# --- plan ---------------------------------------------------------------------------


def campaign_plan(*, campaign_id: int, now: datetime | None = None) -> int:
    """Write a pass of the campaign's ledger: rows, their send times and their lists.

    One transaction under an advisory lock: a crash leaves nothing half-planned, and a
    second call (a redelivered task) waits, then finds the pass done."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [PLAN_LOCK, campaign_id])
        campaign = Campaign.objects.select_related("segment").get(pk=campaign_id)
        if campaign.planned_at is not None or campaign.status != Campaign.Status.RUNNING:
            return 0
        now = now or db_now()
        if problem := _over_max_size(campaign.segment):
            campaign_stop_for(campaign, problem, now=now)
            return 0
        _, quiet = current_policy()
        times = SendTimes(campaign, quiet)
        after = campaign.planned_through
        horizon = now + plan_ahead() if campaign.local_time else None
        if plan_sql.eligible(campaign):  # a standard campaign on PostgreSQL: written by the database
            total = plan_sql.plan_pass(campaign, times, after=after, horizon=horizon, now=now)
        else:
            total = _plan_pass_streamed(campaign, times, after=after, horizon=horizon, now=now)
        if total:
            variants.coupons_assign(campaign, now=now)  # the campaign's pool, or each variant's
        # A cancel that committed while we read the audience has not seen these rows.
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        if campaign.status == Campaign.Status.CANCELLED:
            campaign.deliveries.filter(status__in=[S.PLANNED, S.HELD]).update(
                status=S.SKIPPED, reason="campaign cancelled", updated_at=now)
            campaign.send_lists.exclude(state=SendList.State.DONE).update(state=SendList.State.DONE)
        next_wave = times.next_wave_after(horizon) if horizon is not None else None
        if next_wave is None:
            campaign.planned_at, campaign.next_plan_at = timezone.now(), None
        else:
            campaign.next_plan_at = next_wave - plan_ahead()
        campaign.planned_through = horizon
        campaign.save(update_fields=["planned_at", "next_plan_at", "planned_through", "updated_at"])
    log.info("campaign %s planned: %s deliveries%s", campaign_id, total,
             f", next zone at {next_wave:%Y-%m-%d %H:%M} UTC" if next_wave else "")
    return total


def _plan_pass_streamed(campaign: Campaign, times: SendTimes, *, after: datetime | None, horizon: datetime | None,
                        now: datetime) -> int:
    """A pass person by person: A/B tests and VIP offers (rows dealt to variants), spread
    campaigns (a time per row), manual campaigns, SQLite. Writes the same rows as plan_sql."""
    tz_index: dict[str, int] = {}
    zones: list[str] = []
    # Compact columns: a million rows cost ~30 MB, not a million Python objects.
    by_platform: dict[str, tuple[array, array, array]] = defaultdict(
        lambda: (array("i"), array("q"), array("q"))
    )
    held_out: list[tuple[int, int, str]] = []
    for choice in audience_choices(campaign, unplanned_only=after is not None):
        if choice.platform is None:
            if choice.subscription_id is not None:  # held out (fatigue): a skipped row says why
                held_out.append((choice.subscriber_id, choice.subscription_id, choice.excluded))
            continue
        base = times.base(choice.timezone)
        if (after is not None and base <= after) or (horizon is not None and base > horizon):
            continue  # an earlier wave's zone (they joined too late), or a later one
        if choice.timezone not in tz_index:
            tz_index[choice.timezone] = len(zones)
            zones.append(choice.timezone)
        columns = by_platform[choice.platform]
        columns[0].append(tz_index[choice.timezone])
        columns[1].append(choice.subscriber_id)
        columns[2].append(choice.subscription_id)
    if campaign.kind == Campaign.Kind.STANDARD:
        total = _write_ledger(campaign, by_platform, zones, times)
    else:  # A/B test, VIP offers: each variant (an A/B test's remainder: None) in lists of its own
        total = sum(_write_ledger(campaign, part, zones, times, variant_id=variant_id)
                    for variant_id, part in variants.split_by_variant(campaign, by_platform).items())
        variants.remainder_hold(campaign, now=now)
    fatigue.held_out_record(campaign, held_out, now=now)
    return total


def _over_max_size(segment: Segment) -> str:
    if segment.max_size is None:
        return ""
    size = selectors.segment_size(segment)
    if size <= segment.max_size:
        return ""
    return (f"segment '{segment}' has {size} people, over its max_size of {segment.max_size}: "
            f"nothing sent; make the segment smaller, then resume")


def campaign_stop_for(campaign: Campaign, problem: str, *, now: datetime) -> None:
    """Pause a campaign that must not go on as it is, with the reason on the campaign."""
    Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.RUNNING).update(
        status=Campaign.Status.PAUSED, paused_at=now, problem=problem[:2000], problem_since=now)
    log.warning("campaign %s paused: %s", campaign.pk, problem)


def _write_ledger(campaign: Campaign, by_platform: dict[str, tuple[array, array, array]], zones: list[str],
                  times: SendTimes, *, variant_id: int | None = None) -> int:
    """Rows packed into lists in send-time order: a list's people are due together, and
    its next due time is its earliest row's."""
    now = timezone.now()
    order = [p for p in settings.TACT_PLATFORM_PREFERENCE if p in by_platform] + sorted(
        p for p in by_platform if p not in settings.TACT_PLATFORM_PREFERENCE
    )
    # Rank of each zone by its send time; ties keep the audience's (keyset) order.
    rank = {z: r for r, z in enumerate(sorted(range(len(zones)), key=lambda i: times.at(zones[i])))}
    list_offset = SendList.objects.filter(campaign=campaign).order_by("-number").values_list("number", flat=True).first() or 0
    rows: list[tuple] = []
    total = 0
    for platform in order:
        zone_idx, subscriber_ids, subscription_ids = by_platform[platform]
        count = len(subscriber_ids)
        size = manual.list_size(platform) if campaign.manual else packing_size(platform)
        positions = sorted(range(count), key=lambda i: rank[zone_idx[i]])
        sizes = rules.list_sizes(count, size)
        lists = SendList.objects.bulk_create(
            SendList(campaign=campaign, platform=platform, number=list_offset + i + 1, size=n, variant_id=variant_id,
                     account_id=campaign.account_id_for(platform))
            for i, n in enumerate(sizes)
        )
        next_due: dict[int, datetime] = {}
        for position, row in enumerate(positions):
            number = rules.list_number(position, count, size)
            tz = zones[zone_idx[row]]
            at, reason = timing.row_time(times, tz, position, count)  # spread, send window, quiet hours
            send_list = lists[number - 1]
            next_due[number] = min(next_due.get(number, at), at)
            rows.append((campaign.pk, subscriber_ids[row], subscription_ids[row], platform, send_list.pk,
                         send_list.number, S.PLANNED, reason, at, 0, "", now, now, variant_id))
            if len(rows) >= 50_000:
                _insert(rows)
                total += len(rows)
                rows = []
        for number, send_list in enumerate(lists, start=1):
            send_list.next_due = next_due[number]
        SendList.objects.bulk_update(lists, ["next_due"], batch_size=2000)
        list_offset += len(sizes)
    _insert(rows)
    return total + len(rows)


DELIVERY_COLUMNS = ("campaign_id", "subscriber_id", "subscription_id", "platform", "send_list_id", "list_number",
                    "status", "reason", "send_after", "attempts", "platform_message_id", "created_at", "updated_at",
                    "variant_id")


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
    """Enqueue every waiting list of a running campaign whose earliest row is due."""
    with transaction.atomic():
        due = list(
            SendList.objects.select_for_update(skip_locked=True)
            .filter(state=SendList.State.WAITING, next_due__lte=now, campaign__status=Campaign.Status.RUNNING)
            .exclude(campaign__manual=True)  # sent by the marketer from the phone app, never by a worker
            .order_by("next_due")[:1000]
        )
        SendList.objects.filter(pk__in=[s.pk for s in due]).update(state=SendList.State.QUEUED, heartbeat_at=now)
        for send_list in due:
            transaction.on_commit(lambda pk=send_list.pk, p=send_list.platform: enqueue_send(pk, p))
    return len(due)
