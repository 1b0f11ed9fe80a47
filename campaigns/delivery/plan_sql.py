"""A pass of a standard campaign's ledger written by PostgreSQL: no person goes through Python.

`planning.campaign_plan` plans a standard campaign (not a manual one, no spread) here on
PostgreSQL; the other kinds (A/B tests and VIP offers deal rows to variants, a spread gives
each row its own time, the phone apps' lists have their own reachability) and SQLite go
through planning's person-by-person loop. Both write the same rows (tests/integration/
test_plan_sql.py compares them row by row):

1. The audience, each person's platform (the first of the campaign's platforms, in the
   preference order, on which they are opted in with the account the campaign sends from)
   and whether the fatigue guard holds them out, read once into a temporary table: one
   snapshot, so the lists sized from it hold exactly the rows written from it.
2. Per zone (a few hundred at most) Python decides whether the zone is in this pass (local
   time), its send time and why (rules, windows), and each zone's rank by send time (ties:
   the zone whose first person comes first).
3. The lists are made (SendList rows: sizes as even as rules.list_sizes makes them, the next
   due time of each its first row's), then one INSERT ... SELECT numbers the rows in packing
   order (platform, zone rank, person) with a window function and writes them, in that
   order, into the ledger; the people held out get their skipped rows as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef
from django.utils import timezone

from .. import fatigue, rules
from ..models import Campaign, Delivery, SendList, Subscription
from . import variants
from .common import S, packing_size

if TYPE_CHECKING:
    from .planning import SendTimes

TABLE = "tact_plan_pass"
# Writers of ledger rows share it; deleting a row they may refer to takes it alone (the ledger's
# references are checked per statement: migration 0021).
REFS_LOCK = (7331, 0)


def eligible(campaign: Campaign) -> bool:
    """Whether this campaign's pass is planned in SQL (else person by person; the setting
    TACT_PLAN_IN_SQL=False plans every campaign person by person)."""
    return (connection.vendor == "postgresql" and getattr(settings, "TACT_PLAN_IN_SQL", True)
            and campaign.kind == Campaign.Kind.STANDARD and not campaign.manual and not campaign.spread_hours)


def preference(campaign: Campaign) -> list[str]:
    """The campaign's platforms in the order a person's platform is chosen (as planning's)."""
    first = [p for p in settings.TACT_PLATFORM_PREFERENCE if p in campaign.platforms]
    return first + [p for p in campaign.platforms if p not in first]


def packing_order(platforms: list[str]) -> list[str]:
    """The order platforms' lists are numbered in (as planning's _write_ledger)."""
    return [p for p in settings.TACT_PLATFORM_PREFERENCE if p in platforms] + sorted(
        p for p in platforms if p not in settings.TACT_PLATFORM_PREFERENCE)


@dataclass(frozen=True)
class Zone:
    name: str
    at: datetime  # its people's send time
    reason: str  # why that is later than send_at ("" when it is not)
    first: int  # the smallest subscriber id among its receivers (ties between zones)


def _audience_sql(campaign: Campaign, platforms: list[str], *, unplanned_only: bool) -> tuple[str, list]:
    """SELECT subscriber_id, tz, rank (of the platform), subscription_id, unanswered, tired:
    the people with an opted-in subscription on one of the platforms (the first by preference)."""
    audience = variants.campaign_audience(campaign).order_by()
    if unplanned_only:  # a later zone's pass: whoever has no row yet
        audience = audience.exclude(Exists(Delivery.objects.filter(campaign=campaign, subscriber_id=OuterRef("pk"))))
    aud_sql, aud_params = audience.values_list("pk", "timezone", "unanswered").query.sql_with_params()
    joins, params, ids, ranks = [], [], [], []
    for i, platform in enumerate(platforms):  # a person has one subscription per platform and account
        account_id = campaign.account_id_for(platform)
        account = f"s{i}.account_id = %s" if account_id is not None else f"s{i}.account_id IS NULL"
        joins.append(f"LEFT JOIN campaigns_subscription s{i} ON s{i}.subscriber_id = aud.id "
                     f"AND s{i}.platform = %s AND s{i}.status = %s AND {account}")
        params += [platform, Subscription.Status.OPTED_IN, *([account_id] if account_id is not None else [])]
        ids.append(f"s{i}.id")
        ranks.append(f"WHEN s{i}.id IS NOT NULL THEN {i}")
    limit = fatigue.threshold()  # held out until they read, click or reply (fatigue.tired_among)
    tired, tired_params = ("aud.unanswered >= %s", [limit]) if limit is not None else ("false", [])
    sql = (f"WITH aud(id, tz, unanswered) AS ({aud_sql}) "
           f"SELECT aud.id AS subscriber_id, aud.tz, CASE {' '.join(ranks)} END AS rank, "
           f"COALESCE({', '.join(ids)}) AS subscription_id, aud.unanswered, {tired} AS tired "
           f"FROM aud {' '.join(joins)} WHERE COALESCE({', '.join(ids)}) IS NOT NULL")
    return sql, [*aud_params, *tired_params, *params]


def plan_pass(campaign: Campaign, times: SendTimes, *, after: datetime | None, horizon: datetime | None,
              now: datetime) -> int:
    """Write this pass's ledger rows and lists, and the held-out people's skipped rows; the
    number of rows planned to be sent."""
    platforms = preference(campaign)
    if not platforms:
        return 0
    sql, params = _audience_sql(campaign, platforms, unplanned_only=after is not None)
    with connection.cursor() as cursor:
        # Before the audience is read: nobody it holds can be deleted until the rows are committed.
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", list(REFS_LOCK))
        # One plan at a time per worker process: room to sort a million rows in memory.
        cursor.execute("SELECT set_config('work_mem', '256MB', true)")
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")
        cursor.execute(f"CREATE TEMPORARY TABLE {TABLE} ON COMMIT DROP AS {sql}", params)
        cursor.execute(f"ANALYZE {TABLE}")  # its size, for the joins below
        cursor.execute(f"SELECT tz, rank, count(*), min(subscriber_id) FROM {TABLE} WHERE NOT tired GROUP BY tz, rank")
        groups = cursor.fetchall()
    # The zones of this pass (local time: whose time comes after the last pass's and before
    # the horizon), their send times, and their order: by time, then by their first person.
    firsts: dict[str, int] = {}
    for tz, _, _, first in groups:
        firsts[tz] = min(first, firsts.get(tz, first))
    zones = []
    for tz, first in firsts.items():
        base = times.base(tz)
        if (after is not None and base <= after) or (horizon is not None and base > horizon):
            continue
        zones.append(Zone(tz, times.at(tz), times.reason(tz), first))
    zones.sort(key=lambda z: (z.at, z.first))
    with connection.cursor() as cursor:
        # The rows below refer to people and subscriptions read above under REFS_LOCK, to this
        # campaign (under the plan's lock) and to lists made here: the ledger's check of its
        # references (migration 0021) has nothing to look up.
        cursor.execute("SELECT set_config('tact.ledger_refs_checked', 'on', true)")
    total = _write_rows(campaign, platforms, zones, groups) if zones else 0
    _write_held_out(campaign, platforms, now)
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('tact.ledger_refs_checked', 'off', true)")
        cursor.execute(f"DROP TABLE {TABLE}")
    return total


def _write_rows(campaign: Campaign, platforms: list[str], zones: list[Zone], groups: list[tuple]) -> int:
    """The lists, then the rows in packing order (as planning's _write_ledger packs them)."""
    zone_rank = {z.name: i for i, z in enumerate(zones)}
    per_zone = [[0] * len(zones) for _ in platforms]  # people per platform and zone, zones in order
    for tz, rank, n, _ in groups:
        if tz in zone_rank:
            per_zone[rank][zone_rank[tz]] += n
    order = packing_order([p for rank, p in enumerate(platforms) if sum(per_zone[rank])])
    offset = (SendList.objects.filter(campaign=campaign).order_by("-number")
              .values_list("number", flat=True).first() or 0)
    lists: list[SendList] = []
    shape = []  # per platform: its rank, its packing order, base and extra (list sizes), its first list
    for position, platform in enumerate(order):
        rank = platforms.index(platform)
        counts = per_zone[rank]
        sizes = rules.list_sizes(sum(counts), packing_size(platform))
        base, extra = divmod(sum(counts), len(sizes))
        shape.append((rank, position, platform, base, extra, len(lists)))
        start = 0
        for n in sizes:  # a list's rows are due from its first row's time (rows come in time order)
            lists.append(SendList(campaign=campaign, platform=platform, number=offset + len(lists) + 1, size=n,
                                  account_id=campaign.account_id_for(platform),
                                  next_due=zones[_zone_of(counts, start)].at))
            start += n
    lists = SendList.objects.bulk_create(lists)
    now = timezone.now()
    shape_values = ", ".join(["(%s::int, %s::int, %s::text, %s::int, %s::int, %s::int)"] * len(shape))
    zone_values = ", ".join(["(%s::text, %s::int, %s::timestamptz, %s::text)"] * len(zones))
    params = [campaign.pk, [send_list.pk for send_list in lists], offset, S.PLANNED, now, now,
              *[v for row in shape for v in row],
              *[v for i, z in enumerate(zones) for v in (z.name, i, z.at, z.reason)]]
    with connection.cursor() as cursor:
        # Row n (0-based, in packing order) of a platform's rows goes to its list
        # rules.list_number(n, count, size): the first `extra` lists hold base + 1 rows, the rest base.
        cursor.execute(
            f"""
            INSERT INTO campaigns_delivery (campaign_id, subscriber_id, subscription_id, platform, send_list_id,
                list_number, status, reason, send_after, attempts, platform_message_id, created_at, updated_at,
                variant_id)
            SELECT %s, w.subscriber_id, w.subscription_id, w.platform, (%s::bigint[])[w.first_list + w.list + 1],
                   %s + w.first_list + w.list + 1, %s, w.reason, w.at, 0, '', %s, %s, NULL
            FROM (SELECT v.*, CASE WHEN v.n < v.extra * (v.base + 1) THEN v.n / (v.base + 1)
                                   ELSE v.extra + (v.n - v.extra * (v.base + 1)) / v.base END AS list
                  FROM (SELECT t.subscriber_id, t.subscription_id, p.platform, p.position AS platform_order,
                               p.base, p.extra, p.first_list, z.position AS zone_order, z.at, z.reason,
                               row_number() OVER (PARTITION BY p.position ORDER BY z.position, t.subscriber_id) - 1 AS n
                        FROM {TABLE} t
                        JOIN (VALUES {shape_values}) p(rank, position, platform, base, extra, first_list)
                          ON p.rank = t.rank
                        JOIN (VALUES {zone_values}) z(tz, position, at, reason) ON z.tz = t.tz
                        WHERE NOT t.tired) v) w
            """,  # no ORDER BY: the window's order is the packing order already, and ids follow it
            params,
        )
        return cursor.rowcount


def _zone_of(counts: list[int], position: int) -> int:
    """The zone (its rank) of the row at `position` when `counts` people per zone come in order."""
    for i, n in enumerate(counts):
        if position < n:
            return i
        position -= n
    raise ValueError(f"position {position} is past the last zone")


def _write_held_out(campaign: Campaign, platforms: list[str], now: datetime) -> int:
    """The people the fatigue guard holds out: a skipped row each, outside every list
    (fatigue.held_out_record), in every pass's zones (a later pass finds them planned)."""
    prefix, suffix = fatigue.REASON.split("{n}")
    values = ", ".join(["(%s::int, %s::text)"] * len(platforms))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO campaigns_delivery (campaign_id, subscriber_id, subscription_id, platform, send_list_id,
                list_number, status, reason, send_after, attempts, platform_message_id, created_at, updated_at,
                variant_id)
            SELECT %s, t.subscriber_id, t.subscription_id, p.platform, NULL, 0, %s, %s || t.unanswered || %s, %s,
                   0, '', %s, %s, NULL
            FROM {TABLE} t JOIN (VALUES {values}) p(rank, platform) ON p.rank = t.rank
            WHERE t.tired
            ORDER BY t.subscriber_id
            ON CONFLICT DO NOTHING
            """,
            [campaign.pk, S.SKIPPED, prefix, suffix, now, timezone.now(), timezone.now(),
             *[v for rank, p in enumerate(platforms) for v in (rank, p)]],
        )
        return cursor.rowcount
