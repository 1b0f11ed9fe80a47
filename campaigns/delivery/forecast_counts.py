"""The forecast's numbers in SQL: who receives a campaign on which platform, per time zone,
and who is held back by quiet hours or a cap, without reading the audience into Python.

A million people cost one grouped query (about a second on PostgreSQL, `make bench`, even when
every one of them was sent something in the last days), not a stream of pages (half a
minute). The audience is the segment's query (selectors.segment_subscribers); each person's
platform is the first of the campaign's platforms in the preference order on which they are
opted in, as planning's `audience_choices` picks it (one LEFT JOIN per platform: a person has
one subscription on each at most). Quiet hours and send times are per zone: computed in
Python for the zones found. A cap is judged per person against their counted deliveries of
the last 8 days (rules.frequency_check's rules: a day cap counts sends of the same local day
up to the send time, a week cap those of the 7 days before it): the same query joins, per
person, how many of those sends fall after each zone's start of day and start of week,
counted from the index of a person's sends in its order (_recent_caps).

`audience_counts_streamed` is the former page-by-page reading, kept for manual campaigns (whose
reachability lives in delivery/manual.py) and as the reference the SQL is tested against.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction

from .. import fatigue, rules, selectors
from ..models import Campaign, Delivery, Subscription
from .common import COUNTED, PAGE, WHATSAPP_WINDOW, current_policy, zone
from .planning import Choice, SendTimes, audience_choices

# Counted sends older than this cannot hold anybody (rules.frequency_check: a week and a day).
LOOKBACK = rules.WEEK + timedelta(days=1)


@dataclass
class AudienceCounts:
    audience: int = 0
    receivers: dict[str, int] = field(default_factory=dict)  # per platform
    receivers_by_zone: dict[str, int] = field(default_factory=dict)  # per time zone (the timeline's input)
    no_consent: int = 0
    quiet_hours: int = 0
    cap: int = 0
    templates_needed: int = 0  # WhatsApp receivers outside the 24-hour window at send time


def preference(campaign: Campaign) -> list[str]:
    """The campaign's platforms in the order a person's platform is chosen."""
    first = [p for p in settings.TACT_PLATFORM_PREFERENCE if p in campaign.platforms]
    return first + [p for p in campaign.platforms if p not in first]


def audience_counts(*, campaign: Campaign, now: datetime, policy: rules.FrequencyPolicy,
                    times: SendTimes) -> AudienceCounts:
    """The forecast's counts for `campaign` if it were sent at its time (`now` if that passed)."""
    if campaign.manual:
        return audience_counts_streamed(campaign=campaign, now=now, policy=policy, times=times)
    platforms = preference(campaign)
    counts = AudienceCounts(receivers=dict.fromkeys(platforms, 0))
    window_from = max(campaign.send_at, now) - WHATSAPP_WINDOW
    caps = _recent_caps(campaign, policy, times, now)
    for tz, rank, tired, n, outside, capped in _zone_rows(campaign, platforms, window_from, caps or NOBODY):
        counts.audience += n
        if rank is None:
            counts.no_consent += n
        elif not tired:
            counts.receivers[platforms[rank]] += n
            counts.receivers_by_zone[tz] = counts.receivers_by_zone.get(tz, 0) + n
            counts.templates_needed += outside or 0
            counts.cap += n if capped else 0
    for tz, n in counts.receivers_by_zone.items():
        if max(times.at(tz), now) != max(times.base(tz), now):
            counts.quiet_hours += n
    if caps is None and counts.receivers_by_zone:  # sends dated after the send time: the exact join decides
        counts.cap = _capped(campaign, platforms, policy, times, now, list(counts.receivers_by_zone))
    return counts


def templates_needed(*, campaign: Campaign, now: datetime) -> int:
    """WhatsApp receivers outside the 24-hour window at send time (one grouped query)."""
    if "whatsapp" not in campaign.platforms:
        return 0
    if campaign.manual:
        policy, quiet = current_policy()
        return audience_counts_streamed(campaign=campaign, now=now, policy=policy,
                                        times=SendTimes(campaign, quiet)).templates_needed
    platforms = preference(campaign)
    window_from = max(campaign.send_at, now) - WHATSAPP_WINDOW
    return sum(outside or 0 for _, rank, tired, _, outside, _ in _zone_rows(campaign, platforms, window_from)
               if rank is not None and not tired)


# --- SQL --------------------------------------------------------------------------------


def _audience_cte(campaign: Campaign) -> tuple[str, list]:
    """`aud(id, tz, unanswered)`: the segment's people, as the engine reads them."""
    sql, params = (selectors.segment_subscribers(campaign.segment).order_by()
                   .values_list("pk", "timezone", "unanswered").query.sql_with_params())
    return f"aud(id, tz, unanswered) AS ({sql})", list(params)


def _tired_sql(column: str) -> tuple[str, list]:
    """Whether the fatigue guard holds the person out (planning's fatigue.tired_among)."""
    limit = fatigue.threshold()
    if limit is None:
        return "(1 = 0)", []
    return f"({column} >= %s)", [limit]


def _account_sql(alias: str, campaign: Campaign, platform: str) -> tuple[str, list]:
    """The subscription is of the account the campaign sends from on that platform."""
    account_id = campaign.account_id_for(platform)
    if account_id is None:
        return f"{alias}.account_id IS NULL", []
    return f"{alias}.account_id = %s", [account_id]


def _on_platforms(alias: str, campaign: Campaign, platforms: list[str]) -> tuple[str, list]:
    """A subscription on one of the platforms, of the account the campaign picked for it."""
    parts, params = [], []
    for platform in platforms:
        account_sql, account_params = _account_sql(alias, campaign, platform)
        parts.append(f"({alias}.platform = %s AND {account_sql})")
        params += [platform, *account_params]
    return " OR ".join(parts) or "1 = 0", params


def _in_list(values: list) -> str:
    return ", ".join(["%s"] * len(values))


def _dt(moment: datetime) -> object:
    return connection.ops.adapt_datetimefield_value(moment)


def _zone_rows(campaign: Campaign, platforms: list[str], window_from: datetime,
               caps: CapJoin | None = None) -> list[tuple]:
    """(zone, platform rank or None, tired, people, WhatsApp receivers outside the window,
    held by a cap).

    One LEFT JOIN per platform (a person has at most one subscription on each) and booleans
    to group by, with no per-person GROUP BY; `caps` joins each person's recent sends
    (_recent_caps) to say whether a cap holds them, the audience then read in parts by
    subscriber id, each part by one process at once (UNION ALL: PostgreSQL's Parallel
    Append), each part's people and sends merged in id order."""
    caps = caps or NOBODY
    aud, aud_params = _audience_cte(campaign)
    joins, join_params, has = [], [], []
    for i, platform in enumerate(platforms):
        account_sql, account_params = _account_sql(f"s{i}", campaign, platform)
        joins.append(f"LEFT JOIN campaigns_subscription s{i} ON s{i}.subscriber_id = aud.id "
                     f"AND s{i}.platform = %s AND s{i}.status = %s AND {account_sql}")
        join_params.append([platform, Subscription.Status.OPTED_IN, *account_params])
        has.append(f"(s{i}.id IS NOT NULL)")
    tired, tired_params = _tired_sql("aud.unanswered")
    if "whatsapp" in platforms:
        w = f"s{platforms.index('whatsapp')}"
        outside, outside_params = f"({w}.last_inbound_at IS NULL OR {w}.last_inbound_at < %s)", [_dt(window_from)]
    else:
        outside, outside_params = "(1 = 0)", []
    columns = ["aud.tz", *has, tired, outside, caps.held]
    select = f"SELECT {', '.join(columns)}, COUNT(*) FROM aud"
    group = f"GROUP BY {', '.join(str(i + 1) for i in range(len(columns)))}"
    select_params = [*tired_params, *outside_params, *caps.held_params]  # in the order they appear
    if not caps.parts:
        sql = f"WITH {aud} {select} {' '.join(joins)} {group}"
        params = [*aud_params, *select_params, *[v for p in join_params for v in p]]
    else:
        branches, params = [], [*aud_params, *caps.zones_params]
        for low, high in caps.parts:
            ranged = " ".join(f"{join} AND s{i}.subscriber_id >= %s AND s{i}.subscriber_id < %s"
                              for i, join in enumerate(joins))
            branches.append(f"({select} {ranged} LEFT JOIN ({caps.recent} AND d.subscriber_id >= %s "
                            f"AND d.subscriber_id < %s GROUP BY d.subscriber_id) r ON r.subscriber_id = aud.id "
                            f"LEFT JOIN zones z ON z.tz = aud.tz WHERE aud.id >= %s AND aud.id < %s {group})")
            params += [*select_params, *[v for p in join_params for v in (*p, low, high)],
                       *caps.recent_params, low, high, low, high]
        names = ", ".join(f"c{i}" for i in range(len(columns)))
        not_materialized = aud.replace(" AS (", " AS NOT MATERIALIZED (", 1)  # read by each part, not stored
        sql = (f"WITH {not_materialized}{caps.zones} SELECT {names}, sum(n) FROM ({' UNION ALL '.join(branches)}) "
               f"parts({names}, n) GROUP BY {names}")
    rows = []
    for tz, *flags, tired_flag, outside_flag, held, n in _fetch(sql, params):
        rank = next((i for i, flag in enumerate(flags) if flag), None)
        n = int(n)
        rows.append((tz, rank, bool(tired_flag), n, n if rank is not None and platforms[rank] == "whatsapp"
                     and outside_flag else 0, bool(held)))
    return rows


@dataclass(frozen=True)
class CapJoin:
    """What _zone_rows adds to say whether a cap holds each person (_recent_caps)."""

    zones: str = ""  # the zones' bounds (a CTE)
    zones_params: list = field(default_factory=list)
    recent: str = ""  # per person, counts of their recent sends (a query, to which a range of ids is added)
    recent_params: list = field(default_factory=list)
    held: str = "(1 = 0)"
    held_params: list = field(default_factory=list)
    parts: tuple[tuple[int, int], ...] = ()  # the ranges of subscriber ids read at once, one per process


NOBODY = CapJoin()  # no cap, or nobody was sent anything lately
# The audience is read in this many parts at once when recent sends are joined (PostgreSQL
# runs each in a process of its own: Parallel Append). Measured at a million people all sent
# to in the last 8 days: 1.6 s in one process, 1.9-2.1 s in one query with two parallel
# workers (each of which read every recent send), 0.95 s in two parts.
PARTS = 2


def _recent_caps(campaign: Campaign, policy: rules.FrequencyPolicy, times: SendTimes,
                 now: datetime) -> CapJoin | None:
    """Whether a cap holds each person at their zone's send time, joined to the zone counts.

    Per person, from the index of their sends (latest first, read alone), how many counted
    sends of other campaigns of the last 8 days fall on or after each start of a local day
    and after each start of a 7-day window that the audience's zones have (a few); a cap
    holds the person when the count for their own zone reaches it (rules.frequency_check, as
    _capped counts it). Counting up to the earliest send time needs no send dated between the
    earliest and the latest: if there is one (a send time before now), None, and the exact
    per-zone join (_capped) counts. NOBODY when there is no cap or no recent send."""
    if connection.vendor != "postgresql":
        return None if policy.max_per_day is not None or policy.max_per_week is not None else NOBODY
    if policy.max_per_day is None and policy.max_per_week is None:
        return NOBODY
    counted = _in_list(list(COUNTED))
    recent = f"d.status IN ({counted}) AND d.sent_at >= %s AND d.campaign_id <> %s"
    recent_params = [*COUNTED, _dt(now - LOOKBACK), campaign.pk]
    if not _fetch(f"SELECT 1 FROM campaigns_delivery d WHERE {recent} LIMIT 1", recent_params):
        return NOBODY
    aud, aud_params = _audience_cte(campaign)
    zones = [tz for (tz,) in _fetch(f"WITH {aud} SELECT DISTINCT tz FROM aud", aud_params)]
    if not zones:
        return NOBODY
    bounds = _zone_bounds(times, now, zones)
    first_at, last_at = min(b[1] for b in bounds), max(b[1] for b in bounds)
    if _fetch(f"SELECT 1 FROM campaigns_delivery d WHERE {recent} AND d.sent_at > %s AND d.sent_at <= %s LIMIT 1",
              [*recent_params, _dt(first_at), _dt(last_at)]):
        return None
    day_starts = sorted({b[2] for b in bounds}) if policy.max_per_day is not None else []
    week_starts = sorted({b[3] for b in bounds}) if policy.max_per_week is not None else []
    counts, count_params = [], []
    for start in day_starts:  # sends of the local day, up to the send time
        counts.append("count(*) FILTER (WHERE d.sent_at >= %s)")
        count_params.append(_dt(start))
    for start in week_starts:  # sends of the 7 days before the send time
        counts.append("count(*) FILTER (WHERE d.sent_at > %s)")
        count_params.append(_dt(start))
    values = ", ".join(["(%s, %s, %s)"] * len(bounds))
    value_params = [v for tz, _, day_start, week_start in bounds for v in (
        tz, day_starts.index(day_start) + 1 if day_starts else 0,
        len(day_starts) + week_starts.index(week_start) + 1 if week_starts else 0)]
    first_id, last_id = _fetch("SELECT min(id), max(id) FROM campaigns_subscriber", [])[0]
    step = (last_id - first_id) // PARTS + 1
    parts = tuple((low, low + step) for low in range(first_id, last_id + 1, step))
    held, held_params = [], []
    if day_starts:
        held.append("r.n[z.day_n] >= %s")
        held_params.append(policy.max_per_day)
    if week_starts:
        held.append("r.n[z.week_n] >= %s")
        held_params.append(policy.max_per_week)
    return CapJoin(zones=f", zones(tz, day_n, week_n) AS NOT MATERIALIZED (VALUES {values})",
                   zones_params=value_params,
                   recent=f"SELECT d.subscriber_id, ARRAY[{', '.join(counts)}] AS n FROM campaigns_delivery d "
                          f"WHERE {recent} AND d.sent_at <= %s",
                   recent_params=[*count_params, *recent_params, _dt(first_at)],
                   held=f"COALESCE({' OR '.join(held)}, false)", held_params=held_params, parts=parts)


def _fetch(sql: str, params: list) -> list[tuple]:
    """Run an analytical query; on PostgreSQL without JIT (compiling costs more than it saves here)."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
        return cursor.fetchall()


def _zone_bounds(times: SendTimes, now: datetime, zones: list[str]) -> list[tuple[str, datetime, datetime, datetime]]:
    """Per zone: the send time, the first instant of its local day, and a week before it."""
    out = []
    for tz in zones:
        at = max(times.at(tz), now)
        local = zone(tz)
        day_start = datetime.combine(at.astimezone(local).date(), time(0), tzinfo=local).astimezone(UTC)
        out.append((tz, at, day_start, at - rules.WEEK))
    return out


def _capped(campaign: Campaign, platforms: list[str], policy: rules.FrequencyPolicy, times: SendTimes,
            now: datetime, zones: list[str]) -> int:
    """Receivers a cap holds at their send time, judged from counted sends of other campaigns:
    the recent sends joined to their people's zones, counted per person (hash joins, no loop
    per person); none to count when nobody was sent anything lately."""
    counted = _in_list(list(COUNTED))
    recent = f"d.status IN ({counted}) AND d.sent_at >= %s AND d.campaign_id <> %s"
    recent_params = [*COUNTED, _dt(now - LOOKBACK), campaign.pk]
    if not _fetch(f"SELECT 1 FROM campaigns_delivery d WHERE {recent} LIMIT 1", recent_params):
        return 0
    aud, aud_params = _audience_cte(campaign)
    tired, tired_params = _tired_sql("aud.unanswered")
    on_platforms, on_params = _on_platforms("s", campaign, platforms)
    bounds = _zone_bounds(times, now, zones)
    values = ", ".join(["(%s, %s, %s, %s)"] * len(bounds))
    value_params = [v for tz, at, day, week in bounds for v in (tz, _dt(at), _dt(day), _dt(week))]
    over = []
    over_params: list = []
    if policy.max_per_day is not None:  # sends of the same local day, up to the send time
        over.append("SUM(CASE WHEN d.sent_at >= z.day_start THEN 1 ELSE 0 END) >= %s")
        over_params.append(policy.max_per_day)
    if policy.max_per_week is not None:  # sends of the 7 days before the send time
        over.append("SUM(CASE WHEN d.sent_at > z.week_start THEN 1 ELSE 0 END) >= %s")
        over_params.append(policy.max_per_week)
    sql = f"""
        WITH {aud},
        zones(tz, at, day_start, week_start) AS (VALUES {values})
        SELECT COUNT(*) FROM (
            SELECT aud.id FROM aud
            JOIN zones z ON z.tz = aud.tz
            JOIN campaigns_delivery d ON d.subscriber_id = aud.id AND d.sent_at <= z.at
            WHERE {recent} AND NOT {tired}
            GROUP BY aud.id
            HAVING {" OR ".join(over)}
        ) held
        WHERE EXISTS (SELECT 1 FROM campaigns_subscription s WHERE s.subscriber_id = held.id
                      AND s.status = %s AND ({on_platforms}))
    """
    params = [*aud_params, *value_params, *recent_params, *tired_params, *over_params,
              Subscription.Status.OPTED_IN, *on_params]
    return _fetch(sql, params)[0][0]


# --- the reference: page by page --------------------------------------------------------


def _outside_window(subscription_ids: list[int], campaign: Campaign, now: datetime) -> int:
    if not subscription_ids:
        return 0
    return Subscription.objects.filter(pk__in=subscription_ids).exclude(
        last_inbound_at__gte=max(campaign.send_at, now) - WHATSAPP_WINDOW).count()


def audience_counts_streamed(*, campaign: Campaign, now: datetime, policy: rules.FrequencyPolicy,
                             times: SendTimes) -> AudienceCounts:
    """The same counts, reading the audience in pages as planning does (person by person)."""
    counts = AudienceCounts(receivers=dict.fromkeys(preference(campaign), 0))
    by_zone: dict[str, int] = defaultdict(int)
    page: list[Choice] = []

    def judge(choices: list[Choice]) -> None:
        people = [c.subscriber_id for c in choices if c.platform]
        on_whatsapp = [c.subscription_id for c in choices if c.platform == "whatsapp"]
        counts.templates_needed += _outside_window(on_whatsapp, campaign, now)
        past: dict[int, list[datetime]] = defaultdict(list)
        for subscriber_id, sent_at in Delivery.objects.filter(
            subscriber_id__in=people, status__in=COUNTED, sent_at__gte=now - LOOKBACK
        ).exclude(campaign=campaign).values_list("subscriber_id", "sent_at"):
            past[subscriber_id].append(sent_at)
        for c in choices:
            if c.platform is None:
                if c.subscription_id is None:  # one with a subscription is held out by the fatigue guard
                    counts.no_consent += 1
                continue
            counts.receivers[c.platform] = counts.receivers.get(c.platform, 0) + 1
            by_zone[c.timezone] += 1
            at = max(times.at(c.timezone), now)
            if at != max(times.base(c.timezone), now):
                counts.quiet_hours += 1
            if past[c.subscriber_id] and not rules.frequency_check(past[c.subscriber_id], policy, at,
                                                                   zone(c.timezone)).allowed:
                counts.cap += 1

    for choice in audience_choices(campaign):
        counts.audience += 1
        page.append(choice)
        if len(page) >= PAGE:
            judge(page)
            page = []
    judge(page)
    counts.receivers_by_zone = dict(by_zone)
    return counts
